import Testing

@testable import WardenAudit

/// The per-service budget of audit events, without a clock: time is given in nanoseconds.
struct AuditBudgetTests {
    static let second: UInt64 = 1_000_000_000

    @Test func aServiceMayPublishItsBurstThenItsRateAndIsSuppressedPastIt() {
        var budget = AuditBudget(limit: .init(perSecond: 10, burst: 3))
        let start: UInt64 = 5 * Self.second
        #expect((0..<3).map { _ in budget.admit(service: "orders", now: start) } == [.publish, .publish, .publish])
        #expect(budget.admit(service: "orders", now: start) == .suppress(startsStreak: true))
        #expect(budget.admit(service: "orders", now: start) == .suppress(startsStreak: false))
        // A tenth of a second later, one more event's worth has come back; not two.
        let later = start + Self.second / 10
        #expect(budget.admit(service: "orders", now: later) == .publish)
        #expect(budget.admit(service: "orders", now: later) == .suppress(startsStreak: false))
    }

    @Test func servicesHaveABudgetEachAndUnidentifiedClientsShareOne() {
        var budget = AuditBudget(limit: .init(perSecond: 1, burst: 1))
        #expect(budget.admit(service: "orders", now: 0) == .publish)
        #expect(budget.admit(service: "orders", now: 0) == .suppress(startsStreak: true))
        #expect(budget.admit(service: "payments", now: 0) == .publish)
        #expect(budget.admit(service: nil, now: 0) == .publish)
        #expect(budget.admit(service: nil, now: 0) == .suppress(startsStreak: true))
    }

    @Test func aStreakIsReportedAgainOnlyAfterTheBucketFilledUp() {
        var budget = AuditBudget(limit: .init(perSecond: 2, burst: 2))
        _ = budget.admit(service: "orders", now: 0)
        _ = budget.admit(service: "orders", now: 0)
        #expect(budget.admit(service: "orders", now: 0) == .suppress(startsStreak: true))
        // Half a second: one event back, the bucket not full; the flood goes on as the same streak.
        #expect(budget.admit(service: "orders", now: Self.second / 2) == .publish)
        #expect(budget.admit(service: "orders", now: Self.second / 2) == .suppress(startsStreak: false))
        // Quiet long enough to fill the bucket: the next flood is a new streak.
        let quiet = 5 * Self.second
        _ = budget.admit(service: "orders", now: quiet)
        _ = budget.admit(service: "orders", now: quiet)
        #expect(budget.admit(service: "orders", now: quiet) == .suppress(startsStreak: true))
    }

    @Test func suppressedEventsAreSummarisedAtMostOncePerIntervalPerService() {
        var budget = AuditBudget(limit: .init(perSecond: 1, burst: 1), summaryIntervalNanoseconds: Self.second)
        #expect(budget.dueSummaries(now: 0).isEmpty)
        for _ in 0..<4 { _ = budget.admit(service: "orders", now: 0) }
        _ = budget.admit(service: nil, now: 0)
        _ = budget.admit(service: nil, now: 0)
        // The first summary of each is due at once: 3 of orders' 4 and 1 of the unidentified client's 2.
        let first = budget.dueSummaries(now: 0).sorted { ($0.service ?? "") < ($1.service ?? "") }
        #expect(first.map(\.service) == [nil, "orders"])
        #expect(first.map(\.suppressed) == [1, 3])
        #expect(budget.dueSummaries(now: 0).isEmpty)
        // Half a second on, half an event's worth is back: both are suppressed, and their summary
        // waits for the interval to pass.
        #expect(budget.admit(service: "orders", now: Self.second / 2) == .suppress(startsStreak: false))
        #expect(budget.admit(service: "orders", now: Self.second / 2) == .suppress(startsStreak: false))
        #expect(budget.dueSummaries(now: Self.second / 2).isEmpty)
        let second = budget.dueSummaries(now: Self.second)
        #expect(second.map(\.service) == ["orders"])
        #expect(second.map(\.suppressed) == [2])
    }

    @Test func allSummariesAreHandedOutAtAStopWhateverTheInterval() {
        var budget = AuditBudget(limit: .init(perSecond: 1, burst: 1), summaryIntervalNanoseconds: Self.second)
        _ = budget.admit(service: "orders", now: 0)
        _ = budget.admit(service: "orders", now: 0)
        #expect(budget.dueSummaries(now: 0).map(\.suppressed) == [1])
        _ = budget.admit(service: "orders", now: 0)
        #expect(budget.dueSummaries(now: 1).isEmpty)
        #expect(budget.dueSummaries(now: 1, all: true).map(\.suppressed) == [1])
        #expect(budget.dueSummaries(now: 1, all: true).isEmpty)
    }
}
