import Testing

@testable import WardenPolicy

@Suite struct PublishTests {
    let policy: ServicePolicy

    init() throws {
        self.policy = try makePolicy(
            publishAllow: ["orders.>", "audit.*.created", "exact.subject"],
            publishDeny: ["orders.internal.>", "orders.*.secret"]
        )
    }

    @Test(arguments: [
        ("orders.created", "allow", "test.yaml:1 publish.allow \"orders.>\""),
        ("orders.a.b.c", "allow", "test.yaml:1 publish.allow \"orders.>\""),
        ("audit.x.created", "allow", "test.yaml:2 publish.allow \"audit.*.created\""),
        ("exact.subject", "allow", "test.yaml:3 publish.allow \"exact.subject\""),
        ("orders.internal.x", "deny", "test.yaml:4 publish.deny \"orders.internal.>\""),
        ("orders.eu.secret", "deny", "test.yaml:5 publish.deny \"orders.*.secret\""),
        ("orders", "deny", "default deny"),  // `>` needs at least one more token
        ("audit.x.y.created", "deny", "default deny"),
        ("exact.subject.more", "deny", "default deny"),
        ("payments.done", "deny", "default deny"),
        ("orders.*", "deny", "publish subject must be literal"),
        ("orders.>", "deny", "publish subject must be literal"),
        ("orders..x", "deny", "invalid subject"),
    ])
    func publishDecisions(_ subject: String, _ verdict: String, _ rule: String) {
        let decision = self.policy.decidePublish(subject: subject)
        #expect(decision.verdict.rawValue == verdict)
        #expect(decision.ruleDescription == rule)
        #expect(decision.isPermitted == (verdict == "allow"))
    }

    @Test func denyBeatsAllowWhateverTheOrder() throws {
        let policy = try makePolicy(publishAllow: ["a.b"], publishDeny: ["a.*"])
        #expect(policy.decidePublish(subject: "a.b").verdict == .deny)
    }

    @Test func theFirstMatchingRuleIsReported() throws {
        let policy = try makePolicy(publishAllow: ["a.*", "a.b", "a.>"])
        #expect(policy.decidePublish(subject: "a.b").rule?.pattern == "a.*")
    }

    @Test func reservedReplySubjectsAreRefused() {
        var none: ResponseTracker? = nil
        for reply in ["_R_.abc", "$JS.ACK.stream.1", "$GNR.x"] {
            let decision = self.policy.decidePublish(subject: "orders.x", reply: reply, responses: &none, now: 0)
            #expect(decision.reason == .reservedReply)
        }
        let ok = self.policy.decidePublish(subject: "orders.x", reply: "_INBOX.svc.1", responses: &none, now: 0)
        #expect(ok.verdict == .allow)
    }

    @Test func auditModeDecidesButPermits() throws {
        let policy = try makePolicy(publishAllow: ["a"], mode: .audit)
        let denied = policy.decidePublish(subject: "b")
        #expect(denied.verdict == .deny)
        #expect(denied.mode == .audit)
        #expect(denied.isPermitted)
    }

    /// A full set reuses its entries for new subjects: a longer subject after a shorter one, then a
    /// prefix of an earlier one, must each be remembered as exactly their own bytes.
    @Test func aReplacedCacheEntryHoldsOnlyTheNewSubject() {
        var cache = PublishDecisionCache(capacity: 4)  // one set of four
        let subjects = [
            "a", "b", "c", "d", "orders.internal.long.subject", "orders.a", "x", "y", "orders.internal.long",
            "orders.a.b",
        ]
        for subject in subjects + subjects.reversed() {
            #expect(
                cache.decision(for: subject, in: self.policy) == self.policy.decidePublish(subject: subject),
                "\(subject)")
            #expect(cache.count <= 4)
        }
    }

    @Test func theCacheReturnsWhatTheEngineDecides() throws {
        var cache = PublishDecisionCache(capacity: 4)
        for subject in ["orders.a", "orders.internal.b", "nope", "orders.a", "x.1", "x.2", "x.3", "orders.a"] {
            #expect(cache.decision(for: subject, in: self.policy) == self.policy.decidePublish(subject: subject))
            #expect(cache.count <= 4)
        }
    }
}

@Suite struct ResponseTests {
    let permission = ResponsePermission(
        maxMessages: 2, expires: .seconds(10), source: SourceLocation(file: "f", line: 3))

    @Test func aDeliveredRequestMayBeAnsweredUpToMax() throws {
        let policy = try makePolicy(publishAllow: ["x"], allowResponses: self.permission)
        var tracker: ResponseTracker? = ResponseTracker(permission: self.permission)
        #expect(policy.decidePublish(subject: "_INBOX.a", reply: nil, responses: &tracker, now: 0).verdict == .deny)
        tracker!.grant("_INBOX.a", now: 0)
        let first = policy.decidePublish(subject: "_INBOX.a", reply: nil, responses: &tracker, now: 1)
        #expect(first.verdict == .allow)
        #expect(first.ruleDescription == "f:3 allow_responses")
        #expect(policy.decidePublish(subject: "_INBOX.a", reply: nil, responses: &tracker, now: 2).verdict == .allow)
        #expect(policy.decidePublish(subject: "_INBOX.a", reply: nil, responses: &tracker, now: 3).verdict == .deny)
        #expect(tracker!.count == 0)
    }

    @Test func grantsExpire() {
        var tracker = ResponseTracker(permission: self.permission)
        tracker.grant("r", now: 0)
        let late = tracker.consume("r", now: 10_000_000_000)
        #expect(!late)
        tracker.grant("r", now: 0)
        let inTime = tracker.consume("r", now: 9_999_999_999)
        #expect(inTime)
    }

    @Test func reloadedLimitsApplyToGrantsAlreadyMadeAndToNewOnes() {
        var tracker = ResponseTracker(permission: self.permission)
        tracker.grant("a", now: 0)
        tracker.grant("b", now: 0)
        let tighter = ResponsePermission(
            maxMessages: 1, expires: .seconds(1), source: SourceLocation(file: "g", line: 1))
        tracker.adopt(tighter, now: 5_000_000_000)
        // At most one response each now, and none after 1 s from the reload (not 10 s from the request).
        let first = tracker.consume("a", now: 5_500_000_000)
        let second = tracker.consume("a", now: 5_600_000_000)
        let late = tracker.consume("b", now: 6_000_000_001)
        tracker.grant("c", now: 7_000_000_000)
        let lateNew = tracker.consume("c", now: 8_000_000_001)
        #expect(first && !second && !late && !lateNew)
        // Looser limits do not lengthen a grant already made.
        var loose = ResponseTracker(permission: self.permission)
        loose.grant("d", now: 0)
        loose.adopt(
            ResponsePermission(maxMessages: 5, expires: .seconds(60), source: SourceLocation(file: "g", line: 1)),
            now: 1)
        let answers = (0..<3).map { loose.consume("d", now: 2 + UInt64($0)) }
        #expect(answers == [true, true, false])
    }

    @Test func anExplicitDenyBeatsAResponseGrant() throws {
        let policy = try makePolicy(publishDeny: ["_INBOX.>"], allowResponses: self.permission)
        var tracker: ResponseTracker? = ResponseTracker(permission: self.permission)
        tracker!.grant("_INBOX.a", now: 0)
        #expect(policy.decidePublish(subject: "_INBOX.a", reply: nil, responses: &tracker, now: 1).verdict == .deny)
        #expect(tracker!.count == 1)  // not used up by a refused publish
    }

    @Test func wardensAuditSubjectsAreRefusedWhateverTheACLTheModeOrAResponseGrant() throws {
        for mode in [PolicyMode.enforce, .audit] {
            let policy = try makePolicy(
                publishAllow: [">", "warden.audit.>"], mode: mode, allowResponses: self.permission)
            var tracker: ResponseTracker? = ResponseTracker(permission: self.permission)
            tracker!.grant("warden.audit.deny.pub.orders", now: 0)
            let forged = policy.decidePublish(
                subject: "warden.audit.deny.pub.orders", reply: nil, responses: &tracker, now: 1)
            #expect(forged.reason == .auditSubject)
            #expect(forged.mode == .enforce)
            #expect(!forged.isPermitted)
            #expect(forged.ruleDescription == #"reserved for Warden's audit events "warden.audit.>""#)
            // Only the prefix and what is under it: neighbours are decided by the rules.
            #expect(policy.decidePublish(subject: "warden.audit").isPermitted)
            #expect(policy.decidePublish(subject: "warden.auditor.x").isPermitted)
        }
    }

    /// A forged heartbeat would make every Warden tell its clients to reconnect to the forger's address.
    @Test func wardensHeartbeatSubjectsAreRefusedWhateverTheACLTheModeOrThePattern() throws {
        for mode in [PolicyMode.enforce, .audit] {
            let policy = try makePolicy(publishAllow: [">", "warden.peers.>"], mode: mode)
            let forged = policy.decidePublish(subject: "warden.peers.heartbeat")
            #expect(forged.reason == .peerSubject)
            #expect(forged.mode == .enforce)
            #expect(!forged.isPermitted)
            #expect(forged.ruleDescription == #"reserved for Warden's heartbeats "warden.peers.>""#)
            #expect(policy.decideReply("warden.peers.heartbeat").reason == .peerSubject)
            for pattern in ["warden.peers.>", "warden.*.heartbeat", "*.peers.*", "warden.>"] {
                #expect(!policy.decidePublish(pattern: pattern).isPermitted, "\(pattern)")
            }
            #expect(policy.decidePublish(subject: "warden.peers").isPermitted)
            #expect(policy.decidePublish(pattern: "warden.peersx.>").isPermitted)
        }
    }

    /// Bundles are signed by the CA, so a service could not forge one; but it could delete the bucket,
    /// flood its history or read the fleet's ACLs and inventory.
    @Test func theFleetsBucketIsRefusedWhateverTheACLTheModeOrThePattern() throws {
        for mode in [PolicyMode.enforce, .audit] {
            let policy = try makePolicy(publishAllow: [">"], mode: mode)
            for subject in [
                "$KV.WARDEN.bundle", "$JS.API.STREAM.DELETE.KV_WARDEN", "$JS.API.STREAM.PURGE.KV_WARDEN",
                "$JS.API.DIRECT.GET.KV_WARDEN.$KV.WARDEN.bundle", "$JS.API.CONSUMER.CREATE.KV_WARDEN.c.$KV.WARDEN.>",
                "$JS.API.STREAM.MSG.GET.KV_WARDEN",
            ] {
                let decision = policy.decidePublish(subject: subject)
                #expect(decision.reason == .fleetState, "\(subject)")
                #expect(decision.mode == .enforce && !decision.isPermitted, "\(subject)")
            }
            #expect(policy.decideReply("$KV.WARDEN.bundle").reason == .fleetState)
            for pattern in ["$KV.WARDEN.>", "$KV.*.bundle", "$KV.>"] {
                #expect(policy.decidePublish(pattern: pattern).reason == .fleetState, "\(pattern)")
            }
            // Neighbours are decided by the rules.
            for subject in [
                "$KV.WARDENS.x", "$JS.API.STREAM.INFO.KV_WARDEN2", "$JS.API.STREAM.INFO.orders", "$KV.WARDEN",
            ] {
                #expect(policy.decidePublish(subject: subject).isPermitted, "\(subject)")
            }
            #expect(
                policy.decidePublish(subject: "$JS.API.STREAM.DELETE.KV_WARDEN").ruleDescription
                    == "reserved for Warden's fleet state (KeyValue bucket WARDEN)")
        }
    }

    /// Grants of up to 64 bytes are kept inline and longer ones spill to the heap: on both sides of
    /// that line a grant answers its own subject exactly, not a prefix, an extension or a subject that
    /// differs only in its last byte.
    @Test(arguments: [1, 40, 63, 64, 65, 200])
    func aGrantMatchesOnlyItsOwnSubject(length: Int) {
        let subject = String(repeating: "r", count: length - 1) + "x"
        let others = [
            String(subject.dropLast()),
            subject + "y",
            String(subject.dropLast()) + "y",
        ].filter { !$0.isEmpty }
        var tracker = ResponseTracker(permission: self.permission)
        tracker.grant(subject, now: 0)
        for other in others {
            let answered = tracker.consume(other, now: 1)
            #expect(!answered, "a grant for \(length) bytes answered \(other.utf8.count) bytes")
        }
        let own = tracker.consume(subject, now: 1)
        #expect(own)
        #expect(tracker.count == 1)  // max 2: one response left
    }

    @Test func theRecordNamesTheAllowResponsesEntryWhereverItMoves() {
        var permission = self.permission
        #expect(permission.ruleDescription == "f:3 allow_responses")
        permission.source = SourceLocation(file: "acls/orders.yaml", line: 12)
        #expect(permission.ruleDescription == "acls/orders.yaml:12 allow_responses")
        #expect(
            PolicyDecision(.allow, .response(permission), mode: .enforce).ruleDescription
                == "acls/orders.yaml:12 allow_responses")
    }

    @Test func theGrantTableIsBounded() {
        var tracker = ResponseTracker(permission: self.permission, limit: 16)
        for index in 0..<1000 { tracker.grant("r.\(index)", now: UInt64(index)) }
        #expect(tracker.count <= 16)
        let newest = tracker.consume("r.999", now: 1000)
        #expect(newest)  // the newest grant survives
    }
}
