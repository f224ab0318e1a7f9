/// Whether a service's rules are enforced or only recorded.
public enum PolicyMode: String, Hashable, Sendable {
    /// Denied operations are refused.
    case enforce
    /// Every operation is decided and logged, but denied ones still go through (a dry run).
    case audit
}

/// The outcome of one policy check: allow or deny, and why.
public struct PolicyDecision: Hashable, Sendable {
    public enum Verdict: String, Hashable, Sendable {
        case allow
        case deny
    }

    /// What decided.
    public enum Reason: Hashable, Sendable {
        /// An ACL entry matched.
        case rule(Rule)
        /// No entry allows the operation.
        case defaultDeny
        /// The service is not defined in any ACL file.
        case unknownService
        /// A publish subject contained a wildcard.
        case literalSubjectRequired
        /// The subject is not a valid NATS subject.
        case invalidSubject
        /// The subscription named the queue group NATS reserves.
        case reservedQueue
        /// The publish named a reply subject with a prefix NATS reserves.
        case reservedReply
        /// A reply (or deliver) subject the service may not direct answers to: no `replies` entry names it,
        /// and it is not a subject the service may receive on that is its own inbox or one it may
        /// publish to.
        case defaultDenyReply
        /// Something Warden cannot check (an unknown JetStream configuration field, a body that is
        /// not what nats-server expects): refused rather than passed unchecked.
        case notUnderstood
        /// The publish was to Warden's audit subjects (`auditSubjectPrefix`), which only Warden publishes to.
        case auditSubject
        /// The publish was to Warden's heartbeat subjects (`peerSubjectPrefix`), by which Wardens tell
        /// each other, and so their clients, where they are: only Warden publishes to them.
        case peerSubject
        /// The publish was to the fleet's state (`fleetBucketName`: its KeyValue subjects, or a JetStream
        /// API call on its stream), which only Warden's own tools write and read.
        case fleetState
        /// A publish to the reply subject of a request delivered to this service (`allow_responses`).
        indirect case response(ResponsePermission)
    }

    public var verdict: Verdict
    public var reason: Reason
    public var mode: PolicyMode

    public init(_ verdict: Verdict, _ reason: Reason, mode: PolicyMode) {
        self.verdict = verdict
        self.reason = reason
        self.mode = mode
    }

    /// Whether the operation may proceed: it was allowed, or the service is in audit mode.
    @inlinable
    public var isPermitted: Bool { self.verdict == .allow || self.mode == .audit }

    /// The rule that decided, when an ACL entry did.
    public var rule: Rule? {
        if case .rule(let rule) = self.reason { return rule }
        return nil
    }

    /// The rule that decided with its `file:line`, or what decided instead (`default deny`, ...).
    public var ruleDescription: String {
        switch self.reason {
        case .rule(let rule): return rule.description
        case .defaultDeny: return "default deny"
        case .unknownService: return "default deny (service not defined in any ACL file)"
        case .literalSubjectRequired: return "publish subject must be literal"
        case .invalidSubject: return "invalid subject"
        case .reservedQueue: return "reserved queue group \"\(reservedQueueName)\""
        case .reservedReply: return "reserved reply subject prefix"
        case .defaultDenyReply: return "default deny (reply subject)"
        case .notUnderstood: return "not understood by Warden (refused)"
        case .auditSubject: return "reserved for Warden's audit events \"\(auditSubjectPrefix).>\""
        case .peerSubject: return "reserved for Warden's heartbeats \"\(peerSubjectPrefix).>\""
        case .fleetState: return "reserved for Warden's fleet state (KeyValue bucket \(fleetBucketName))"
        case .response(let permission): return permission.ruleDescription
        }
    }
}

/// The outcome of a subscribe check. An allowed subscription may carry a delivery filter: the deny
/// entries that overlap it without containing it, which messages must be checked against at delivery.
public struct SubscriptionDecision: Hashable, Sendable {
    public var decision: PolicyDecision
    /// Deny rules to apply to each delivered message; empty when no delivery can be denied.
    public var deliveryFilter: [Rule]

    public init(_ decision: PolicyDecision, deliveryFilter: [Rule] = []) {
        self.decision = decision
        self.deliveryFilter = deliveryFilter
    }
}
