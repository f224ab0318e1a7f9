import Foundation

/// A counter shared between threads.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add(_ amount: Int) {
        self.lock.lock()
        self.count += amount
        self.lock.unlock()
    }
    var value: Int {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.count
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
