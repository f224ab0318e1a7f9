public import WardenPolicy

/// One thing a request makes nats-server do on the service's behalf, which the service's ACL must
/// allow as if it did it itself.
public struct Requirement: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// nats-server will hand the service messages on these subjects (a consumer's filter, the
        /// subjects a stream captures): decided as a subscription to `subject`.
        case receive
        /// nats-server will publish on these subjects (a republish or transform destination, a trace
        /// destination): decided as publishing to every subject `subject` stands for.
        case publish
        /// nats-server will send answers or deliveries to this subject (a push consumer's deliver
        /// subject): decided as a reply subject (`ServicePolicy.decideReply`).
        case answers
    }

    public var kind: Kind
    public var subject: String
    /// Where the subject came from, for records and messages: `config.filter_subject`, `Nats-Trace-Dest`.
    public var field: String
    /// The queue group the service receives in, for `receive` (a push consumer's deliver group).
    public var queue: String?

    public init(_ kind: Kind, _ subject: String, field: String, queue: String? = nil) {
        self.kind = kind
        self.subject = subject
        self.field = field
        self.queue = queue
    }

    public var description: String { "\(self.field) \"\(self.subject)\"" }

    /// The decision for this requirement under `policy`.
    public func decide(_ policy: ServicePolicy) -> PolicyDecision {
        switch self.kind {
        case .receive: return policy.decideSubscribe(subject: self.subject, queue: self.queue).decision
        case .publish: return policy.decidePublish(pattern: self.subject)
        case .answers: return policy.decideReply(self.subject)
        }
    }
}

/// The outcome of inspecting what a publish makes nats-server do: allowed, or the first requirement
/// the ACL refuses (or what could not be checked at all), with the text for the record and the client.
public struct ContainmentDecision: Sendable {
    /// Nil when every requirement is allowed.
    public var denial: PolicyDecision?
    /// What was refused, in words: `config.deliver_subject "payments.completed"`, or why nothing could be
    /// checked.
    public var reason: String?
    /// The requirement that was refused, when one was.
    public var requirement: Requirement?

    public static let allowed = ContainmentDecision(denial: nil, reason: nil, requirement: nil)

    /// Decides `requirements` in order; the first one denied decides. In audit mode a denial is still
    /// returned (and recorded); the caller lets it through.
    public static func decide(_ requirements: [Requirement], policy: ServicePolicy?) -> ContainmentDecision {
        for requirement in requirements {
            let decision = policy.map(requirement.decide) ?? PolicySnapshot.unknownServiceDecision
            if decision.verdict == .deny {
                return ContainmentDecision(denial: decision, reason: requirement.description, requirement: requirement)
            }
        }
        return .allowed
    }

    /// A request Warden refuses because it cannot check it.
    public static func refused(_ refusal: ContainmentRefusal, mode: PolicyMode) -> ContainmentDecision {
        ContainmentDecision(
            denial: PolicyDecision(.deny, .notUnderstood, mode: mode), reason: refusal.description, requirement: nil)
    }
}
