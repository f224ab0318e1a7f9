import Foundation
import NIOConcurrencyHelpers
import NIOCore
import WardenPolicy

/// The client connections that passed admission, so that revocation, ACL reloads and shutdown can
/// reach them, and the ACLs they are decided by.
///
/// Both are kept under one lock, so that an ACL reload reaches every connection: one admitted
/// before the new ACLs came in is among those the reload returns, and one admitted after sees them
/// when it registers.
final class ConnectionRegistry: Sendable {
    struct Entry: Sendable {
        var service: String?
        var serial: String
        /// When the credential the connection was admitted with expires.
        var notAfter: Date
        var channel: any Channel
        var session: NIOLoopBound<ProxySession>
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var policy: PolicySnapshot
    }

    private let state: NIOLockedValueBox<State>

    init(policy: PolicySnapshot) {
        self.state = NIOLockedValueBox(State(policy: policy))
    }

    /// The ACLs new connections are decided by.
    var policy: PolicySnapshot { self.state.withLockedValue { $0.policy } }

    /// Registers an admitted connection; returns the ACLs as they are now, which the connection must
    /// use if they are not the ones it was set up with.
    func add(_ conn: UInt64, _ entry: Entry) -> PolicySnapshot {
        self.state.withLockedValue { state in
            state.entries[conn] = entry
            return state.policy
        }
    }

    func remove(_ conn: UInt64) {
        self.state.withLockedValue { $0.entries[conn] = nil }
    }

    /// Makes `policy` the ACLs; returns the connections registered so far, which must be told.
    func replacePolicy(_ policy: PolicySnapshot) -> [Entry] {
        self.state.withLockedValue { state in
            state.policy = policy
            return Array(state.entries.values)
        }
    }

    var count: Int { self.state.withLockedValue { $0.entries.count } }

    /// The connections registered now.
    var all: [Entry] { self.state.withLockedValue { Array($0.entries.values) } }

    /// Open connections by service.
    func countByService() -> [String: Int] {
        self.state.withLockedValue { state in
            state.entries.values.reduce(into: [:]) { counts, entry in counts[entry.service ?? "", default: 0] += 1 }
        }
    }

    /// Takes out the connections for which `select` gives a reason, and returns them with it; what
    /// happens to them then is the caller's.
    func remove<Reason>(where select: (Entry) -> Reason?) -> [(entry: Entry, reason: Reason)] {
        self.state.withLockedValue { state in
            var removed: [(entry: Entry, reason: Reason)] = []
            for (conn, entry) in state.entries {
                guard let reason = select(entry) else { continue }
                state.entries[conn] = nil
                removed.append((entry, reason))
            }
            return removed
        }
    }

    /// Closes every connection; returns the entries closed.
    func closeAll() -> [Entry] {
        let open = self.remove { _ in () }.map(\.entry)
        for entry in open { entry.channel.close(promise: nil) }
        return open
    }
}
