import Foundation
public import NATSClient

/// Counts a persistent nats.c client's connection events (`NATSClient.Options.onConnectionEvent`).
public final class ConnectionEvents: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: Int] = [:]

    public init() {}

    public func record(_ event: NATSClient.ConnectionEvent) {
        self.lock.withLock { self.counts["\(event)", default: 0] += 1 }
    }

    /// How often `event` (`disconnected`, `reconnected`, ...) happened so far.
    public func count(_ event: String) -> Int { self.lock.withLock { self.counts[event] ?? 0 } }
}
