import Logging
import NIOConcurrencyHelpers
import Testing
import WardenPolicy
import WardenTestSupport

@testable import WardenProxy

/// The audit trail's queue without NATS: what is published, what is dropped, and what stopping does.
struct AuditTrailTests {
    static func record(_ decision: PolicyDecision.Verdict, _ op: DecisionRecord.Op, _ service: String?) -> DecisionRecord {
        DecisionRecord(decision: decision, op: op, service: service, conn: 1, peer: "127.0.0.1:1", mode: .enforce, rule: "r")
    }

    /// The lines `records` encode to, as the session hands them over.
    static func offer(_ records: [DecisionRecord], to trail: AuditTrail) {
        var encoder = RecordEncoder()
        for record in records { encoder.encode(record, connection: record.connectionFields, microseconds: 0) }
        encoder.bytes.withUnsafeReadableBytes { trail.offerDenials(records, encoded: $0) }
    }

    @Test func onlyDenialsArePublishedEachAsItsOwnLineOnItsSubject() async throws {
        let published = NIOLockedValueBox<[(String, String)]>([])
        let finished = NIOLockedValueBox(0)
        let trail = AuditTrail(
            logger: Logger(label: "test"),
            publish: { subject, payload in
                published.withLockedValue { $0.append((subject, String(decoding: payload, as: UTF8.self))) }
                return true
            },
            finish: { finished.withLockedValue { $0 += 1 } })
        Self.offer([
            Self.record(.allow, .pub, "orders"), Self.record(.deny, .sub, "orders"), Self.record(.allow, .pub, "orders"),
            Self.record(.deny, .connect, nil),
        ], to: trail)
        await trail.stop()
        let events = published.withLockedValue { $0 }
        #expect(events.map(\.0) == ["warden.audit.deny.sub.orders", "warden.audit.deny.connect.$unidentified"])
        #expect(events.allSatisfy { $0.1.hasPrefix("{") && $0.1.hasSuffix("}") && $0.1.contains(#""decision":"deny""#) })
        #expect(events.first?.1.contains(#""op":"sub""#) == true)
        #expect(trail.counts.published == 2)
        #expect(finished.withLockedValue { $0 } == 1)
        // After stopping, events are dropped and counted.
        Self.offer([Self.record(.deny, .pub, "orders")], to: trail)
        #expect(trail.counts.dropped == 1)
    }

    @Test func eventsPastTheCapacityOrRefusedByThePublisherAreCountedAsDropped() async throws {
        let gate = ConditionLock<Int>(value: 0)
        let trail = AuditTrail(
            capacity: 600, logger: Logger(label: "test"),
            publish: { subject, _ in
                // Hold the first event until the test has filled the queue; refuse connect events.
                gate.lock(whenValue: 1)
                gate.unlock(withValue: 1)
                return !subject.contains(".connect.")
            },
            finish: {})
        Self.offer([Self.record(.deny, .pub, "a")], to: trail)
        // About 150 bytes each: four fit in 600 while the publisher is held, the rest are dropped.
        let burst = (0..<10).map { _ in Self.record(.deny, .pub, "b") }
        Self.offer(burst, to: trail)
        gate.lock()
        gate.unlock(withValue: 1)
        Self.offer([Self.record(.deny, .connect, nil)], to: trail)
        await trail.stop()
        let (published, dropped) = trail.counts
        #expect(dropped > 1)
        #expect(published + dropped == 12)
        #expect(published >= 2)
    }
}
