/// `allow_responses`: a service may publish to the reply subject of a request delivered to it, at most
/// `maxMessages` times within `expires` of the delivery, even when no publish rule names that subject.
public struct ResponsePermission: Hashable, Sendable {
    /// nats-server's defaults for `allow_responses: true`.
    public static let defaultMaxMessages = 1
    public static let defaultExpires: Duration = .seconds(120)

    public var maxMessages: Int
    public var expires: Duration
    public var source: SourceLocation {
        didSet { self.ruleDescription = Self.describe(self.source) }
    }
    /// How decision records name it: `file:line allow_responses`. Kept, not formatted per record.
    public private(set) var ruleDescription: String

    public init(
        maxMessages: Int = Self.defaultMaxMessages,
        expires: Duration = Self.defaultExpires,
        source: SourceLocation
    ) {
        self.maxMessages = maxMessages
        self.expires = expires
        self.source = source
        self.ruleDescription = Self.describe(source)
    }

    private static func describe(_ source: SourceLocation) -> String { "\(source) allow_responses" }
}

/// The reply subjects a connection may currently publish to under `allow_responses`, granted when a
/// request is delivered to it and used up by publishing or by time.
///
/// Times are passed in by the caller (monotonic nanoseconds) so that the tracker does no I/O.
public struct ResponseTracker: Sendable {
    private struct Grant: Sendable {
        var remaining: Int
        var expiresAt: UInt64
    }

    private var grants: [ReplyKey: Grant] = [:]
    public private(set) var permission: ResponsePermission
    /// Past this many outstanding grants, expired ones are pruned; past it again, the oldest go first.
    public let limit: Int

    public init(permission: ResponsePermission, limit: Int = 4096) {
        self.permission = permission
        self.limit = limit
    }

    /// The number of reply subjects currently granted.
    public var count: Int { self.grants.count }

    /// Records that a message with reply subject `reply` was delivered at `now`.
    public mutating func grant(_ reply: String, now: UInt64) {
        SubjectBytes.withBytes(reply) { self.grant(replyBytes: $0, now: now) }
    }

    /// `grant(_:now:)` for a reply subject given as the bytes it arrived as.
    public mutating func grant(replyBytes reply: UnsafeBufferPointer<UInt8>, now: UInt64) {
        let key = ReplyKey(reply)
        let nanos = Self.nanoseconds(self.permission.expires)
        if self.grants.count >= self.limit, self.grants[key] == nil { self.prune(now: now) }
        self.grants[key] = Grant(remaining: self.permission.maxMessages, expiresAt: now &+ nanos)
    }

    /// Takes `permission` (reloaded ACLs) for the grants to come. Grants already made keep their
    /// reply subjects, but never more than the new limits: at most its `maxMessages` responses
    /// each, and its `expires` from `now` at the latest.
    public mutating func adopt(_ permission: ResponsePermission, now: UInt64) {
        let latest = now &+ Self.nanoseconds(permission.expires)
        self.grants = self.grants.compactMapValues { grant in
            let remaining = min(grant.remaining, permission.maxMessages)
            return remaining > 0 ? Grant(remaining: remaining, expiresAt: min(grant.expiresAt, latest)) : nil
        }
        self.permission = permission
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let parts = duration.components
        return UInt64(max(0, parts.seconds)) &* 1_000_000_000 &+ UInt64(max(0, parts.attoseconds / 1_000_000_000))
    }

    /// Uses one response to `subject` if a live grant exists; false when none does.
    public mutating func consume(_ subject: String, now: UInt64) -> Bool {
        SubjectBytes.withBytes(subject) { self.consume(subjectBytes: $0, now: now) }
    }

    /// `consume(_:now:)` for a subject given as the bytes it arrived as.
    public mutating func consume(subjectBytes subject: UnsafeBufferPointer<UInt8>, now: UInt64) -> Bool {
        let key = ReplyKey(subject)
        guard var grant = self.grants[key] else { return false }
        if now >= grant.expiresAt {
            self.grants[key] = nil
            return false
        }
        grant.remaining -= 1
        if grant.remaining <= 0 {
            self.grants[key] = nil
        } else {
            self.grants[key] = grant
        }
        return true
    }

    private mutating func prune(now: UInt64) {
        self.grants = self.grants.filter { $0.value.expiresAt > now }
        if self.grants.count >= self.limit {
            // Still full of live grants: forget the ones closest to expiry. Forgetting fails closed.
            let victims = self.grants.sorted { $0.value.expiresAt < $1.value.expiresAt }.prefix(
                self.grants.count / 4 + 1)
            for (subject, _) in victims { self.grants[subject] = nil }
        }
    }
}

/// A reply subject as a grant's key. Subjects of up to 64 bytes (inbox subjects such as
/// `_INBOX.<prefix>.<nuid>.<n>` are about 40) are held inline, so that granting and using a response
/// allocates nothing; longer ones keep their bytes in an array. Keys compare byte for byte: a grant
/// is never matched by a different subject.
struct ReplyKey: Hashable, Sendable {
    static let inlineCapacity = MemoryLayout<SIMD8<UInt64>>.size

    /// The subject's bytes, zero-padded, when it fits.
    private var inline: SIMD8<UInt64> = .zero
    private var count: Int
    /// The subject's bytes when it does not fit inline.
    private var spilled: [UInt8]?

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.count = bytes.count
        if bytes.count <= Self.inlineCapacity {
            withUnsafeMutableBytes(of: &self.inline) { storage in
                storage.copyMemory(from: UnsafeRawBufferPointer(bytes))
            }
        } else {
            self.spilled = Array(bytes)
        }
    }

    /// Hashes only the subject's bytes (equality, synthesized, compares all three properties).
    func hash(into hasher: inout Hasher) {
        hasher.combine(self.count)
        if let spilled = self.spilled {
            spilled.withUnsafeBytes { hasher.combine(bytes: $0) }
        } else {
            withUnsafeBytes(of: self.inline) {
                hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: $0.prefix(self.count)))
            }
        }
    }
}
