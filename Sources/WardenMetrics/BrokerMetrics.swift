package import Foundation
import NIOConcurrencyHelpers
import Prometheus
package import WardenAudit
package import WardenPolicy

/// What a running Warden counts, for Prometheus (`warden serve --metrics HOST:PORT`).
///
/// Labels are bounded by what the operator controls: services are names from Warden's own CA, and
/// `op`, `decision` and `mode` are closed sets. Subjects, peers and reasons never become labels;
/// they are in the decision log.
package final class BrokerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    /// Each service's decision counters in one mode, made on its first connection.
    private let decisionCounters = NIOLockedValueBox<[DecisionCounters.Key: DecisionCounters]>([:])
    private let upstreamFailures: Counter
    private let credentialCloses: Counter
    private let slowConsumers: Counter
    private let logWritten: Counter
    private let logBacklog: Gauge
    private let reloadsSucceeded: Counter
    private let reloadsFailed: Counter
    private let lastReloadSucceeded: Gauge
    private let listenerNotAfter: Gauge
    private let upstreamNotAfter: Gauge
    // The audit events' metrics are registered by the first exposition that has audit counts, so a
    // Warden run with --no-audit-events shows none (the registry returns the same metric after that).
    private var auditPublished: Counter {
        self.registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "warden", subsystem: "audit", metricName: "events_published", unitName: "total",
                helpText: "Denials published as audit events on NATS (warden.audit.deny.OP.SERVICE)."))
    }
    private var auditConnected: Gauge {
        self.registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "warden", subsystem: "audit", metricName: "connected", unitName: "",
                helpText: "1 while Warden's NATS connection for audit events is up, 0 while it is (re)connecting."))
    }
    private var auditDropped: Counter {
        self.registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "warden", subsystem: "audit", metricName: "events_dropped", unitName: "total",
                helpText:
                    "Audit events not published: the queue was full or NATS unreachable for too long. The decision log has them."
            ))
    }
    private var auditSuppressed: Counter {
        self.registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "warden", subsystem: "audit", metricName: "events_suppressed", unitName: "total",
                helpText:
                    "Denials not published as audit events because their service was over its audit budget. The decision log has them."
            ))
    }
    /// What the last exposition read, so the next one adds only what happened since.
    private let sampled = NIOLockedValueBox(Sampled())
    /// When the fleet state in force was pushed, for its age at each exposition; nil without `--fleet`.
    let fleetCreated = NIOLockedValueBox<Date?>(nil)

    private struct Sampled {
        var logWritten = 0
        var connections: [String: Gauge] = [:]
        var auditPublished = 0
        var auditDropped = 0
        var auditSuppressed = 0
    }

    // Descriptors of the labelled families, which are added to as services appear. Computed: the
    // type is not Sendable.
    static var decisions: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "warden", metricName: "decisions", unitName: "total",
            helpText: "Decisions taken, one per decision record, by service, op, decision and mode.")
    }
    static var connections: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "warden", metricName: "connections", unitName: "",
            helpText: "Client connections admitted and still open, by service.")
    }

    package init() {
        self.upstreamFailures = self.registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "warden", subsystem: "upstream", metricName: "failures", unitName: "total",
                helpText:
                    "Client connections closed because their connection to nats-server could not be made, failed, closed or broke the protocol."
            ))
        self.credentialCloses = self.registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "warden", metricName: "credential_closes", unitName: "total",
                helpText: "Live client connections closed because their credential was revoked or expired."))
        self.slowConsumers = self.registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "warden", metricName: "slow_consumers", unitName: "total",
                helpText:
                    "Client connections closed because they did not read what Warden had for them within the write deadline."
            ))
        self.logWritten = self.registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "warden", subsystem: "decision_log", metricName: "written", unitName: "bytes_total",
                helpText: "Bytes of decision records written to the decision log file."))
        self.logBacklog = self.registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "warden", subsystem: "decision_log", metricName: "backlog", unitName: "bytes",
                helpText: "Bytes of decision records waiting to be written; clients are slowed down when it is high."))
        let reloads = MetricNameDescriptor(
            namespace: "warden", subsystem: "acl", metricName: "reloads", unitName: "total",
            helpText: "ACL reloads (SIGHUP), by result: a failed one keeps the ACLs in force.")
        self.reloadsSucceeded = self.registry.makeCounter(descriptor: reloads, labels: [("result", "success")])
        self.reloadsFailed = self.registry.makeCounter(descriptor: reloads, labels: [("result", "failure")])
        self.lastReloadSucceeded = self.registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "warden", subsystem: "acl", metricName: "last_reload_successful", unitName: "",
                helpText: "0 when the last ACL reload failed (the ACLs in force are older than the files), 1 otherwise."
            ))
        self.lastReloadSucceeded.set(Int64(1))
        let notAfter = MetricNameDescriptor(
            namespace: "warden", subsystem: "certificate", metricName: "not_after", unitName: "timestamp_seconds",
            helpText:
                "When Warden's own certificate in use expires (Unix time), by certificate: renew with `warden renew`.")
        self.listenerNotAfter = self.registry.makeGauge(descriptor: notAfter, labels: [("certificate", "listener")])
        self.upstreamNotAfter = self.registry.makeGauge(descriptor: notAfter, labels: [("certificate", "upstream")])
    }

    /// A client connection closed because its connection to nats-server failed or closed.
    package func countUpstreamFailure() {
        self.upstreamFailures.increment()
    }

    /// A live client connection closed because its credential was revoked or expired.
    package func countCredentialClose() {
        self.credentialCloses.increment()
    }

    /// A client connection closed as a slow consumer (`--write-deadline`).
    package func countSlowConsumer() {
        self.slowConsumers.increment()
    }

    /// The ends of validity of Warden's own certificates now in use.
    package func certificatesInUse(listenerNotAfter: Date, upstreamNotAfter: Date) {
        self.listenerNotAfter.set(Int64(listenerNotAfter.timeIntervalSince1970))
        self.upstreamNotAfter.set(Int64(upstreamNotAfter.timeIntervalSince1970))
    }

    package func countReload(succeeded: Bool) {
        (succeeded ? self.reloadsSucceeded : self.reloadsFailed).increment()
        self.lastReloadSucceeded.set(Int64(succeeded ? 1 : 0))
    }

    /// The counters a session of `service` uses for its records; `mode` is the service's.
    package func decisionCounters(service: String?, mode: PolicyMode) -> DecisionCounters {
        let key = DecisionCounters.Key(service: service ?? "", mode: mode)
        return self.decisionCounters.withLockedValue { counters in
            if let existing = counters[key] { return existing }
            let made = DecisionCounters(key: key, registry: self.registry)
            counters[key] = made
            return made
        }
    }

    /// Every service in `policy` gets its decision series now, at zero, so that a rate or an increase
    /// over them is right from its first decision.
    package func addDecisionSeries(of policy: PolicySnapshot) {
        for (service, servicePolicy) in policy.services {
            _ = self.decisionCounters(service: service, mode: servicePolicy.mode)
        }
    }

    /// Counts records made outside a session: connection attempts.
    package func count(_ record: DecisionRecord) {
        self.decisionCounters(service: record.service, mode: record.mode).count(record)
    }

    /// The metrics in Prometheus' text format, with what is sampled rather than counted read now:
    /// open connections per service, the decision log's progress and, when Warden publishes them,
    /// the audit events'.
    package func exposition(
        openConnections: [String: Int], logWritten: Int, logBacklog: Int,
        audit: (published: Int, dropped: Int, suppressed: Int, connected: Bool)? = nil
    ) -> [UInt8] {
        self.sampled.withLockedValue { sampled in
            Self.advance(self.logWritten, from: &sampled.logWritten, to: logWritten)
            if let audit {
                Self.advance(self.auditPublished, from: &sampled.auditPublished, to: audit.published)
                Self.advance(self.auditDropped, from: &sampled.auditDropped, to: audit.dropped)
                Self.advance(self.auditSuppressed, from: &sampled.auditSuppressed, to: audit.suppressed)
                self.auditConnected.set(Int64(audit.connected ? 1 : 0))
            }
            self.logBacklog.set(Int64(logBacklog))
            if let created = self.fleetCreated.withLockedValue({ $0 }) {
                self.fleetStateAge.set(max(0, Date().timeIntervalSince(created)))
            }
            // A service whose last connection closed keeps its series, at zero.
            for service in Set(sampled.connections.keys).union(openConnections.keys) {
                let gauge =
                    sampled.connections[service]
                    ?? self.registry.makeGauge(
                        descriptor: Self.connections, labels: [("service", service)])
                sampled.connections[service] = gauge
                gauge.set(Int64(openConnections[service] ?? 0))
            }
            return self.registry.emitToBuffer()
        }
    }

    /// Brings a counter of something counted elsewhere up to `total`.
    private static func advance(_ counter: Counter, from last: inout Int, to total: Int) {
        counter.increment(by: Int64(max(0, total - last)))
        last = max(last, total)
    }
}
