/// `allow_responses`: a service may publish to the reply subject of a request delivered to it, at most
/// `maxMessages` times within `expires` of the delivery, even when no publish rule names that subject.
public struct ResponsePermission: Hashable, Sendable {
    /// nats-server's defaults for `allow_responses: true`.
    public static let defaultMaxMessages = 1
    public static let defaultExpires: Duration = .seconds(120)

    public var maxMessages: Int
    public var expires: Duration
    public var source: SourceLocation

    public init(
        maxMessages: Int = Self.defaultMaxMessages,
        expires: Duration = Self.defaultExpires,
        source: SourceLocation
    ) {
        self.maxMessages = maxMessages
        self.expires = expires
        self.source = source
    }
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

    private var grants: [String: Grant] = [:]
    public let permission: ResponsePermission
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
        let expires = self.permission.expires.components
        let nanos = UInt64(max(0, expires.seconds)) &* 1_000_000_000 &+ UInt64(max(0, expires.attoseconds / 1_000_000_000))
        if self.grants.count >= self.limit, self.grants[reply] == nil { self.prune(now: now) }
        self.grants[reply] = Grant(remaining: self.permission.maxMessages, expiresAt: now &+ nanos)
    }

    /// Uses one response to `subject` if a live grant exists; false when none does.
    public mutating func consume(_ subject: String, now: UInt64) -> Bool {
        guard var grant = self.grants[subject] else { return false }
        if now >= grant.expiresAt {
            self.grants[subject] = nil
            return false
        }
        grant.remaining -= 1
        if grant.remaining <= 0 {
            self.grants[subject] = nil
        } else {
            self.grants[subject] = grant
        }
        return true
    }

    private mutating func prune(now: UInt64) {
        self.grants = self.grants.filter { $0.value.expiresAt > now }
        if self.grants.count >= self.limit {
            // Still full of live grants: forget the ones closest to expiry. Forgetting fails closed.
            let victims = self.grants.sorted { $0.value.expiresAt < $1.value.expiresAt }.prefix(self.grants.count / 4 + 1)
            for (subject, _) in victims { self.grants[subject] = nil }
        }
    }
}
