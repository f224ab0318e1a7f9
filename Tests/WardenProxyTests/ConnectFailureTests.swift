import NIOCore
import NIOPosix
import Testing
import WardenTestSupport

@testable import WardenProxy

/// What Warden's log says when nats-server cannot be reached.
struct ConnectFailureTests {
    @Test func aRefusedConnectionReadsAsOne() async throws {
        let port = try Loopback.freePort()
        let error = await #expect(throws: (any Error).self) {
            _ = try await ClientBootstrap(group: ProxyHarness.group).connect(host: "127.0.0.1", port: port).get()
        }
        #expect(ConnectFailure.describe(try #require(error)) == "connection refused by 127.0.0.1:\(port)")
    }

    @Test func aTimeoutSaysHowLong() {
        #expect(ConnectFailure.describe(ChannelError.connectTimeout(.seconds(5))) == "no answer within 5 s")
    }
}
