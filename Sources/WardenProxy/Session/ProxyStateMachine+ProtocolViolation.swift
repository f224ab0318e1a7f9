import NATSProtocol
import WardenAudit

extension ProxyStateMachine {
    /// The client broke the NATS protocol (`NATSProtocolError`). As nats-server does, it gets the
    /// error's `-ERR` when nats-server sends one (`wireText`: `Unknown Protocol Operation`,
    /// `Maximum Payload Violation`, ...) and the connection closes; for arguments nats-server cannot use
    /// it closes without a word. The close is a decision of its own: a `connect` deny with rule
    /// `protocol` and what was wrong, under the connection's `conn`, so that a client probing Warden's
    /// parser leaves a trail in the log.
    mutating func protocolViolation(_ error: NATSProtocolError, into out: inout ProxyOutput) {
        guard self.phase != .closed else { return }
        out.records.append(
            DecisionRecord(
                decision: .deny, op: .connect, service: self.service, conn: self.conn, peer: self.peer,
                mode: .enforce, rule: "protocol", reason: error.description))
        if let text = error.wireText { out.client.append(Self.error(text)) }
        out.close = "protocol violation: \(error)"
        self.closed()
    }
}
