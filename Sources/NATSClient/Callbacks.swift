import Foundation

/// What nats.c's callbacks reach, kept alive by the client: asynchronous errors (the last 1,000; a
/// persistent connection may report one per reconnect attempt for good) and the connection-event handler.
final class Callbacks: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String] = []
    /// Set before the connection is made, read only after.
    var onEvent: (@Sendable (NATSClient.ConnectionEvent) -> Void)?

    static let keptErrors = 1000

    func append(_ text: String) {
        self.lock.lock()
        if self.entries.count == Self.keptErrors { self.entries.removeFirst() }
        self.entries.append(text)
        self.lock.unlock()
    }

    var errors: [String] {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.entries
    }

    func event(_ event: NATSClient.ConnectionEvent) {
        self.onEvent?(event)
    }
}
