import Foundation
public import Logging
import NATSClient
import NIOConcurrencyHelpers
public import ServiceLifecycle
import WardenPolicy

/// Denials published as events on NATS, for whoever watches them live: each denied operation's
/// decision record (the JSON object, without its newline) on `warden.audit.deny.OP.SERVICE`.
///
/// The decision log stays the complete record; events are the live feed. Event loops only queue
/// events (a lock and a copy); a thread of its own hands them to the publisher, so a slow or
/// unreachable NATS never holds a client up. When more than `capacity` bytes are queued, new events
/// are dropped and counted (`dropped`, and `warden_audit_events_dropped_total`) rather than slow
/// clients down.
///
/// Each service's events are held to a budget (`AuditBudget`): past it they are suppressed and counted
/// (`suppressed`, `warden_audit_events_suppressed_total`), and at most once a second per service a
/// summary on `warden.audit.suppressed.SERVICE` says how many, so one service's flood of denials is
/// neither amplified onto NATS nor able to crowd out the events of the others.
public final class AuditTrail: Service, Sendable {
    /// Publishes one event; returns false when it was not taken (the connection is gone and its
    /// buffer is full).
    public typealias Publish = @Sendable (_ subject: String, _ payload: [UInt8]) -> Bool

    /// What an event counts for once it is queued: a denial's record, or a summary of suppressed ones.
    private typealias Event = (subject: String, payload: [UInt8], isDenial: Bool)

    private struct State {
        var queue: [Event] = []
        var queuedBytes = 0
        var published = 0
        var dropped = 0
        var suppressed = 0
        var budget: AuditBudget
        /// Set when the queue overflowed and it was logged; cleared once the thread catches up.
        var reportedFull = false
        /// Set by `renewIdentity`, cleared by the thread once it has renewed the publisher.
        var renewing = false
        /// How many renewals the thread has carried out.
        var renewed = 0
    }

    public let capacity: Int
    public let budget: AuditBudget.Limit
    private let publish: Publish
    private let finish: @Sendable () -> Void
    private let connected: @Sendable () -> Bool
    private let renew: @Sendable () -> Void
    private let logger: Logger
    /// The publisher: its thread, and the state the event loops share with it.
    private let publisher: BackgroundWorker<State>

    /// The subject an event for `op` by `service` goes to; `$unidentified` (never a service name)
    /// for clients refused before they were identified.
    public static func subject(op: DecisionRecord.Op, service: String?) -> String {
        "\(auditSubjectPrefix).deny.\(op.rawValue).\(service ?? "$unidentified")"
    }

    /// The subject of the summaries of `service`'s suppressed events.
    public static func suppressedSubject(service: String?) -> String {
        "\(auditSubjectPrefix).suppressed.\(service ?? "$unidentified")"
    }

    /// `finish` is called once at shutdown, after the last events, to push out what `publish`
    /// buffered and close the connection; `connected` tells whether the publisher's connection is up
    /// now (for metrics); `renew` makes the publisher use Warden's identity as its files now have it
    /// (`renewIdentity`). `publish`, `finish` and `renew` run on the trail's own thread, one at a time.
    /// `overNATS` makes the one `warden serve` uses.
    public init(
        capacity: Int = 4 << 20, budget: AuditBudget.Limit = .standard, logger: Logger, publish: @escaping Publish,
        finish: @escaping @Sendable () -> Void, connected: @escaping @Sendable () -> Bool = { true },
        renew: @escaping @Sendable () -> Void = {}
    ) {
        self.capacity = capacity
        self.budget = budget
        self.publisher = BackgroundWorker(state: State(budget: AuditBudget(limit: budget)))
        self.publish = publish
        self.finish = finish
        self.connected = connected
        self.renew = renew
        self.logger = logger
        self.publisher.start(name: "warden-audit") { [self] in self.publishLoop() }
    }

    /// Denials handed to the publisher as events, those dropped because the queue was full or the
    /// publisher refused them, and those suppressed because their service was over its budget.
    public var counts: (published: Int, dropped: Int, suppressed: Int) {
        self.publisher.withState { ($0.published, $0.dropped, $0.suppressed) }
    }

    /// Whether the publisher's connection to NATS is up now.
    public var isConnected: Bool { self.connected() }

    /// Whether any of `records` is a denial, read in place (a copy of a record retains its strings).
    package static func hasDenial(_ records: [DecisionRecord]) -> Bool {
        for index in records.indices where records[index].decision == .deny { return true }
        return false
    }

    /// Queues an event for each denial among `records`, whose encoded lines are `encoded`, one line
    /// per record in order.
    package func offerDenials(_ records: [DecisionRecord], encoded: UnsafeRawBufferPointer) {
        var events: [(service: String?, event: Event)] = []
        var lineStart = 0
        for index in records.indices {
            guard let end = encoded[lineStart...].firstIndex(of: UInt8(ascii: "\n")) else {
                assertionFailure("fewer encoded lines than records")
                break
            }
            if records[index].decision == .deny && !Self.isDroppedEvent(records[index]) {
                let service = records[index].service
                let subject = Self.subject(op: records[index].op, service: service)
                events.append((service, (subject, Array(encoded[lineStart..<end]), true)))
            }
            lineStart = end + 1
        }
        self.enqueue(events)
    }

    /// Whether `record` is the drop of an audit event at delivery (a subscriber's delivery filter
    /// refused it). Such a drop is logged but not published: its event would go to the same
    /// subscriber, be dropped in turn, and so on without end.
    static func isDroppedEvent(_ record: DecisionRecord) -> Bool {
        record.op == .deliver && record.subject?.withUnsafeBytes(ServicePolicy.isAuditSubject) == true
    }

    private func enqueue(_ events: [(service: String?, event: Event)]) {
        guard !events.isEmpty else { return }
        let now = Self.uptime()
        let (report, overBudget) = self.publisher.update {
            state, publisher -> (result: (report: Bool, overBudget: [String?]), wake: Bool) in
            guard !publisher.stopping else {
                state.dropped += events.count
                return ((false, []), false)
            }
            var overflowed = false
            var overBudget: [String?] = []
            for (service, event) in events {
                if case .suppress(let startsStreak) = state.budget.admit(service: service, now: now) {
                    state.suppressed += 1
                    if startsStreak { overBudget.append(service) }
                } else if state.queuedBytes + event.payload.count > self.capacity {
                    state.dropped += 1
                    overflowed = true
                } else {
                    state.queue.append(event)
                    state.queuedBytes += event.payload.count
                }
            }
            let report = overflowed && !state.reportedFull
            if report { state.reportedFull = true }
            return ((report, overBudget), !state.queue.isEmpty)
        }
        if report {
            self.logger.warning(
                "audit events are being dropped: more than \(self.capacity) bytes wait for NATS",
                metadata: ["hint": "the decision log has every record; see warden_audit_events_dropped_total"])
        }
        for service in overBudget {
            self.logger.warning(
                "audit events of a service over its budget are being suppressed",
                metadata: [
                    "service": "\(service ?? "$unidentified")",
                    "budget": "\(self.budget.perSecond)/s, \(self.budget.burst) at once",
                    "summaries": "\(Self.suppressedSubject(service: service))",
                    "hint": "the decision log has every record; see warden_audit_events_suppressed_total",
                ])
        }
    }

    private static func uptime() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// The summary event of `suppressed` events of `service` left out of the feed.
    private func summary(service: String?, suppressed: Int) -> Event {
        // Service names are letters, digits, '-' and '_': nothing in them needs escaping.
        let name = service.map { "\"\($0)\"" } ?? "null"
        let ts = RFC3339.string(microseconds: RFC3339.nowMicroseconds())
        let json =
            #"{"ts":"\#(ts)","service":\#(name),"suppressed":\#(suppressed),"#
            + #""per_second":\#(self.budget.perSecond),"burst":\#(self.budget.burst)}"#
        return (Self.suppressedSubject(service: service), Array(json.utf8), false)
    }

    /// Warden's certificates were renewed and reloaded: the publisher connects again with them. Done
    /// on the trail's thread, between batches, so no event goes to a connection being closed.
    public func renewIdentity() {
        self.publisher.update { state, _ in
            state.renewing = true
            return ((), true)
        }
    }

    /// How many times the publisher has connected again with renewed certificates (`renewIdentity`).
    public var renewals: Int { self.publisher.withState { $0.renewed } }

    public func run() async throws {
        try? await gracefulShutdown()
        await self.stop()
    }

    /// Publishes what is queued, finishes (flushes and closes the connection), and stops the thread.
    public func stop() async {
        await self.publisher.stop()
    }

    /// How long the thread waits for events before it looks for summaries that fell due.
    private static let summaryCheckSeconds = 1.0

    private func publishLoop() {
        var reportedRefusal = false
        // Two arrays trade places, as in the decision log: the thread empties one while the event
        // loops fill the other.
        var batch: [Event] = []
        while true {
            batch.removeAll(keepingCapacity: true)
            // Woken by events or a stop; otherwise once a second, for summaries of suppressed events.
            let (stopping, renewing, due) = self.publisher.next { _ in
                Self.summaryCheckSeconds
            } take: { state, publisher in
                let renewing = state.renewing
                swap(&state.queue, &batch)
                state.queuedBytes = 0
                state.reportedFull = false
                state.renewing = false
                // At a stop, every summary left: no later turn would publish it.
                return (
                    publisher.stopping, renewing,
                    state.budget.dueSummaries(now: Self.uptime(), all: publisher.stopping)
                )
            }
            if renewing && !stopping {
                self.renew()
                self.publisher.withState { $0.renewed += 1 }
            }
            for (service, suppressed) in due { batch.append(self.summary(service: service, suppressed: suppressed)) }
            var refused = 0
            var refusedDenials = 0
            for event in batch where !self.publish(event.subject, event.payload) {
                refused += 1
                if event.isDenial { refusedDenials += 1 }
            }
            if refused > 0 && !reportedRefusal {
                reportedRefusal = true
                self.logger.warning(
                    "audit events are being dropped: NATS is unreachable and the publisher's buffer is full",
                    metadata: ["dropped": "\(refused)"])
            } else if refused == 0 && !batch.isEmpty {
                reportedRefusal = false
            }
            let denials = batch.count { $0.isDenial }
            self.publisher.withState { state in
                state.published += denials - refusedDenials
                state.dropped += refusedDenials
            }
            if stopping {
                self.finish()
                break
            }
        }
    }
}

extension AuditTrail {
    /// The audit trail over a nats.c connection of Warden's own to the upstream (`connection`), with its
    /// upstream identity, checking nats-server's certificate against the CA and the host it dials as
    /// the data path does. The connection is made in the background and re-made for good, so
    /// nats-server need not be up yet; the log says when it is lost and when it is back.
    public static func overNATS(
        _ connection: WardenConnection, budget: AuditBudget.Limit = .standard, logger: Logger
    ) throws -> AuditTrail {
        let upstream = connection.url
        var options = connection.clientOptions(name: "warden-audit")
        options.onConnectionEvent = { (event: NATSClient.ConnectionEvent) in
            switch event {
            case .connected, .reconnected:
                logger.info("audit events: connected to nats-server", metadata: ["upstream": "\(upstream)"])
            case .disconnected:
                logger.warning(
                    "audit events: lost the connection to nats-server; reconnecting every second, events wait meanwhile",
                    metadata: ["upstream": "\(upstream)"])
            case .lameDuck:
                logger.info(
                    "audit events: nats-server is in lame duck mode; the connection will move to another server",
                    metadata: ["upstream": "\(upstream)"])
            }
        }
        let client: NATSClient
        do {
            client = try NATSClient(options)
        } catch {
            throw AuditError(
                .eventsUnavailable, "cannot set up the audit events' NATS connection to \(upstream): \(error)")
        }
        if !client.isConnected {
            logger.warning(
                "audit events: nats-server not reachable yet; connecting in the background, events wait meanwhile",
                metadata: ["upstream": "\(upstream)"])
        }
        // Replaced when Warden's identity is renewed; read by the metrics too.
        let current = NIOLockedValueBox(client)
        let settings = options
        return AuditTrail(
            budget: budget, logger: logger,
            publish: { subject, payload in (try? current.withLockedValue { $0 }.publish(subject, payload)) != nil },
            finish: {
                let client = current.withLockedValue { $0 }
                _ = try? client.flush(timeoutMilliseconds: 2000)
                client.close()
            },
            connected: { current.withLockedValue { $0 }.isConnected },
            renew: {
                // nats.c reads the certificate files once, when a connection is set up: a new one reads them again.
                let renewed: NATSClient
                do {
                    renewed = try NATSClient(settings)
                } catch {
                    logger.error(
                        "audit events: cannot connect with Warden's renewed identity; the connection in use is kept",
                        metadata: ["error": "\(error)"])
                    return
                }
                let old = current.withLockedValue { client in
                    defer { client = renewed }
                    return client
                }
                _ = try? old.flush(timeoutMilliseconds: 2000)
                old.close()
                logger.info(
                    "audit events: now connecting with Warden's renewed identity", metadata: ["upstream": "\(upstream)"]
                )
            })
    }
}
