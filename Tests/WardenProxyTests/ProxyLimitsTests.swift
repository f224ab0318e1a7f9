import NIOCore
import Testing

@testable import WardenProxy

/// nats-server's limits as Warden's state machines apply them, without a network.
struct ProxyLimitsTests {
    @Test func aSUBPastMaxSubscriptionsGetsNATSServersTextAndTheConnectionStaysOpen() throws {
        var states = ProxyStateMachineTests()
        states.machine = ProxyStateMachine(
            service: "orders", policy: ProxyStateMachineTests.policy.policy(for: "orders"), conn: 7,
            peer: "127.0.0.1:5000", maxSubscriptions: 2)
        try states.client("CONNECT {\"verbose\":false}\r\n")
        states.machine.upstreamBecameReady(into: &states.out)
        try states.client("SUB orders.a 1\r\nSUB orders.b 2\r\nSUB orders.a 1\r\nSUB orders.c 3\r\nPING\r\n")
        // The third sid is refused; a SUB repeating a live sid is not a new subscription.
        #expect(states.toClient == "-ERR 'maximum subscriptions exceeded'\r\n")
        #expect(!states.toUpstream.contains("SUB orders.c"))
        #expect(states.toUpstream.contains("PING\r\n"))
        #expect(states.out.close == nil)
        #expect(states.out.records.last?.reason == "maximum subscriptions exceeded")
        // Once one ends, there is room again.
        try states.client("UNSUB 1\r\nSUB orders.c 3\r\n")
        #expect(states.toUpstream.hasSuffix("SUB orders.c 3\r\n"))
    }

    @Test func aVerifiedClientPastMaxConnectionsIsRefusedWithNATSServersText() {
        var machine = AdmissionStateMachine()
        _ = machine.firstBytes(startsHandshake: true)
        machine.certificateChecked(.success(AdmissionStateMachineTests.orders))
        #expect(
            machine.handshakeCompleted(atCapacity: true)
                == .refuse(reason: "maximum connections exceeded", wireText: "maximum connections exceeded"))
    }
}
