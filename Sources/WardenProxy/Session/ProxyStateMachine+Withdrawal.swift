import NIOCore
import WardenAudit

extension ProxyStateMachine {
    /// Why a live connection's credential may no longer be used, as `CredentialVerifier` says it.
    struct Withdrawal: Equatable {
        /// The verifier's code and reason: `revoked: certificate serial … was revoked`.
        var reason: String
        var expired: Bool
        var identity: String?
        var serial: String
    }

    /// The credential the connection was admitted with was revoked, expired, or left the inventory. As
    /// nats-server does for a user whose authentication is withdrawn, the client gets
    /// `-ERR 'User Authentication Revoked'` (or `Expired`), which NATS clients report as an authentication
    /// error, and the connection closes. The withdrawal is a decision of its own: a `connect` deny with
    /// its reason, identity and serial, under the connection's `conn`.
    mutating func credentialWithdrawn(_ withdrawal: Withdrawal, into out: inout ProxyOutput) {
        guard self.phase != .closed else { return }
        out.records.append(
            DecisionRecord(
                decision: .deny, op: .connect, service: self.service, conn: self.conn, peer: self.peer,
                mode: .enforce, rule: "mtls", reason: withdrawal.reason, identity: withdrawal.identity,
                serial: withdrawal.serial))
        out.client.append(
            Self.error(withdrawal.expired ? "User Authentication Expired" : "User Authentication Revoked"))
        out.close = "credential withdrawn: \(withdrawal.reason)"
        self.closed()
    }
}
