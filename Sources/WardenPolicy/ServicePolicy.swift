/// One service's compiled rules: what it may publish and subscribe to, and how strictly.
///
/// Immutable once built; evaluation is a trie walk over the subject's tokens and does no I/O. A class:
/// every connection of the service holds it, and a struct of this many references cost a retain and
/// a release of each whenever a decision bound it.
public final class ServicePolicy: Sendable {
    public let name: String
    public let mode: PolicyMode
    /// Every rule of the service, defaults first, in file order.
    public let rules: [Rule]
    /// Set when the service may answer requests delivered to it (`allow_responses`).
    public let allowResponses: ResponsePermission?

    let publishAllow: SubjectTrie
    let publishDeny: SubjectTrie
    let subscribeAllow: SubjectTrie
    let subscribeDeny: SubjectTrie
    /// The `replies` entries: where answers may go besides the checks of `decideReply`.
    let replyAllow: SubjectTrie
    /// `_INBOX.<name>.>`, the service's own inbox (`Rule.ownInbox`).
    let ownInbox: Rule
    /// The decision for a publish allowed as a response, made once: `.response` is an indirect case,
    /// so making it per publish would allocate its box each time.
    private let responseDecision: PolicyDecision?

    public init(name: String, mode: PolicyMode, rules: [Rule], allowResponses: ResponsePermission?) {
        self.name = name
        self.mode = mode
        self.rules = rules.sorted { $0.order < $1.order }
        self.allowResponses = allowResponses
        self.responseDecision = allowResponses.map { PolicyDecision(.allow, .response($0), mode: mode) }
        func pick(_ operation: Operation, _ effect: Effect) -> SubjectTrie {
            SubjectTrie(rules.lazy.filter { $0.operation == operation && $0.effect == effect })
        }
        self.publishAllow = pick(.publish, .allow)
        self.publishDeny = pick(.publish, .deny)
        self.subscribeAllow = pick(.subscribe, .allow)
        self.subscribeDeny = pick(.subscribe, .deny)
        self.replyAllow = pick(.reply, .allow)
        self.ownInbox = Rule.ownInbox(service: name)
    }

    /// May this service publish to `subject`? Rules only: see `decidePublish(subject:reply:responses:now:)`
    /// for the full check with reply subjects and `allow_responses`.
    public func decidePublish(subject: String) -> PolicyDecision {
        SubjectBytes.withBytes(subject) { self.decidePublish(subjectBytes: $0) }
    }

    /// `decidePublish(subject:)` for a subject given as UTF-8 bytes, as it arrives on the wire.
    public func decidePublish(subjectBytes subject: UnsafeBufferPointer<UInt8>) -> PolicyDecision {
        let shape = SubjectBytes.scan(subject)
        guard shape.isValid else {
            return PolicyDecision(.deny, .invalidSubject, mode: self.mode)
        }
        if let reserved = Self.reservedSubject(subject) {
            // Enforced even in audit mode, and first: an audit-mode service must not be able to forge
            // events, nor reach the fleet's bucket with a JetStream API subject that carries a wildcard
            // (a consumer's filter).
            return PolicyDecision(.deny, reserved, mode: .enforce)
        }
        if shape.hasWildcards {
            return PolicyDecision(.deny, .literalSubjectRequired, mode: self.mode)
        }
        if let rule = self.publishDeny.firstContaining(subject) {
            return PolicyDecision(.deny, .rule(rule), mode: self.mode)
        }
        if let rule = self.publishAllow.firstContaining(subject) {
            return PolicyDecision(.allow, .rule(rule), mode: self.mode)
        }
        return PolicyDecision(.deny, .defaultDeny, mode: self.mode)
    }

    /// May this service publish to `subject` with reply subject `reply`?
    ///
    /// A publish that no rule allows is allowed when it answers a request delivered to this connection
    /// (`allow_responses`); that uses up one of the grant's responses. An explicit deny entry wins even
    /// then: deny beats every kind of allow.
    ///
    /// - Parameter ruleDecision: the result of `decidePublish(subject:)`, when the caller has it cached.
    public func decidePublish(
        subject: String,
        reply: String?,
        ruleDecision: PolicyDecision? = nil,
        responses: inout ResponseTracker?,
        now: UInt64
    ) -> PolicyDecision {
        let replyIsReserved = reply.map(Self.isReservedReply) ?? false
        return SubjectBytes.withBytes(subject) {
            self.decidePublish(
                subjectBytes: $0, replyIsReserved: replyIsReserved, ruleDecision: ruleDecision, responses: &responses,
                now: now)
        }
    }

    /// `decidePublish(subject:reply:ruleDecision:responses:now:)` for a subject given as UTF-8 bytes, as
    /// it arrives on the wire, with `isReservedReply` of its reply subject (false without one).
    public func decidePublish(
        subjectBytes subject: UnsafeBufferPointer<UInt8>,
        replyIsReserved: Bool,
        ruleDecision: PolicyDecision? = nil,
        responses: inout ResponseTracker?,
        now: UInt64
    ) -> PolicyDecision {
        if replyIsReserved {
            return PolicyDecision(.deny, .reservedReply, mode: self.mode)
        }
        let decision = ruleDecision ?? self.decidePublish(subjectBytes: subject)
        if decision.reason == .defaultDeny, let responseDecision = self.responseDecision, responses != nil,
            responses!.consume(subjectBytes: subject, now: now)
        {
            return responseDecision
        }
        return decision
    }

    /// May this service subscribe to `subject` (wildcards allowed), optionally in queue group `queue`?
    ///
    /// Allowed only when one allow entry contains the whole subscription. A subscription that overlaps
    /// deny entries without being contained in one is allowed with those entries as its delivery filter.
    public func decideSubscribe(subject: String, queue: String? = nil) -> SubscriptionDecision {
        SubjectBytes.withBytes(subject) { self.decideSubscribe(subjectBytes: $0, queue: queue) }
    }

    private func decideSubscribe(subjectBytes subject: UnsafeBufferPointer<UInt8>, queue: String?)
        -> SubscriptionDecision
    {
        guard SubjectBytes.scan(subject).isValid else {
            return SubscriptionDecision(PolicyDecision(.deny, .invalidSubject, mode: self.mode))
        }
        if queue == reservedQueueName {
            return SubscriptionDecision(PolicyDecision(.deny, .reservedQueue, mode: self.mode))
        }
        if let rule = self.subscribeDeny.firstContaining(subject, queue: queue) {
            return SubscriptionDecision(PolicyDecision(.deny, .rule(rule), mode: self.mode))
        }
        guard let rule = self.subscribeAllow.firstContaining(subject, queue: queue) else {
            return SubscriptionDecision(PolicyDecision(.deny, .defaultDeny, mode: self.mode))
        }
        let filter = self.subscribeDeny.overlapping(subject, queue: queue).sorted { $0.order < $1.order }
        return SubscriptionDecision(PolicyDecision(.allow, .rule(rule), mode: self.mode), deliveryFilter: filter)
    }

    /// The deny decision for delivering a message on `subject` through a subscription with delivery
    /// filter `filter`, or nil when the message may be delivered.
    public func decideDelivery(subject: String, filter: [Rule]) -> PolicyDecision? {
        guard !filter.isEmpty else { return nil }
        return SubjectBytes.withBytes(subject) { self.decideDelivery(subjectBytes: $0, filter: filter) }
    }

    /// `decideDelivery(subject:filter:)` for a subject given as UTF-8 bytes, as it arrives on the wire.
    public func decideDelivery(subjectBytes subject: UnsafeBufferPointer<UInt8>, filter: [Rule]) -> PolicyDecision? {
        let shape = SubjectBytes.scan(subject)
        guard shape.isValid, !shape.hasWildcards else { return nil }
        for rule in filter where rule.matches(literal: subject) {
            return PolicyDecision(.deny, .rule(rule), mode: self.mode)
        }
        return nil
    }

    /// Whether nats-server refuses `reply` as a client's reply subject.
    public static func isReservedReply(_ reply: String) -> Bool {
        SubjectBytes.withBytes(reply) { Self.isReservedReply($0) }
    }

    /// `isReservedReply` for a reply subject given as UTF-8 bytes.
    public static func isReservedReply(_ reply: UnsafeBufferPointer<UInt8>) -> Bool {
        reservedReplyPrefixBytes.contains { prefix in
            reply.count >= prefix.count && reply.prefix(prefix.count).elementsEqual(prefix)
        }
    }

    private static let reservedReplyPrefixBytes = reservedReplyPrefixes.map { Array($0.utf8) }

    /// Whether a literal subject is one of Warden's audit subjects: `auditSubjectPrefix` and a dot, then more.
    public static func isAuditSubject(_ subject: UnsafeBufferPointer<UInt8>) -> Bool {
        let prefix = Self.auditPrefixBytes
        return subject.count > prefix.count && subject.prefix(prefix.count).elementsEqual(prefix)
    }

    private static let auditPrefixBytes = Array((auditSubjectPrefix + ".").utf8)

    /// Whether a literal subject is one of Warden's heartbeat subjects: `peerSubjectPrefix` and a dot, then more.
    public static func isPeerSubject(_ subject: UnsafeBufferPointer<UInt8>) -> Bool {
        let prefix = Self.peerPrefixBytes
        return subject.count > prefix.count && subject.prefix(prefix.count).elementsEqual(prefix)
    }

    private static let peerPrefixBytes = Array((peerSubjectPrefix + ".").utf8)

    /// Whether a literal subject reaches the fleet's state: the bucket's KeyValue subjects
    /// (`$KV.WARDEN.` and more), or a JetStream API call (`$JS.API.`) with a token naming its stream.
    public static func isFleetSubject(_ subject: UnsafeBufferPointer<UInt8>) -> Bool {
        let bucket = Self.fleetBucketPrefixBytes
        if subject.count > bucket.count && subject.prefix(bucket.count).elementsEqual(bucket) { return true }
        let api = Self.jetStreamAPIPrefixBytes
        guard subject.count > api.count && subject.prefix(api.count).elementsEqual(api) else { return false }
        return subject.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).contains {
            $0.elementsEqual(Self.fleetStreamBytes)
        }
    }

    private static let fleetBucketPrefixBytes = Array("$KV.\(fleetBucketName).".utf8)
    private static let fleetStreamBytes = Array("KV_\(fleetBucketName)".utf8)
    private static let jetStreamAPIPrefixBytes = Array("$JS.API.".utf8)

    /// Why a literal subject is Warden's own (audit events, heartbeats, the fleet's state), or nil when it is not.
    static func reservedSubject(_ subject: UnsafeBufferPointer<UInt8>) -> PolicyDecision.Reason? {
        if Self.isAuditSubject(subject) { return .auditSubject }
        if Self.isPeerSubject(subject) { return .peerSubject }
        if Self.isFleetSubject(subject) { return .fleetState }
        return nil
    }
}
