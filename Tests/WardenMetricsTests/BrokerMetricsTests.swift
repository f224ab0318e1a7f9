import Testing
import WardenPolicy

@testable import WardenAudit
@testable import WardenMetrics

/// Counting without a network: which series a record lands in.
struct BrokerMetricsTests {
    static func record(
        _ service: String?, _ op: DecisionRecord.Op, _ decision: PolicyDecision.Verdict, _ mode: PolicyMode
    )
        -> DecisionRecord
    {
        DecisionRecord(
            decision: decision, op: op, service: service, conn: 1, peer: "127.0.0.1:1", mode: mode, rule: "r")
    }

    static func text(_ metrics: BrokerMetrics) -> String {
        String(decoding: metrics.exposition(openConnections: [:], logWritten: 0, logBacklog: 0), as: UTF8.self)
    }

    @Test func aRecordInAnotherModeThanItsServiceIsCountedInItsOwnSeries() {
        let metrics = BrokerMetrics()
        let counters = metrics.decisionCounters(service: "observer", mode: .audit)
        // An audit-mode service's publish before CONNECT is refused in enforce mode.
        counters.count([
            Self.record("observer", .pub, .deny, .enforce), Self.record("observer", .pub, .deny, .audit),
            Self.record("observer", .pub, .deny, .audit),
        ])
        let text = Self.text(metrics)
        #expect(text.contains(#"warden_decisions_total{service="observer",op="pub",decision="deny",mode="enforce"} 1"#))
        #expect(text.contains(#"warden_decisions_total{service="observer",op="pub",decision="deny",mode="audit"} 2"#))
        #expect(
            text.contains(#"warden_decisions_total{service="observer",op="deliver",decision="allow",mode="audit"} 0"#))
    }

    @Test func connectionSeriesStayAtZeroOnceTheirServiceHasNoConnection() {
        let metrics = BrokerMetrics()
        _ = metrics.exposition(openConnections: ["orders": 2], logWritten: 10, logBacklog: 5)
        let text = String(
            decoding: metrics.exposition(openConnections: [:], logWritten: 30, logBacklog: 0), as: UTF8.self)
        #expect(text.contains(#"warden_connections{service="orders"} 0"#))
        #expect(text.contains("warden_decision_log_written_bytes_total 30\n"))
        #expect(text.contains("warden_decision_log_backlog_bytes 0"))
    }
}
