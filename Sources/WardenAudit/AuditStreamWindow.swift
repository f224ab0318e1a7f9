/// Which deny records of the decision log the stream `WARDEN_AUDIT` has acknowledged, free of I/O: the
/// log is the spool, and this is the cursor into it.
///
/// Records are sent in log order, each with a token its acknowledgement comes back with. The cursor
/// (`committed`) moves past a record only once it and every record before it are acknowledged (or
/// were allow records, which the stream does not take). When an acknowledgement says no, or does not
/// come within the timeout, everything from the cursor on is sent again (go-back-N): the stream's
/// de-duplication by `Nats-Msg-Id` stores each record once however often it is sent.
public struct AuditStreamWindow: Sendable {
    /// What to do after an acknowledgement, a failure or a tick.
    public enum Action: Sendable, Hashable {
        case none
        /// The cursor moved: keep it (it is where a restart resumes).
        case commit(offset: Int)
        /// Send everything from `offset` again: a record was refused or its acknowledgement is overdue.
        case resend(from: Int)
    }

    private struct Entry {
        var token: UInt64
        /// Where the record's line ends in the log.
        var end: Int
        var sentAt: UInt64
        var acknowledged: Bool
    }

    /// Where a restart resumes: every deny record before it is in the stream.
    public private(set) var committed: Int
    /// How many records may wait for their acknowledgement at once.
    public let capacity: Int
    /// How long an acknowledgement may take, in nanoseconds, before the records are sent again.
    public let timeout: UInt64
    private var entries: [Entry] = []
    private var first = 0
    private var nextToken: UInt64 = 1

    public init(committed: Int, capacity: Int = 4096, timeout: UInt64 = 5_000_000_000) {
        self.committed = committed
        self.capacity = capacity
        self.timeout = timeout
    }

    /// Records sent and not yet acknowledged (or acknowledged behind one that is not).
    public var inFlight: Int { self.entries.count - self.first }
    public var isFull: Bool { self.inFlight >= self.capacity }

    /// A deny record whose line ends at `end` is being sent at `now`: the token to send it with.
    public mutating func sent(end: Int, now: UInt64) -> UInt64 {
        let token = self.nextToken
        self.nextToken += 1
        self.entries.append(Entry(token: token, end: end, sentAt: now, acknowledged: false))
        return token
    }

    /// A line the stream does not take (an allow record) ends at `end`.
    public mutating func skipped(end: Int) -> Action {
        if self.inFlight == 0 {
            self.committed = end
            return .commit(offset: end)
        }
        // A token of its own (never sent) keeps the tokens in flight ascending.
        self.entries.append(Entry(token: self.nextToken, end: end, sentAt: 0, acknowledged: true))
        self.nextToken += 1
        return .none
    }

    /// The stream acknowledged the record sent with `token` (stored, or a duplicate of one stored).
    public mutating func acknowledged(_ token: UInt64) -> Action {
        guard let index = self.index(of: token) else { return .none }
        self.entries[index].acknowledged = true
        var moved = false
        while self.first < self.entries.count, self.entries[self.first].acknowledged {
            self.committed = self.entries[self.first].end
            self.first += 1
            moved = true
        }
        self.compact()
        return moved ? .commit(offset: self.committed) : .none
    }

    /// The stream refused the record sent with `token` (or nobody answered: no stream yet).
    public mutating func refused(_ token: UInt64) -> Action {
        guard self.index(of: token) != nil else { return .none }
        return self.restart()
    }

    /// At `now`: sends everything again when the oldest acknowledgement is overdue.
    public mutating func tick(now: UInt64) -> Action {
        guard self.first < self.entries.count else { return .none }
        let oldest = self.entries[self.first...].first { !$0.acknowledged }
        guard let oldest, now &- oldest.sentAt > self.timeout else { return .none }
        return self.restart()
    }

    /// Forgets what is in flight (late acknowledgements are ignored) and resends from the cursor: also
    /// when a record could not even be handed to the connection.
    public mutating func restart() -> Action {
        self.entries.removeAll(keepingCapacity: true)
        self.first = 0
        return .resend(from: self.committed)
    }

    /// Goes back to `offset`, before the cursor, and sends everything from there again: after NATS comes
    /// back, for records a crashed nats-server acknowledged but had not written yet (the stream stores
    /// again only those it lost: the rest are duplicates within its window).
    public mutating func rewind(to offset: Int) -> Action {
        self.committed = min(self.committed, offset)
        return self.restart()
    }

    private func index(of token: UInt64) -> Int? {
        // Tokens grow with position: a binary search over the entries in flight.
        var low = self.first
        var high = self.entries.count
        while low < high {
            let middle = (low + high) / 2
            let candidate = self.entries[middle].token
            if candidate == token { return middle }
            if candidate < token { low = middle + 1 } else { high = middle }
        }
        return nil
    }

    private mutating func compact() {
        if self.first > 1024, self.first * 2 > self.entries.count {
            self.entries.removeFirst(self.first)
            self.first = 0
        }
    }
}
