import Prometheus
package import WardenAudit
import WardenPolicy

/// One service's decision counters in one mode, by op and decision: a record is counted with one
/// relaxed atomic add, on the event loop that encoded it.
package final class DecisionCounters: Sendable {
    struct Key: Hashable {
        var service: String
        var mode: PolicyMode
    }

    private let key: Key
    private let registry: PrometheusCollectorRegistry
    /// Indexed by `slot(op:decision:)`.
    private let counters: [Counter]

    init(key: Key, registry: PrometheusCollectorRegistry) {
        self.key = key
        self.registry = registry
        var counters: [Counter] = []
        for op in Self.ops {
            for decision in [PolicyDecision.Verdict.allow, .deny] {
                counters.append(Self.counter(registry, key, op, decision))
            }
        }
        self.counters = counters
    }

    private static let ops: [DecisionRecord.Op] = [.connect, .pub, .sub, .deliver]

    private static func slot(_ op: DecisionRecord.Op, _ decision: PolicyDecision.Verdict) -> Int {
        let row =
            switch op {
            case .connect: 0
            case .pub: 1
            case .sub: 2
            case .deliver: 3
            }
        return row * 2 + (decision == .allow ? 0 : 1)
    }

    private static func counter(
        _ registry: PrometheusCollectorRegistry, _ key: Key, _ op: DecisionRecord.Op, _ decision: PolicyDecision.Verdict
    ) -> Counter {
        registry.makeCounter(
            descriptor: BrokerMetrics.decisions,
            labels: [
                ("service", key.service), ("op", op.rawValue), ("decision", decision.rawValue),
                ("mode", key.mode.rawValue),
            ])
    }

    /// Counts a record of this service.
    package func count(_ record: DecisionRecord) {
        assert((record.service ?? "") == self.key.service, "a record counted under another service")
        self.count(record.op, record.decision, record.mode)
    }

    /// Counts records of this service.
    package func count(_ records: [DecisionRecord]) {
        // Field by field: a copy of a whole record would retain and release each of its strings.
        for index in records.indices {
            self.count(records[index].op, records[index].decision, records[index].mode)
        }
    }

    private func count(_ op: DecisionRecord.Op, _ decision: PolicyDecision.Verdict, _ mode: PolicyMode) {
        if mode == self.key.mode {
            self.counters[Self.slot(op, decision)].increment()
        } else {
            // A record in another mode than its service's (a publish before CONNECT is decided in
            // enforce mode): rare, so looked up.
            Self.counter(self.registry, Key(service: self.key.service, mode: mode), op, decision).increment()
        }
    }
}
