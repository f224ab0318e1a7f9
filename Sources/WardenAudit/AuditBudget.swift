/// How many audit events each service's denials may publish: a token bucket per service, so that a
/// service flooding denied operations can neither turn Warden into an amplifier onto NATS (a short
/// denied PUB becomes an event of a few hundred bytes) nor crowd the other services' events out of
/// the shared queue. The decision log keeps every record either way.
///
/// Events over the budget are suppressed and counted per service; `dueSummaries` hands out those
/// counts, at most once per `summaryInterval` per service, for a summary event that tells watchers the
/// live feed left some out. Free of I/O and clocks: time comes in as uptime nanoseconds.
public struct AuditBudget: Sendable {
    /// Events per second each service may publish, and how many it may publish at once.
    public struct Limit: Hashable, Sendable {
        public var perSecond: Int
        public var burst: Int

        public init(perSecond: Int, burst: Int) {
            self.perSecond = perSecond
            self.burst = burst
        }

        /// 100 events a second per service, 1,000 at once: more than a person reads, and at a few hundred
        /// bytes an event, some tens of KB/s per service at most.
        public static let standard = Limit(perSecond: 100, burst: 1000)
    }

    /// What to do with one event.
    enum Verdict: Equatable {
        case publish
        /// Leave it out. `startsStreak` for the first one since the service's bucket was last full
        /// (worth a line in Warden's log; later ones are counted only).
        case suppress(startsStreak: Bool)
    }

    private struct Bucket {
        var tokens: Double
        var updated: UInt64
        /// Suppressed since the last summary.
        var suppressed = 0
        var lastSummary: UInt64?
        /// Whether the current run of suppressions was reported in the log.
        var streakReported = false
    }

    let limit: Limit
    /// How often a service's suppressions are summarised at most.
    let summaryInterval: UInt64
    /// By service; unidentified clients share the key "", which no service name can be.
    private var buckets: [String: Bucket] = [:]
    /// Buckets with suppressed events not yet summarised.
    private var unsummarised = 0

    init(limit: Limit = .standard, summaryIntervalNanoseconds: UInt64 = 1_000_000_000) {
        precondition(limit.perSecond > 0 && limit.burst > 0, "an audit budget allows at least one event")
        self.limit = limit
        self.summaryInterval = summaryIntervalNanoseconds
    }

    /// Takes one event of `service` (nil: an unidentified client) at `now`.
    mutating func admit(service: String?, now: UInt64) -> Verdict {
        let key = service ?? ""
        let burst = Double(self.limit.burst)
        var bucket = self.buckets[key] ?? Bucket(tokens: burst, updated: now)
        let elapsed = Double(now &- bucket.updated) / 1e9
        bucket.tokens = min(burst, bucket.tokens + elapsed * Double(self.limit.perSecond))
        bucket.updated = now
        if bucket.tokens == burst { bucket.streakReported = false }
        let verdict: Verdict
        if bucket.tokens >= 1 {
            bucket.tokens -= 1
            verdict = .publish
        } else {
            if bucket.suppressed == 0 { self.unsummarised += 1 }
            bucket.suppressed += 1
            verdict = .suppress(startsStreak: !bucket.streakReported)
            bucket.streakReported = true
        }
        self.buckets[key] = bucket
        return verdict
    }

    /// The services whose suppressed events are due to be summarised at `now` (the last summary of
    /// theirs at least `summaryInterval` ago), or with `all` every service that has any, with how
    /// many; their counts start again from zero.
    mutating func dueSummaries(now: UInt64, all: Bool = false) -> [(service: String?, suppressed: Int)] {
        guard self.unsummarised > 0 else { return [] }
        var due: [(service: String?, suppressed: Int)] = []
        for (key, bucket) in self.buckets where bucket.suppressed > 0 {
            if !all, let last = bucket.lastSummary, now &- last < self.summaryInterval { continue }
            due.append((key.isEmpty ? nil : key, bucket.suppressed))
            self.buckets[key]!.suppressed = 0
            self.buckets[key]!.lastSummary = now
            self.unsummarised -= 1
        }
        return due
    }
}
