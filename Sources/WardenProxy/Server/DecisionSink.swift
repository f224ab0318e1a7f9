import NIOConcurrencyHelpers
import NIOCore
import WardenAudit
import WardenMetrics
import WardenPolicy

/// Where every decision record goes: the one place that turns a record into a line of the decision log,
/// a count in the metrics and, for a denial, an audit event. Sessions and admission alike hand their
/// records here, and the log's answer to each hand-over (keep going, or slow down) is always acted on:
/// a session stops reading its client and nats-server, and the listener stops accepting, until the log
/// has caught up. Nothing is dropped.
final class DecisionSink: Sendable {
    let log: DecisionLog
    let metrics: BrokerMetrics
    let audit: AuditTrail?
    /// Accepting new connections, paused while the log is behind records made outside a session.
    private let listener = NIOLockedValueBox<(any Channel)?>(nil)

    init(log: DecisionLog, metrics: BrokerMetrics, audit: AuditTrail?) {
        self.log = log
        self.metrics = metrics
        self.audit = audit
    }

    /// Encodes a session's records into its event loop's `batch`, counts them with the service's
    /// `counters` and offers its denials as audit events; `records` is emptied. The batch goes to the log
    /// at the end of the read cycle (`handOver`).
    func take(
        _ records: inout [DecisionRecord], of connection: ConnectionFields, counters: DecisionCounters,
        into batch: RecordBatch,
        microseconds: Int64
    ) {
        guard !records.isEmpty else { return }
        let start = batch.encoder.bytes.writerIndex
        batch.encoder.encode(records, connection: connection, microseconds: microseconds)
        counters.count(records)
        if let audit = self.audit, AuditTrail.hasDenial(records) {
            // These records are the lines from `start` on.
            let offset = start - batch.encoder.bytes.readerIndex
            batch.encoder.bytes.withUnsafeReadableBytes { encoded in
                audit.offerDenials(records, encoded: UnsafeRawBufferPointer(rebasing: encoded[offset...]))
            }
        }
        records.removeAll(keepingCapacity: true)
    }

    /// Hands `batch` to the log. False when the log asks the caller to slow down: it must stop reading
    /// until `log.whenDrained` calls back.
    func handOver(_ batch: RecordBatch) -> Bool {
        batch.submit(to: self.log)
    }

    /// Takes a record made outside a session (a connection attempt, a withdrawn credential), encoded in
    /// the calling thread's batch (an event loop's), and hands it to the log at once. When the log is
    /// behind, the listener stops accepting until it has caught up: new connections are what make
    /// these records.
    func takeAlone(_ record: DecisionRecord) {
        var records = [record]
        let batch = RecordBatch.current
        self.take(
            &records, of: record.connectionFields,
            counters: self.metrics.decisionCounters(service: record.service, mode: record.mode),
            into: batch, microseconds: RFC3339.nowMicroseconds())
        if !self.handOver(batch) { self.pauseAccepting() }
    }

    /// The listener's channel, whose accepting `takeAlone` pauses.
    func attach(listener channel: any Channel) {
        self.listener.withLockedValue { $0 = channel }
    }

    private func pauseAccepting() {
        guard let channel = self.listener.withLockedValue({ $0 }) else { return }
        channel.setOption(.autoRead, value: false).whenSuccess {
            self.log.whenDrained(on: channel.eventLoop) { _ = channel.setOption(.autoRead, value: true) }
        }
    }
}
