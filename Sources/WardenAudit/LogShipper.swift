import Dispatch
import Logging

/// One decision log file being shipped to the audit stream: its lines from the cursor on, and the window
/// of records sent and not yet acknowledged. Used by `AuditStream`'s thread only.
final class LogShipper {
    /// How far back `rewindPoint` goes: far longer than nats-server holds an acknowledged record before
    /// writing it, far shorter than the stream's duplicate window.
    static let lookback: UInt64 = 10_000_000_000

    let lines: LogLines
    let identity: (inode: UInt64, device: UInt64)
    var window: AuditStreamWindow
    /// Where the cursor was, and when (uptime, ns): at most one a quarter second, over `lookback` and one more.
    private var checkpoints: [(at: UInt64, offset: Int)] = []

    /// Opens the log at `logPath` from the kept cursor when it is for this file, else from its start;
    /// nil while there is no log.
    init?(logPath: String) {
        guard let lines = LogLines(path: logPath) else { return nil }
        let identity = lines.identity
        var start = 0
        if let cursor = AuditStreamCursor.load(logPath: logPath), cursor.inode == identity.inode,
            cursor.device == identity.device
        {
            start = cursor.offset
            lines.seek(to: start)
        }
        self.lines = lines
        self.identity = identity
        self.window = AuditStreamWindow(committed: start)
    }

    /// Sends the deny records that fit in the window (`publish` with each line, its token and where it
    /// ends; false when it could not be sent), passing allow records by. Returns how many lines it read.
    func send(_ publish: (UnsafeRawBufferPointer, UInt64, Int) -> Bool) -> Int {
        let room = self.window.capacity - self.window.inFlight
        guard room > 0 else { return 0 }
        return self.lines.read(upTo: room) { line, end in
            if DecisionLogEntry.isAllow(line) || line.isEmpty {
                _ = self.window.skipped(end: end)
                return true
            }
            let token = self.window.sent(end: end, now: DispatchTime.now().uptimeNanoseconds)
            return publish(line, token, end)
        }
    }

    /// Notes the cursor at `now`, for `rewindPoint`.
    func checkpoint(now: UInt64) {
        if let last = self.checkpoints.last, now &- last.at < 250_000_000 { return }
        self.checkpoints.append((now, self.window.committed))
        while self.checkpoints.count > 1, now &- self.checkpoints[1].at > Self.lookback {
            self.checkpoints.removeFirst()
        }
    }

    /// Where the cursor was `lookback` ago (or the oldest point noted since): where to send again from
    /// after NATS comes back.
    func rewindPoint(now: UInt64) -> Int {
        let old = self.checkpoints.last { now &- $0.at >= Self.lookback } ?? self.checkpoints.first
        return min(old?.offset ?? self.window.committed, self.window.committed)
    }

    func saveCursor(logPath: String, logger: Logger) {
        let cursor = AuditStreamCursor(
            inode: self.identity.inode, device: self.identity.device, offset: self.window.committed)
        do {
            try cursor.save(logPath: logPath)
        } catch {
            logger.error(
                "audit stream: cannot keep the cursor; a restart sends records again", metadata: ["error": "\(error)"])
        }
    }
}
