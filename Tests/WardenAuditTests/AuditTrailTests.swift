import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing
import WardenPolicy
import WardenTestSupport

@testable import WardenAudit

/// The audit trail's queue without NATS: what is published, what is dropped, and what stopping does.
struct AuditTrailTests {
    static func record(_ decision: PolicyDecision.Verdict, _ op: DecisionRecord.Op, _ service: String?)
        -> DecisionRecord
    {
        DecisionRecord(
            decision: decision, op: op, service: service, conn: 1, peer: "127.0.0.1:1", mode: .enforce, rule: "r")
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
        Self.offer(
            [
                Self.record(.allow, .pub, "orders"), Self.record(.deny, .sub, "orders"),
                Self.record(.allow, .pub, "orders"),
                Self.record(.deny, .connect, nil),
            ], to: trail)
        await trail.stop()
        let events = published.withLockedValue { $0 }
        #expect(events.map(\.0) == ["warden.audit.deny.sub.orders", "warden.audit.deny.connect.$unidentified"])
        #expect(
            events.allSatisfy { $0.1.hasPrefix("{") && $0.1.hasSuffix("}") && $0.1.contains(#""decision":"deny""#) })
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
        let (published, dropped, _) = trail.counts
        #expect(dropped > 1)
        #expect(published + dropped == 12)
        #expect(published >= 2)
    }

    @Test func eventsOverAServicesBudgetAreSuppressedAndSummarisedAndOtherServicesAreNotHeldBack() async throws {
        let published = NIOLockedValueBox<[(String, String)]>([])
        let trail = AuditTrail(
            budget: .init(perSecond: 1, burst: 2), logger: Logger(label: "test"),
            publish: { subject, payload in
                published.withLockedValue { $0.append((subject, String(decoding: payload, as: UTF8.self))) }
                return true
            },
            finish: {})
        Self.offer((0..<10).map { _ in Self.record(.deny, .pub, "flood") }, to: trail)
        Self.offer([Self.record(.deny, .sub, "quiet")], to: trail)
        await trail.stop()
        let events = published.withLockedValue { $0 }
        #expect(events.filter { $0.0 == "warden.audit.deny.pub.flood" }.count == 2)
        #expect(events.filter { $0.0 == "warden.audit.deny.sub.quiet" }.count == 1)
        #expect(trail.counts.published == 3)
        #expect(trail.counts.suppressed == 8)
        #expect(trail.counts.dropped == 0)
        // The summary: published at the latest when the trail stops, with the count and the budget.
        let summaries = events.filter { $0.0 == "warden.audit.suppressed.flood" }
        #expect(summaries.count == 1)
        let summary = try #require(summaries.first?.1)
        #expect(summary.hasPrefix(#"{"ts":""#))
        #expect(summary.contains(#"Z","service":"flood","suppressed":8,"per_second":1,"burst":2}"#))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any])
        #expect(object["suppressed"] as? Int == 8)
        #expect((object["ts"] as? String)?.count == 27)
    }
}
