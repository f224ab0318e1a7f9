import WardenAudit

extension ProxyStateMachine {
    /// The client did not read what Warden had for it within the write deadline. As nats-server closes a
    /// slow consumer (`Slow Consumer Detected: WriteDeadline ... exceeded`), the connection is closed
    /// without an `-ERR`, which a client that is not reading would never see; its other side stops waiting
    /// on it. The close is a decision of its own: a `connect` deny with the reason, under the
    /// connection's `conn`.
    mutating func slowConsumer(reason: String, into out: inout ProxyOutput) {
        guard self.phase != .closed else { return }
        out.records.append(
            DecisionRecord(
                decision: .deny, op: .connect, service: self.service, conn: self.conn, peer: self.peer,
                mode: .enforce, rule: "write_deadline", reason: reason))
        out.close = reason
        self.closed()
    }
}
