import NATSProtocol
import WardenPolicy

/// One connection's subscriptions as nats-server holds them, by sid: what each delivery is checked
/// against, and what an ACL reload decides again.
///
/// Two things nats-server does make a sid an unreliable name for one subscription, and Warden errs
/// towards dropping a delivery whenever it cannot tell which subscription a sid stands for:
/// - nats-server keeps the first subscription made with a sid and ignores a later SUB that repeats it
///   while it is live. Warden keeps both, and checks the sid's deliveries against both delivery filters.
/// - After an UNSUB (the client's, or Warden's at a reload) deliveries nats-server sent before it may
///   still arrive. The ended subscription's checks stay until the PONG of a PING sent after the UNSUB
///   comes back: nats-server answers in order, so nothing of the old subscription follows it. When
///   the client sends no such PING, Warden sends one itself (`needsPing`).
///
/// `UNSUB sid max` ends a subscription after `max` more deliveries, counted from the UNSUB. nats-server
/// counts from the SUB, so Warden may believe a subscription live for longer than it is, never shorter:
/// nats-server may already have ended it, and a SUB repeating the sid may be a new subscription there.
/// So the end of the count removes only the oldest subscription with the sid, and the others keep
/// their filters.
struct SubscriptionTable {
    struct Subscription {
        var subject: String
        var queue: String?
        /// The deny entries it overlaps: what its deliveries are checked against.
        var filter: [Rule] = []
        /// Which subjects it matches; nil for a subject that is not valid (let through in audit mode),
        /// which matches none.
        let pattern: SubjectPattern?

        init(subject: String, queue: String? = nil, filter: [Rule] = []) {
            self.subject = subject
            self.queue = queue
            self.filter = filter
            self.pattern = SubjectPattern(subject)
        }
    }

    /// What deliveries to one sid are checked against. A sid whose deliveries need no check has none.
    private struct Check {
        /// The filters of the live subscriptions with this sid, together.
        var filter: [Rule] = []
        /// Deliveries left before nats-server ends the live subscription (`UNSUB sid max`).
        var remaining: Int?
        /// Ended subscriptions with this sid that nats-server may still be delivering for.
        var ending: [Ending] = []

        var isEmpty: Bool { self.filter.isEmpty && self.remaining == nil && self.ending.isEmpty }
    }

    private struct Ending {
        var filter: [Rule]
        /// Set when Warden removed the subscription at an ACL reload: every delivery is dropped with it.
        var removal: PolicyDecision?
        /// Over once this many PONGs came back (the first PING forwarded after the UNSUB).
        var untilPongs: Int
    }

    /// Live subscriptions by sid: usually one each, more only when a client repeated a live sid.
    private(set) var live: [String: [Subscription]] = [:] {
        didSet {
            self.recentSid = []
            self.recentLiteral = nil
        }
    }
    /// The sid of the last delivery and the patterns of its live subscriptions: nearly every delivery
    /// goes to the sid of the one before, so most need no look-up by sid. Empty: nothing cached (no
    /// sid is empty).
    private var recentSid: [UInt8] = []
    private var recentPatterns: [SubjectPattern?] = []
    /// The recent sid's subject, when it has exactly one subscription and that one is literal: then a
    /// delivery needs only a comparison of bytes.
    private var recentLiteral: [UInt8]?
    private var checks: [String: Check] = [:]
    private var endingCount = 0
    /// The PONG the latest ended subscription waits for.
    private var lastEndingUntilPongs = 0

    /// Whether any delivery needs a look at all: the per-message path asks this first.
    var needsChecks: Bool { !self.checks.isEmpty }

    /// Whether an ended subscription waits for a PING that has not been sent: none was sent upstream
    /// after its UNSUB, and `pingsForwarded` have been so far.
    func needsPing(pingsForwarded: Int) -> Bool {
        self.endingCount > 0 && self.lastEndingUntilPongs > pingsForwarded
    }

    /// How many ended subscriptions still have their checks (tests).
    var endingSubscriptions: Int { self.endingCount }

    /// The client subscribed with `sid` and the policy allowed it.
    mutating func subscribed(sid: String, _ subscription: Subscription) {
        var check = self.checks[sid] ?? Check()
        if self.live[sid] == nil {
            check.filter = []
            check.remaining = nil
        }
        // A repeated sid: nats-server keeps the first and ignores this one, unless it has already
        // ended the first (`UNSUB sid max`). Which one delivers cannot be told apart.
        self.live[sid, default: []].append(subscription)
        Self.merge(subscription.filter, into: &check.filter)
        self.store(check, sid)
    }

    /// The client unsubscribed `sid`, now or (`max`) after that many more deliveries. `pingsForwarded`
    /// counts the PINGs sent upstream before this UNSUB, the client's and Warden's.
    mutating func unsubscribed(sid: String, max: Int?, pingsForwarded: Int) {
        guard self.live[sid] != nil else { return }
        if let max, max > 0 {
            var check = self.checks[sid] ?? Check()
            check.remaining = max
            self.store(check, sid)
        } else {
            self.end(sid: sid, removal: nil, pingsForwarded: pingsForwarded)
        }
    }

    /// Warden removed `sid`'s subscriptions (ACL reload) and sends nats-server an UNSUB: what is still
    /// delivered for them is dropped with `decision`.
    mutating func removed(sid: String, decision: PolicyDecision, pingsForwarded: Int) {
        self.end(sid: sid, removal: decision, pingsForwarded: pingsForwarded)
    }

    /// The delivery filters of `sid`'s live subscriptions, decided again (ACL reload): one for each, in
    /// the order of `live[sid]`.
    mutating func refiltered(sid: String, filters: [[Rule]]) {
        guard var subscriptions = self.live[sid], subscriptions.count == filters.count else { return }
        for index in subscriptions.indices { subscriptions[index].filter = filters[index] }
        self.live[sid] = subscriptions
        var check = self.checks[sid] ?? Check()
        check.filter = Self.union(subscriptions)
        self.store(check, sid)
    }

    /// Whether a delivery to `sid` on `subject` is dropped: the decision that drops it, or nil. Counts
    /// the delivery against an `UNSUB sid max`.
    mutating func delivery(sid: String, subject: WireString, policy: ServicePolicy?) -> PolicyDecision? {
        guard var check = self.checks[sid] else { return nil }
        let denial = Self.denial(check, subject: subject, policy: policy)
        if let remaining = check.remaining {
            if remaining > 1 {
                check.remaining = remaining - 1
            } else {
                // The last one: nats-server has ended the subscription it held for the sid, the oldest.
                // A later SUB with the sid may be live there (if the count ended earlier there), so it
                // keeps its filter.
                self.live[sid]?.removeFirst()
                if self.live[sid]?.isEmpty == true { self.live[sid] = nil }
                check.remaining = nil
                check.filter = Self.union(self.live[sid] ?? [])
            }
            self.store(check, sid)
        }
        return denial
    }

    /// Whether a delivery to `sid` on `subject` is data from elsewhere: no live subscription with the sid
    /// matches its subject (a JetStream delivery, which carries the subject it was stored on, or a sid
    /// Warden does not hold). Costs a comparison of the sid with the last one's and of the subject with
    /// the subscription's pattern.
    mutating func isForeign(sid: WireString, subject: WireString) -> Bool {
        let same = sid.withUnsafeBytes { sid in self.recentSid.withUnsafeBufferPointer { Self.equal(sid, $0) } }
        if !same {
            // Clients number their subscriptions, so as a `String` the sid needs no allocation.
            let key = sid.string
            let subscriptions = self.live[key] ?? []
            self.recentPatterns = subscriptions.map(\.pattern)
            self.recentLiteral =
                subscriptions.count == 1 && subscriptions[0].pattern?.hasWildcards == false
                ? Array(subscriptions[0].subject.utf8) : nil
            self.recentSid = Array(key.utf8)
        }
        return subject.withUnsafeBytes { subject in
            if let literal = self.recentLiteral {
                return !literal.withUnsafeBufferPointer { Self.equal(subject, $0) }
            }
            return self.recentPatterns.withUnsafeBufferPointer { patterns in
                for index in patterns.indices where patterns[index]?.matches(literal: subject) == true { return false }
                return true
            }
        }
    }

    @inline(__always)
    private static func equal(_ lhs: UnsafeBufferPointer<UInt8>, _ rhs: UnsafeBufferPointer<UInt8>) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for index in 0..<lhs.count where lhs[index] != rhs[index] { return false }
        return true
    }

    /// The queue group of `sid`'s subscription, to decide a delivery from elsewhere in it.
    func queue(of sid: WireString) -> String? {
        self.live[sid.string]?.first?.queue
    }

    /// The sids of the live subscriptions that `subject` reaches, as nats-server would deliver a
    /// message on it to this connection: where Warden delivers its own answers to a request.
    func sids(matching subject: String) -> [String] {
        self.live.filter { $0.value.contains { $0.pattern?.matches(subject) ?? false } }.keys.sorted()
    }

    /// A PONG came back from nats-server, the `pongsReturned`-th: subscriptions ended before the PING
    /// it answers get nothing more.
    mutating func pongReturned(_ pongsReturned: Int) {
        guard self.endingCount > 0 else { return }
        for sid in Array(self.checks.keys) {
            guard var check = self.checks[sid], !check.ending.isEmpty else { continue }
            let before = check.ending.count
            check.ending.removeAll { $0.untilPongs <= pongsReturned }
            self.endingCount -= before - check.ending.count
            self.store(check, sid)
        }
    }

    private mutating func end(sid: String, removal: PolicyDecision?, pingsForwarded: Int) {
        guard self.live[sid] != nil else { return }
        self.live[sid] = nil
        var check = self.checks[sid] ?? Check()
        if removal != nil || !check.filter.isEmpty {
            check.ending.append(Ending(filter: check.filter, removal: removal, untilPongs: pingsForwarded + 1))
            self.endingCount += 1
            self.lastEndingUntilPongs = pingsForwarded + 1
        }
        check.filter = []
        check.remaining = nil
        self.store(check, sid)
    }

    /// The deny entries of `subscriptions`' filters, each once.
    private static func union(_ subscriptions: [Subscription]) -> [Rule] {
        var rules: [Rule] = []
        for subscription in subscriptions { Self.merge(subscription.filter, into: &rules) }
        return rules
    }

    /// Adds the entries of `filter` that `rules` lacks: a filter is a few of the policy's deny entries.
    private static func merge(_ filter: [Rule], into rules: inout [Rule]) {
        for rule in filter where !rules.contains(where: { $0 === rule }) { rules.append(rule) }
    }

    private mutating func store(_ check: Check, _ sid: String) {
        self.checks[sid] = check.isEmpty ? nil : check
    }

    private static func denial(_ check: Check, subject: WireString, policy: ServicePolicy?) -> PolicyDecision? {
        for ending in check.ending {
            if let removal = ending.removal { return removal }
        }
        if let denial = Self.denial(check.filter, subject: subject, policy: policy) { return denial }
        for ending in check.ending {
            if let denial = Self.denial(ending.filter, subject: subject, policy: policy) { return denial }
        }
        return nil
    }

    private static func denial(_ filter: [Rule], subject: WireString, policy: ServicePolicy?) -> PolicyDecision? {
        guard !filter.isEmpty else { return nil }
        // A session without a policy has no live subscriptions; a filter left over is enforced.
        guard let policy else { return PolicySnapshot.unknownServiceDecision }
        return subject.withUnsafeBytes { policy.decideDelivery(subjectBytes: $0, filter: filter) }
    }
}
