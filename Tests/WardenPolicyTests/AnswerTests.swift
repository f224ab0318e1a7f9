import Testing

@testable import WardenPolicy

/// Where a service may direct answers (reply and deliver subjects), what it may receive on a subject
/// other than the one it subscribed to, and publishing to every subject of a pattern.
struct AnswerTests {
    static let replies = try! Rule(
        order: 10, operation: .reply, effect: .allow,
        pattern: "collector.{{service}}.>".replacingOccurrences(of: "{{service}}", with: "orders"),
        queue: nil, source: SourceLocation(file: "acl.yaml", line: 9))

    static let orders = ServicePolicy(
        name: "orders", mode: .enforce,
        rules: [
            try! Rule(
                order: 0, operation: .subscribe, effect: .allow, pattern: "_INBOX.orders.>", queue: nil,
                source: .init(file: "acl.yaml", line: 1)),
            try! Rule(
                order: 1, operation: .subscribe, effect: .allow, pattern: "payments.completed", queue: nil,
                source: .init(file: "acl.yaml", line: 2)),
            try! Rule(
                order: 2, operation: .subscribe, effect: .allow, pattern: "orders.>", queue: nil,
                source: .init(file: "acl.yaml", line: 3)),
            try! Rule(
                order: 3, operation: .subscribe, effect: .deny, pattern: "orders.secret", queue: nil,
                source: .init(file: "acl.yaml", line: 4)),
            try! Rule(
                order: 4, operation: .publish, effect: .allow, pattern: "orders.>", queue: nil,
                source: .init(file: "acl.yaml", line: 5)),
            try! Rule(
                order: 5, operation: .publish, effect: .deny, pattern: "orders.internal.>", queue: nil,
                source: .init(file: "acl.yaml", line: 6)),
            replies,
        ],
        allowResponses: nil)

    @Test func theServicesOwnInboxIsWhereItsAnswersGo() {
        let decision = Self.orders.decideReply("_INBOX.orders.abc.1")
        #expect(decision.verdict == .allow)
        #expect(decision.ruleDescription == #"built-in replies "_INBOX.orders.>" (the service's own inbox)"#)
    }

    @Test func aSubjectItMayOnlyReceiveOnIsNoReplySubject() {
        // The confused deputy: inventory would answer on payments.completed for orders.
        let decision = Self.orders.decideReply("payments.completed")
        #expect(decision.verdict == .deny)
        #expect(decision.ruleDescription == "default deny (reply subject)")
    }

    @Test func aSubjectItMayBothPublishAndReceiveOnIsAReplySubject() {
        #expect(Self.orders.decideReply("orders.replies.1").verdict == .allow)
        // ... unless a deny entry names it: deny beats allow.
        #expect(Self.orders.decideReply("orders.secret").rule?.effect == .deny)
        #expect(Self.orders.decideReply("orders.internal.x").ruleDescription.contains("publish.deny"))
    }

    @Test func aRepliesEntryWidensWhereAnswersMayGo() {
        let decision = Self.orders.decideReply("collector.orders.batch1")
        #expect(decision.verdict == .allow)
        #expect(decision.rule === Self.replies)
    }

    @Test func reservedAuditWildcardAndInvalidReplySubjectsAreRefused() {
        #expect(Self.orders.decideReply("_R_.x").reason == .reservedReply)
        #expect(Self.orders.decideReply("$JS.ACK.x").reason == .reservedReply)
        #expect(Self.orders.decideReply("warden.audit.deny.pub.orders").reason == .auditSubject)
        #expect(Self.orders.decideReply("_INBOX.orders.*").reason == .invalidSubject)
        #expect(Self.orders.decideReply("a..b").reason == .invalidSubject)
    }

    @Test func receivingIsDecidedAsASubscriptionToExactlyThatSubject() {
        #expect(Self.orders.decideReceive(subject: "orders.created").verdict == .allow)
        #expect(Self.orders.decideReceive(subject: "orders.secret").rule?.effect == .deny)
        #expect(Self.orders.decideReceive(subject: "secret.x").reason == .defaultDeny)
    }

    @Test func publishingToAPatternNeedsOneAllowForAllAndNoDenyOverlapping() {
        #expect(Self.orders.decidePublish(pattern: "orders.events.*").verdict == .allow)
        #expect(Self.orders.decidePublish(pattern: "orders.>").rule?.effect == .deny)
        #expect(Self.orders.decidePublish(pattern: "*.x").reason == .defaultDeny)
        #expect(Self.orders.decidePublish(pattern: "orders.created").verdict == .allow)
        let wide = ServicePolicy(
            name: "wide", mode: .enforce,
            rules: [
                try! Rule(
                    order: 0, operation: .publish, effect: .allow, pattern: ">", queue: nil,
                    source: .init(file: "a", line: 1))
            ],
            allowResponses: nil)
        #expect(wide.decidePublish(pattern: "*.audit.>").reason == .auditSubject)
        #expect(wide.decidePublish(pattern: "warden.*.x").reason == .auditSubject)
        #expect(wide.decidePublish(pattern: "warden.other.>").verdict == .allow)
    }

    @Test func subjectPatternsMatchAsNATSDoes() throws {
        let pattern = try #require(SubjectPattern("_INBOX.orders.*.>"))
        #expect(pattern.matches("_INBOX.orders.abc.1"))
        #expect(pattern.matches("_INBOX.orders.abc.1.2"))
        #expect(!pattern.matches("_INBOX.orders.abc"))
        #expect(!pattern.matches("_INBOX.payments.abc.1"))
        let literal = try #require(SubjectPattern("orders.created"))
        #expect(literal.matches("orders.created") && !literal.matches("orders.created.x") && !literal.hasWildcards)
        #expect(SubjectPattern("a..b") == nil)
    }
}
