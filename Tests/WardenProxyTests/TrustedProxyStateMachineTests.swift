import NIOCore
import Testing

@testable import WardenProxy

/// Warden as nats-server's trusted proxy: the upstream CONNECT carries `proxy_sig`, made from the nonce of
/// the upstream connection's own INFO, whichever of the client's CONNECT and nats-server's INFO comes first.
struct TrustedProxyStateMachineTests {
    var states = ProxyStateMachineTests()

    var upstreamLines: [Substring] { self.states.toUpstream.split(separator: "\r\n") }

    @Test mutating func aCONNECTBeforeTheUpstreamIsReadyIsSignedWhenItIsAndStillGoesFirst() throws {
        try self.states.client("CONNECT {\"verbose\":false}\r\nSUB orders.a 1\r\nPUB orders.a 1\r\nx\r\n")
        #expect(self.states.out.upstream.isEmpty)
        self.states.machine.upstreamBecameReady(proxySignature: "c2lnbmVk", into: &self.states.out)
        let lines = self.upstreamLines
        #expect(lines.first?.hasPrefix("CONNECT {") == true)
        #expect(lines.first?.contains(#""proxy_sig":"c2lnbmVk""#) == true)
        #expect(Array(lines.dropFirst()) == ["SUB orders.a 1", "PUB orders.a 1", "x"])
    }

    @Test mutating func aCONNECTAfterTheUpstreamIsReadyIsSignedAtOnce() throws {
        self.states.machine.upstreamBecameReady(proxySignature: "c2lnbmVk", into: &self.states.out)
        #expect(self.states.out.upstream.isEmpty)
        try self.states.client("CONNECT {\"verbose\":false}\r\n")
        #expect(self.upstreamLines.count == 1)
        #expect(self.upstreamLines.first?.contains(#""proxy_sig":"c2lnbmVk""#) == true)
    }

    @Test mutating func withoutATrustedProxyKeyTheCONNECTCarriesNoSignature() throws {
        try self.states.client("CONNECT {\"verbose\":false,\"proxy_sig\":\"forged\"}\r\n")
        self.states.machine.upstreamBecameReady(into: &self.states.out)
        #expect(self.upstreamLines.count == 1)
        #expect(self.upstreamLines.first?.contains("proxy_sig") == false)
    }
}
