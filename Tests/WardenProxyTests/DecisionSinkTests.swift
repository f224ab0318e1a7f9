import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing
import WardenAudit
import WardenMetrics
import WardenTestSupport

@testable import WardenProxy

/// The one place records go: its answer to a hand-over is never dropped.
struct DecisionSinkTests {
    @Test func aLogBehindOnRecordsMadeOutsideASessionPausesAcceptingUntilItCatchesUp() async throws {
        // A file that refuses every write: the log stays behind for as long as it runs.
        let log = try DecisionLog(
            path: "/dev/full", highWater: 1, lowWater: 1, shutdownTimeout: .seconds(1), logger: Logger(label: "test"))
        let group = ServiceGroup(services: [log], logger: Logger(label: "test"))
        let stopped = NIOLockedValueBox(false)
        Task {
            try? await group.run()
            stopped.withLockedValue { $0 = true }
        }
        // The writer takes a first batch and retries it every second; what comes next waits behind it.
        _ = log.submit(Array("{}\n".utf8))
        try await Task.sleep(for: .milliseconds(50))
        let sink = DecisionSink(log: log, metrics: BrokerMetrics(), audit: nil)
        let listener = try await ServerBootstrap(group: ProxyHarness.group).bind(host: "127.0.0.1", port: 0).get()
        sink.attach(listener: listener)
        #expect(try await listener.getOption(ChannelOptions.autoRead).get() == true)
        let refusal = DecisionRecord(
            decision: .deny, op: .connect, service: nil, conn: 1, peer: "127.0.0.1:1", mode: .enforce, rule: "mtls",
            reason: "plaintext connection: TLS is required")
        sink.takeAlone(refusal)
        #expect(
            await eventually(timeout: .seconds(2)) {
                (try? await listener.getOption(ChannelOptions.autoRead).get()) == false
            })
        try await listener.close()
        await group.triggerGracefulShutdown()
        #expect(await eventually(timeout: .seconds(15)) { stopped.withLockedValue { $0 } })
        #expect(log.lostBytes > 0)
    }
}
