import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// The client connections that passed admission, so that revocation and shutdown can reach them.
final class ConnectionRegistry: Sendable {
    struct Entry: Sendable {
        var service: String?
        var serial: String
        /// When the credential the connection was admitted with expires.
        var notAfter: Date
        var channel: any Channel
    }

    private let entries = NIOLockedValueBox<[UInt64: Entry]>([:])

    func add(_ conn: UInt64, _ entry: Entry) {
        self.entries.withLockedValue { $0[conn] = entry }
    }

    func remove(_ conn: UInt64) {
        self.entries.withLockedValue { $0[conn] = nil }
    }

    var count: Int { self.entries.withLockedValue { $0.count } }

    /// Open connections by service.
    func countByService() -> [String: Int] {
        self.entries.withLockedValue { entries in
            entries.values.reduce(into: [:]) { counts, entry in counts[entry.service ?? "", default: 0] += 1 }
        }
    }

    /// Closes the connections whose entry fails `isLive`; returns the ids and entries closed.
    func closeAll(where shouldClose: (Entry) -> Bool) -> [(UInt64, Entry)] {
        let victims = self.entries.withLockedValue { entries in
            let victims = entries.filter { shouldClose($0.value) }
            for (conn, _) in victims { entries[conn] = nil }
            return victims.map { ($0.key, $0.value) }
        }
        for (_, entry) in victims { entry.channel.close(promise: nil) }
        return victims
    }
}
