/// Where a rule was written: an ACL file and a line in it.
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int

    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    public var description: String { "\(self.file):\(self.line)" }
}

/// The operation a rule governs.
public enum Operation: String, Hashable, Sendable {
    case publish
    case subscribe
    /// Where the service may direct answers: the reply subjects of its requests and the deliver
    /// subjects of its JetStream consumers (`replies` entries).
    case reply
}

/// Whether a rule grants or refuses.
public enum Effect: String, Hashable, Sendable {
    case allow
    case deny
}

/// One ACL entry after template expansion: a subject pattern, an optional queue group, and where it was written.
///
/// Rules are reference types so that a decision can point at the rule that made it without copying it.
public final class Rule: Hashable, Sendable, CustomStringConvertible {
    /// Order of the rule within its service (defaults first, then the service's own, in file order);
    /// when several rules match, the lowest order is reported as the one that decided.
    public let order: Int
    public let operation: Operation
    public let effect: Effect
    /// The subject pattern, template already expanded.
    public let pattern: String
    /// The queue group the entry is limited to (subscribe entries only), or nil for any.
    public let queue: String?
    public let source: SourceLocation
    /// True when the rule came from the `defaults` section.
    public let fromDefaults: Bool
    @usableFromInline let tokens: [Substring]

    /// Creates a rule; fails when the pattern is not a valid subject.
    public init(
        order: Int,
        operation: Operation,
        effect: Effect,
        pattern: String,
        queue: String?,
        source: SourceLocation,
        fromDefaults: Bool = false
    ) throws(PolicyError) {
        guard let tokens = Subject.tokens(pattern) else {
            throw PolicyError(.invalidSubject, "invalid subject \"\(pattern)\": \(Self.subjectProblem(pattern))")
        }
        if let queue {
            if operation != .subscribe {
                let section = operation == .reply ? "replies" : "publish"
                throw PolicyError(.invalidQueue, "\(section) entry \"\(pattern) \(queue)\" cannot name a queue group")
            }
            if queue == reservedQueueName {
                throw PolicyError(.invalidQueue, "queue group \"\(reservedQueueName)\" is reserved by NATS")
            }
        }
        self.order = order
        self.operation = operation
        self.effect = effect
        self.pattern = pattern
        self.queue = queue
        self.source = source
        self.fromDefaults = fromDefaults
        self.tokens = tokens
        let kind = operation == .reply ? "replies" : "\(operation.rawValue).\(effect.rawValue)"
        let section = (fromDefaults ? "defaults." : "") + kind
        let entry = queue.map { "\(pattern) \($0)" } ?? pattern
        self.description = "\(source) \(section) \"\(entry)\""
    }

    /// The reply entry every service has without writing it: its own inbox, `_INBOX.SERVICE.>`, the
    /// prefix services give their NATS client (README, "Request/reply").
    public static func ownInbox(service: String) -> Rule {
        Rule(ownInbox: "\(inboxPrefix).\(service).>")
    }

    private init(ownInbox pattern: String) {
        self.order = -1
        self.operation = .reply
        self.effect = .allow
        self.pattern = pattern
        self.queue = nil
        self.source = SourceLocation(file: "built-in", line: 0)
        self.fromDefaults = true
        self.tokens = Subject.tokens(pattern) ?? []
        self.description = "built-in replies \"\(pattern)\" (the service's own inbox)"
    }

    /// `file:line section.effect "pattern[ queue]"`: how decisions and `warden explain` name the rule.
    /// Stored, because the decision log writes it for every operation.
    public let description: String

    /// Whether the literal subject in `subject` (UTF-8 bytes, already validated) is matched by this
    /// rule's pattern. Walks the bytes like the trie does, without splitting the subject.
    func matches(literal subject: UnsafeBufferPointer<UInt8>) -> Bool {
        var start = 0
        for token in self.tokens {
            if Subject.isFullWildcard(token) { return start <= subject.count }
            guard start <= subject.count else { return false }
            let end = SubjectBytes.tokenEnd(subject, from: start)
            if !Subject.isSingleWildcard(token) {
                let matched =
                    token.utf8.withContiguousStorageIfAvailable {
                        SubjectBytes.equal($0, UnsafeBufferPointer(rebasing: subject[start..<end]))
                    } ?? token.utf8.elementsEqual(subject[start..<end])
                if !matched { return false }
            }
            start = end + 1
        }
        return start > subject.count
    }

    public static func == (lhs: Rule, rhs: Rule) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    /// A short explanation of why `subject` is not a valid subject.
    public static func subjectProblem(_ subject: String) -> String {
        if subject.isEmpty { return "a subject cannot be empty" }
        if subject.contains(where: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\u{0C}" }) {
            return "a subject cannot contain whitespace"
        }
        let parts = subject.split(separator: ".", omittingEmptySubsequences: false)
        if parts.contains(where: \.isEmpty) { return "empty token (leading, trailing or doubled '.')" }
        if parts.dropLast().contains(where: Subject.isFullWildcard) { return "'>' must be the last token" }
        return "not a valid NATS subject"
    }
}

/// The inbox prefix NATS clients use for reply subjects; services add their own name to it.
public let inboxPrefix = "_INBOX"

/// The queue group name NATS reserves for itself; no client may subscribe with it.
public let reservedQueueName = "_sys_"

/// Reply subject prefixes nats-server refuses from clients (internal routing and JetStream acks).
public let reservedReplyPrefixes = ["_R_.", "$JS.ACK.", "$GNR."]

/// Where Warden publishes its audit events (`warden.audit.deny.OP.SERVICE`). Only Warden publishes
/// here: a service's publish under it is refused whatever its ACL says and in every mode, so that no
/// service can forge an event.
public let auditSubjectPrefix = "warden.audit"

/// Where Wardens sharing a NATS cluster announce themselves to each other (`warden.peers.heartbeat`),
/// so that each tells its clients where the others are. Reserved as the audit subjects are: a forged
/// heartbeat would send clients to an address of the forger's choosing.
public let peerSubjectPrefix = "warden.peers"

/// The JetStream KeyValue bucket of the fleet's signed state (`warden fleet push`). A service's publish to
/// its subjects (`$KV.WARDEN.>`) or JetStream API call on its stream (`KV_WARDEN`) is refused whatever its
/// ACL says: a service could not forge a bundle (each is signed by the CA), but it could delete or flood
/// the bucket, or read the fleet's ACLs and inventory.
public let fleetBucketName = "WARDEN"
