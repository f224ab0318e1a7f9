import Dispatch
import Logging

/// One decision log file being shipped to the audit stream: its lines from the cursor on, and the window
/// of records sent and not yet acknowledged. Used by `AuditStream`'s thread only.
final class LogShipper {
    let lines: LogLines
    let identity: (inode: UInt64, device: UInt64)
    var window: AuditStreamWindow

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
