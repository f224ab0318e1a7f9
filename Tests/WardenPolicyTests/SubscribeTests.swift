import Testing

@testable import WardenPolicy

@Suite struct SubscribeTests {
    @Test(arguments: [
        // (allow, subscription, allowed?)
        ("foo.*", "foo.bar", true),
        ("foo.*", "foo.*", true),
        ("foo.*", "foo.>", false),  // nats-server admits this; Warden does not
        ("foo.*", "foo.bar.baz", false),
        ("foo.>", "foo.>", true),
        ("foo.>", "foo.*.baz", true),
        ("foo.>", "foo.*", true),
        ("foo.>", "foo", false),
        ("foo.>", ">", false),
        ("*.bar", "*.bar", true),
        ("*.bar", "*.*", false),
        (">", ">", true),
        (">", "*.*.*", true),
        ("foo.bar", "foo.*", false),
        ("foo.bar", "foo.bar", true),
    ])
    func wildcardSubscriptionsMustBeContained(_ allow: String, _ subscription: String, _ allowed: Bool) throws {
        let policy = try makePolicy(subscribeAllow: [allow])
        #expect(policy.decideSubscribe(subject: subscription).decision.verdict == (allowed ? .allow : .deny))
    }

    @Test func queueEntriesAdmitOnlyThatQueue() throws {
        let policy = try makePolicy(subscribeAllow: ["jobs.* workers", "events.>"])
        #expect(policy.decideSubscribe(subject: "jobs.a", queue: "workers").decision.verdict == .allow)
        #expect(policy.decideSubscribe(subject: "jobs.a", queue: "other").decision.verdict == .deny)
        #expect(policy.decideSubscribe(subject: "jobs.a").decision.verdict == .deny)
        // A plain entry admits any queue and plain subscriptions.
        #expect(policy.decideSubscribe(subject: "events.x", queue: "anything").decision.verdict == .allow)
        #expect(policy.decideSubscribe(subject: "events.x").decision.verdict == .allow)
    }

    @Test func theReservedQueueIsRefused() throws {
        let policy = try makePolicy(subscribeAllow: [">"])
        let decision = policy.decideSubscribe(subject: "x", queue: "_sys_").decision
        #expect(decision.verdict == .deny)
        #expect(decision.reason == .reservedQueue)
        #expect(throws: PolicyError(.invalidQueue, "")) { try makePolicy(subscribeAllow: ["x _sys_"]) }
    }

    @Test func aDenyContainingTheSubscriptionRefusesIt() throws {
        let policy = try makePolicy(subscribeAllow: ["payments.>"], subscribeDeny: ["payments.internal.>"])
        let decision = policy.decideSubscribe(subject: "payments.internal.*").decision
        #expect(decision.verdict == .deny)
        #expect(decision.ruleDescription == "test.yaml:2 subscribe.deny \"payments.internal.>\"")
    }

    @Test func aDenyOverlappingTheSubscriptionBecomesADeliveryFilter() throws {
        let policy = try makePolicy(subscribeAllow: ["payments.>"], subscribeDeny: ["payments.internal.>", "other.>"])
        let result = policy.decideSubscribe(subject: "payments.>")
        #expect(result.decision.verdict == .allow)
        #expect(result.deliveryFilter.map(\.pattern) == ["payments.internal.>"])
        #expect(policy.decideDelivery(subject: "payments.done", filter: result.deliveryFilter) == nil)
        let drop = policy.decideDelivery(subject: "payments.internal.audit", filter: result.deliveryFilter)
        #expect(drop?.verdict == .deny)
        #expect(drop?.rule?.pattern == "payments.internal.>")
    }

    @Test func aLiteralSubscriptionHasNoDeliveryFilter() throws {
        let policy = try makePolicy(subscribeAllow: ["payments.>"], subscribeDeny: ["payments.internal.>"])
        #expect(policy.decideSubscribe(subject: "payments.done").deliveryFilter.isEmpty)
    }

    @Test func queueDenyEntriesOnlyRefuseThatQueue() throws {
        let policy = try makePolicy(subscribeAllow: ["jobs.>"], subscribeDeny: ["jobs.* slow"])
        #expect(policy.decideSubscribe(subject: "jobs.a", queue: "slow").decision.verdict == .deny)
        #expect(policy.decideSubscribe(subject: "jobs.a", queue: "fast").decision.verdict == .allow)
        #expect(policy.decideSubscribe(subject: "jobs.a").decision.verdict == .allow)
    }

    @Test func invalidSubscriptionsAreRefused() throws {
        let policy = try makePolicy(subscribeAllow: [">"])
        #expect(policy.decideSubscribe(subject: "a..b").decision.reason == .invalidSubject)
        #expect(policy.decideSubscribe(subject: "a.>.b").decision.reason == .invalidSubject)
    }

    @Test func publishEntriesCannotNameAQueue() {
        #expect(throws: PolicyError(.invalidQueue, "")) { try makePolicy(publishAllow: ["x workers"]) }
    }
}
