import NATSProtocol
import NIOCore
import Testing
import WardenAudit

@testable import WardenProxy

/// A live connection whose credential is withdrawn, decided by the state machine without a channel.
struct CredentialWithdrawalTests {
    @Test func theClientIsToldAsNATSServerTellsItRecordedAndClosed() throws {
        var machine = ProxyStateMachine(
            service: "orders", policy: ContainmentStateMachineTests.policy.policy(for: "orders"), conn: 5, peer: "p")
        var out = ProxyOutput()
        for frame in try ProxyStateMachineTests.frames(NATSClientParser(), "CONNECT {\"verbose\":false}\r\n") {
            machine.clientSent(frame, now: 0, into: &out)
        }
        out.reset()
        let withdrawal = ProxyStateMachine.Withdrawal(
            reason: "revoked: certificate serial 01 was revoked", expired: false,
            identity: "spiffe://t/service/orders", serial: "01")
        machine.credentialWithdrawn(withdrawal, into: &out)
        #expect(out.client.buffers.map { String(buffer: $0) } == ["-ERR 'User Authentication Revoked'\r\n"])
        #expect(out.close == "credential withdrawn: revoked: certificate serial 01 was revoked")
        let record = try #require(out.records.first)
        #expect(record.op == .connect && record.decision == .deny && record.conn == 5 && record.serial == "01")
        #expect(record.reason == withdrawal.reason && record.identity == "spiffe://t/service/orders")
        // Once closed, nothing more: a second withdrawal (a revocation racing an expiry) adds nothing.
        out.reset()
        machine.credentialWithdrawn(withdrawal, into: &out)
        #expect(out.records.isEmpty && out.client.isEmpty && out.close == nil)
    }

    @Test func anExpiredCredentialSaysSo() {
        var machine = ProxyStateMachine(service: "orders", policy: nil, conn: 6, peer: "p")
        var out = ProxyOutput()
        machine.credentialWithdrawn(
            .init(reason: "expired: x", expired: true, identity: nil, serial: "02"), into: &out)
        #expect(out.client.buffers.map { String(buffer: $0) } == ["-ERR 'User Authentication Expired'\r\n"])
    }
}
