import NATSProtocol
import NIOCore
import WardenContainment
import WardenPolicy

/// Decides one connection's publishes: the publish ACL on the subject (with `allow_responses`), and
/// everything the publish makes nats-server do on the service's behalf, which the ACL must allow too:
/// - the reply subject, where answers will be published (`ServicePolicy.decideReply`);
/// - headers that make nats-server publish or read elsewhere (`PublishHeaders`);
/// - a JetStream API call's effects (`JetStreamCheck`).
/// The first check that denies decides. I/O-free; owned by the connection's state machine.
struct PublishGuard {
    /// The service's policy; nil when no ACL file defines the service.
    private(set) var policy: ServicePolicy?
    private var cache = PublishDecisionCache()
    private var responses: ResponseTracker?

    init(policy: ServicePolicy?) {
        self.policy = policy
        self.responses = policy?.allowResponses.map { ResponseTracker(permission: $0) }
    }

    /// Decides from now on with `policy` (ACL reload): cached decisions are forgotten, and
    /// `allow_responses` grants already made are held to the new limits.
    mutating func policyChanged(to policy: ServicePolicy?, now: UInt64) {
        self.policy = policy
        self.cache.removeAll()
        if let permission = policy?.allowResponses {
            if self.responses == nil {
                self.responses = ResponseTracker(permission: permission)
            } else {
                self.responses!.adopt(permission, now: now)
            }
        } else {
            self.responses = nil
        }
    }

    /// A message with reply subject `reply` was delivered to the connection: under `allow_responses`
    /// the service may answer it.
    mutating func delivered(reply: WireString, now: UInt64) {
        guard self.responses != nil else { return }
        reply.withUnsafeBytes { self.responses!.grant(replyBytes: $0, now: now) }
    }

    mutating func decide(_ publish: Publish, now: UInt64) -> PublishVerdict {
        guard let policy = self.policy else {
            return .refused(PolicySnapshot.unknownServiceDecision, publishingTo: publish.subject)
        }
        let decision = self.decideSubject(publish, policy: policy, now: now)
        guard decision.verdict == .allow else {
            if decision.reason == .reservedReply, let reply = publish.reply {
                return .refused(decision, replyingTo: reply)
            }
            return .refused(decision, publishingTo: publish.subject)
        }
        if let reply = publish.reply {
            let answers = reply.withUnsafeBytes { policy.decideReply(replyBytes: $0) }
            if answers.verdict == .deny {
                return .refused(answers, replyingTo: reply)
            }
        }
        if let headerLength = publish.headerLength, headerLength > 0,
            let refused = self.decideHeaders(publish, length: headerLength, policy: policy)
        {
            return refused
        }
        if publish.subject.withUnsafeBytes(JetStreamCall.isAPISubject),
            let call = JetStreamCall(subject: publish.subject.string)
        {
            return self.decideJetStream(call, publish, policy: policy, subjectDecision: decision, streamSubjects: nil)
        }
        return PublishVerdict(decision: decision)
    }

    /// The ACL on the subject itself, and `allow_responses`.
    private mutating func decideSubject(_ publish: Publish, policy: ServicePolicy, now: UInt64) -> PolicyDecision {
        publish.subject.withUnsafeBytes { subject in
            var rules = self.cache.decision(forSubjectBytes: subject, in: policy)
            if rules.verdict == .deny, rules.reason == .literalSubjectRequired,
                let pattern = Self.jetStreamSubjectWithFilter(publish.subject)
            {
                // `CONSUMER.CREATE.S.C.<filter>` names a subject of its own, not a wildcard publish.
                rules = policy.decidePublish(pattern: pattern)
            }
            if publish.reply == nil && self.responses == nil { return rules }
            let replyIsReserved = publish.reply?.withUnsafeBytes { ServicePolicy.isReservedReply($0) } ?? false
            return policy.decidePublish(
                subjectBytes: subject, replyIsReserved: replyIsReserved, ruleDecision: rules,
                responses: &self.responses,
                now: now)
        }
    }

    /// The subject, when it is a JetStream API call whose subject part may hold wildcards and every
    /// token before that part is literal.
    private static func jetStreamSubjectWithFilter(_ subject: WireString) -> String? {
        guard subject.withUnsafeBytes(JetStreamCall.isAPISubject) else { return nil }
        let text = subject.string
        guard let fixed = JetStreamCall.literalPrefixTokens(subject: text) else { return nil }
        let prefix = text.split(separator: ".", omittingEmptySubsequences: false).prefix(fixed)
        return prefix.contains(where: { $0 == "*" || $0 == ">" }) ? nil : text
    }

    private func decideHeaders(_ publish: Publish, length: Int, policy: ServicePolicy) -> PublishVerdict? {
        let decision: ContainmentDecision
        do throws(ContainmentRefusal) {
            let requirements = try publish.payload.withUnsafeReadableBytes { bytes throws(ContainmentRefusal) in
                try PublishHeaders.requirements(
                    UnsafeBufferPointer(rebasing: bytes.bindMemory(to: UInt8.self)[..<length]))
            }
            guard !requirements.isEmpty else { return nil }
            decision = ContainmentDecision.decide(requirements, policy: policy)
        } catch {
            decision = ContainmentDecision.refused(error, mode: policy.mode)
        }
        guard let denial = decision.denial else { return nil }
        let text: String
        switch decision.requirement {
        case let requirement? where requirement.kind == .receive:
            text = "Permissions Violation for Subscription to \"\(requirement.subject)\""
        case let requirement?:
            text = "Permissions Violation for Publish to \"\(requirement.subject)\""
        case nil:
            text = "Permissions Violation for Publish to \"\(publish.subject)\""
        }
        return PublishVerdict(decision: denial, reason: decision.reason, errorText: text)
    }

    /// A JetStream API call whose subject the ACL allowed (`subjectDecision`), decided by its effects. A
    /// refusal is answered as nats-server's JetStream API answers an error, not with `-ERR`: the publish
    /// itself was allowed. Without `streamSubjects`, a consumer without a filter awaits its stream's.
    private func decideJetStream(
        _ call: JetStreamCall, _ publish: Publish, policy: ServicePolicy, subjectDecision: PolicyDecision,
        streamSubjects: [String]?
    ) -> PublishVerdict {
        let decided = publish.payload.withUnsafeReadableBytes { bytes in
            let body = UnsafeBufferPointer(rebasing: bytes.bindMemory(to: UInt8.self)[(publish.headerLength ?? 0)...])
            return JetStreamCheck.decide(call, body: body, policy: policy, streamSubjects: streamSubjects)
        }
        guard let decision = decided else { return PublishVerdict(decision: subjectDecision, awaitsStream: call) }
        guard let denial = decision.denial else { return PublishVerdict(decision: subjectDecision) }
        let reason = decision.reason ?? "the request"
        let description =
            denial.reason == .notUnderstood
            ? "Warden refused the request: \(reason)"
            : "Permissions Violation: \(reason) (\(denial.ruleDescription))"
        return PublishVerdict(
            decision: denial, reason: decision.reason, jetStream: JetStreamRefusal(call: call, description: description)
        )
    }

    /// Decides a publish that awaited its stream's subjects (`PublishVerdict.awaitsStream`), now that
    /// they are known; `subjectDecision` is what `decide` made of its subject.
    func decide(
        _ publish: Publish, awaiting call: JetStreamCall, subjectDecision: PolicyDecision, streamSubjects: [String]
    ) -> PublishVerdict {
        guard let policy = self.policy else {
            return .refused(PolicySnapshot.unknownServiceDecision, publishingTo: publish.subject)
        }
        return self.decideJetStream(
            call, publish, policy: policy, subjectDecision: subjectDecision, streamSubjects: streamSubjects)
    }
}

/// What `PublishGuard` decided about one publish, and how a refusal is told. Nearly every publish is
/// decided by its subject alone: what else a verdict may carry sits behind one reference, nil then, so
/// that the verdict is a small value on the per-message path.
struct PublishVerdict {
    var decision: PolicyDecision
    private let details: Details?

    private final class Details {
        let reason: String?
        let errorText: String?
        let jetStream: JetStreamRefusal?
        let awaitsStream: JetStreamCall?

        init(reason: String?, errorText: String?, jetStream: JetStreamRefusal?, awaitsStream: JetStreamCall?) {
            self.reason = reason
            self.errorText = errorText
            self.jetStream = jetStream
            self.awaitsStream = awaitsStream
        }
    }

    init(
        decision: PolicyDecision, reason: String? = nil, errorText: String? = nil, jetStream: JetStreamRefusal? = nil,
        awaitsStream: JetStreamCall? = nil
    ) {
        self.decision = decision
        let plain = reason == nil && errorText == nil && jetStream == nil && awaitsStream == nil
        self.details =
            plain
            ? nil
            : Details(reason: reason, errorText: errorText, jetStream: jetStream, awaitsStream: awaitsStream)
    }

    /// What beyond the subject was refused (a reply's or header's subject, a JetStream field), for the record.
    var reason: String? { self.details?.reason }
    /// The text of nats-server's `-ERR` for the refusal; nil when it is answered as a JetStream API error.
    var errorText: String? { self.details?.errorText }
    /// The answer to a refused JetStream API call.
    var jetStream: JetStreamRefusal? { self.details?.jetStream }
    /// Set when nothing is decided yet: the call (a consumer without a filter) reads every subject of its
    /// stream, which must be looked up first.
    var awaitsStream: JetStreamCall? { self.details?.awaitsStream }

    static func refused(_ decision: PolicyDecision, publishingTo subject: WireString) -> PublishVerdict {
        PublishVerdict(decision: decision, errorText: "Permissions Violation for Publish to \"\(subject)\"")
    }

    /// A publish refused for its reply subject, told as nats-server tells it.
    static func refused(_ decision: PolicyDecision, replyingTo reply: WireString) -> PublishVerdict {
        PublishVerdict(decision: decision, errorText: "Permissions Violation for Publish with Reply of \"\(reply)\"")
    }
}
