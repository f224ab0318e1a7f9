import CWardenSystem
import Foundation
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
public import ServiceLifecycle

/// The decision log: JSON Lines appended to a file by a thread of its own, so that the event loops
/// never wait on the disk.
///
/// Connections hand over their records in batches (`submit`). Nothing is ever dropped: when the
/// writer falls behind and more than `highWater` bytes are waiting, `submit` says so, the connection
/// stops reading from its client, and it is resumed (`whenDrained`) once the backlog is below
/// `lowWater`. A write error is retried until it succeeds, with clients held back meanwhile.
///
/// The writer commits in groups. While records keep coming it wakes once per `interval` and writes
/// what has gathered, rather than being woken by every read cycle of every connection: at a few
/// thousand request/reply round trips a second, a wake-up (two context switches and a `write`) per
/// read cycle was about a fifth of Warden's CPU. A submit wakes it early only when it sleeps with
/// nothing to do (so a lone record is written at once) or once `wakeBytes` are waiting. A record
/// waits at most one interval, plus any write in progress; `stop` still writes everything.
///
/// Warden never reads the log back, so it keeps the log from filling the page cache (`WriteBehind`):
/// every `cacheWindow` bytes it starts writing the newest window to disk and drops the one before
/// from the cache, once that is on disk.
///
/// How much is held in memory while clients go on is the log's window, `highWater`: a crash (or a disk
/// that refuses writes) loses at most that many bytes of records for operations Warden has already
/// passed on. With a window of 0 (`acknowledgesOnlyWritten`), sessions pass nothing on until its records
/// are in the file (`whenWritten`): nothing is lost if Warden crashes, at the cost of a wait for the
/// writer on every read.
///
/// For rotation, `reopen` makes the writer open `path` again (a new file, once the old one was moved
/// away) and write the records that follow there, as nats-server reopens its log on SIGUSR1.
public final class DecisionLog: Service, Sendable {
    private struct State {
        var pending: [UInt8] = []
        var waiters: [(any EventLoop, @Sendable () -> Void)] = []
        var submitted: Int = 0
        var written: Int = 0
        /// Set by `stop`: past it, records the file will not take are given up on.
        var giveUpAt: NIODeadline?
        /// Bytes given up on at shutdown because the file would not take them.
        var lost: Int = 0
        /// Set by `reopen`: the writer opens `path` again after writing what is queued.
        var reopenRequested = false
        /// Reopens done, and the last one's error (nil when it succeeded).
        var reopens = 0
        var reopenError: String?
        /// `flush` calls waiting for `written` to reach their target.
        var flushing: [(target: Int, continuation: CheckedContinuation<Void, Never>)] = []
        /// `whenWritten` callbacks waiting for `written` to reach their target.
        var writtenWaiters: [(target: Int, eventLoop: any EventLoop, body: @Sendable () -> Void)] = []
        /// Set when the writer has exited: nothing more will be written.
        var writerExited = false
    }

    public let path: String
    public let highWater: Int
    public let lowWater: Int
    /// How long the writer lets records gather while they keep coming.
    public let interval: Duration
    /// A backlog that wakes the writer before its interval is over.
    public let wakeBytes: Int
    /// How much of the log's newest bytes stay in the page cache, per window (0: the kernel decides).
    public let cacheWindow: Int
    /// How long `stop` keeps retrying writes the file refuses (a full or failed disk) before it gives
    /// up on what is left, says how much, and lets Warden exit.
    public let shutdownTimeout: TimeAmount
    private let logger: Logger
    /// The file as first opened; the writer thread owns it, and any it opens later (`reopen`).
    private let initialDescriptor: Int32
    /// The writer: its thread, and the state the event loops share with it.
    private let writer = BackgroundWorker(state: State())

    /// Opens (creating, mode 0640, with its folder) the log file for appending.
    public init(
        path: String, highWater: Int = 8 << 20, lowWater: Int = 1 << 20, interval: Duration = .milliseconds(2),
        wakeBytes: Int = 64 << 10, cacheWindow: Int = 8 << 20, shutdownTimeout: TimeAmount = .seconds(30),
        logger: Logger
    ) throws {
        self.path = path
        self.highWater = highWater
        self.lowWater = lowWater
        self.interval = interval
        self.wakeBytes = min(wakeBytes, highWater)
        self.cacheWindow = cacheWindow
        self.shutdownTimeout = shutdownTimeout
        self.logger = logger
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        self.initialDescriptor = try Self.openFile(path)
        self.writer.start(name: "warden-log") { [self] in self.writeLoop() }
    }

    private static func openFile(_ path: String) throws(AuditError) -> Int32 {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            throw AuditError(.logUnavailable, "cannot open decision log \(path): \(String(cString: strerror(errno)))")
        }
        return descriptor
    }

    /// Queues encoded records for writing. Returns false when the backlog is over `highWater`: the
    /// caller must stop reading until `whenDrained` calls it back.
    public func submit(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { self.submit($0) }
    }

    /// `submit` for records in place, which are copied.
    public func submit(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !bytes.isEmpty else { return true }
        let backlog = self.writer.update { state, writer in
            state.pending.append(contentsOf: bytes)
            state.submitted += bytes.count
            // Unless the writer sleeps until woken, these are due within an interval anyway and go with
            // the rest, without a wake-up.
            return (state.pending.count, writer.sleepsUntilWoken || state.pending.count >= self.wakeBytes)
        }
        return backlog <= self.highWater
    }

    /// Runs `body` on `eventLoop` once the backlog is below `lowWater` (at once if it already is).
    public func whenDrained(on eventLoop: any EventLoop, _ body: @escaping @Sendable () -> Void) {
        let now = self.writer.withState { state -> Bool in
            if state.pending.count < self.lowWater { return true }
            state.waiters.append((eventLoop, body))
            return false
        }
        if now { eventLoop.execute(body) }
    }

    /// Bytes written so far; for tests and metrics.
    public var bytesWritten: Int { self.writer.withState { $0.written } }

    /// Bytes submitted so far: once `bytesWritten` reaches it, every record submitted before is in the file.
    public var bytesSubmitted: Int { self.writer.withState { $0.submitted } }

    /// Whether the writer has stopped: nothing more will be written.
    public var isStopped: Bool { self.writer.withState { $0.writerExited } }

    /// Whether sessions pass nothing on before its records are written (a window, `highWater`, of 0).
    public var acknowledgesOnlyWritten: Bool { self.highWater == 0 }

    /// Runs `body` on `eventLoop` once `bytesWritten` has reached `target` (at once if it has, or when the
    /// writer has stopped: nothing more will be written). Wakes the writer: someone is waiting.
    public func whenWritten(atLeast target: Int, on eventLoop: any EventLoop, _ body: @escaping @Sendable () -> Void) {
        let now = self.writer.update { state, _ in
            guard state.written < target, !state.writerExited else { return (true, false) }
            state.writtenWaiters.append((target, eventLoop, body))
            return (false, true)
        }
        if now { eventLoop.execute(body) }
    }

    /// Makes the writer open `path` again once it has written what is queued, for log rotation: after
    /// the file was moved away, records go to a new file at `path`. If that cannot be opened, the
    /// error is logged and records keep going to the file as it was.
    public func reopen() {
        self.writer.update { state, _ in
            state.reopenRequested = true
            return ((), true)
        }
    }

    /// Reopens done so far, and the error of the last one (nil when it succeeded); for tests.
    public var reopenStatus: (count: Int, error: String?) {
        self.writer.withState { ($0.reopens, $0.reopenError) }
    }

    /// Bytes submitted and not written yet; for metrics.
    public var backlog: Int { self.writer.withState { $0.submitted - $0.written } }

    /// Returns once everything queued so far is written (or, at shutdown, given up on): the writer
    /// resumes it, no polling.
    public func flush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = self.writer.withState { state in
                guard state.written < state.submitted, !state.writerExited else { return true }
                state.flushing.append((state.submitted, continuation))
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Bytes of records given up on at shutdown (see `shutdownTimeout`); zero unless the file refused them.
    public var lostBytes: Int { self.writer.withState { $0.lost } }

    /// Runs until graceful shutdown, then writes every record still queued and stops the writer.
    /// Throws when records had to be given up on, so that the process ends in failure.
    public func run() async throws {
        try? await gracefulShutdown()
        await self.stop()
        let lost = self.lostBytes
        if lost > 0 {
            throw AuditError(
                .recordsLost,
                "decision log: \(lost) bytes of records could not be written to \(self.path) within the "
                    + "\(self.shutdownTimeout.nanoseconds / 1_000_000_000) s shutdown allows; everything before them is in the file"
            )
        }
    }

    /// Writes every queued record and stops the writer thread.
    public func stop() async {
        self.writer.withState { state in state.giveUpAt = state.giveUpAt ?? .now() + self.shutdownTimeout }
        await self.writer.stop()
    }

    private func writeLoop() {
        // Two buffers trade places: the writer empties one while the event loops fill the other, so
        // in a steady state no batch allocates (or faults in) fresh memory.
        var batch: [UInt8] = []
        var descriptor = self.initialDescriptor
        var writeBehind = WriteBehind(descriptor: descriptor, window: self.cacheWindow)
        let interval = Double(self.interval.components.seconds) + Double(self.interval.components.attoseconds) * 1e-18
        while true {
            // While records keep coming, one interval; when the last round found nothing, until a submit
            // wakes the writer (decided under the lock, so a record never waits for the next one).
            let lastRoundEmpty = batch.isEmpty
            batch.removeAll(keepingCapacity: true)
            let (stopping, reopen) = self.writer.next { state in
                lastRoundEmpty ? (state.pending.isEmpty ? nil : 0) : interval
            } take: { state, writer in
                swap(&state.pending, &batch)
                defer { state.reopenRequested = false }
                return (writer.stopping, state.reopenRequested)
            }
            let written = self.writeAll(batch, to: descriptor)
            if written < batch.count {
                // Shutting down, and the file refuses the rest: give up on it and on what is queued.
                self.writer.withState { state in
                    state.written += written
                    state.lost += batch.count - written + state.pending.count
                    state.pending.removeAll()
                }
                self.logger.error(
                    "decision log: giving up on records the file refuses, to let Warden stop",
                    metadata: ["path": "\(self.path)", "lost_bytes": "\(self.lostBytes)"])
                break
            }
            if let failure = writeBehind.wrote(batch.count, descriptor: descriptor) {
                // The records are written; only the cache is left to the kernel from now on.
                self.logger.warning(
                    "decision log: cannot manage its page cache; the kernel keeps it from now on",
                    metadata: ["path": "\(self.path)", "error": "\(String(cString: strerror(failure)))"]
                )
            }
            let (waiters, flushed) = self.writer.withState {
                state -> ([(any EventLoop, @Sendable () -> Void)], [CheckedContinuation<Void, Never>]) in
                state.written += batch.count
                let flushed = state.flushing.filter { $0.target <= state.written }.map(\.continuation)
                state.flushing.removeAll { $0.target <= state.written }
                var waiters = state.writtenWaiters.filter { $0.target <= state.written }.map { ($0.eventLoop, $0.body) }
                state.writtenWaiters.removeAll { $0.target <= state.written }
                guard state.pending.count < self.lowWater else { return (waiters, flushed) }
                waiters += state.waiters
                state.waiters.removeAll()
                return (waiters, flushed)
            }
            for (eventLoop, body) in waiters { eventLoop.execute(body) }
            for continuation in flushed { continuation.resume() }
            if reopen { self.reopen(&descriptor, &writeBehind) }
            if stopping && self.writer.withState({ $0.pending.isEmpty }) { break }
        }
        fsync(descriptor)
        close(descriptor)
        // Nothing more will be written: a flush still waiting gets its answer now.
        let (flushing, waiting) = self.writer.withState { state in
            state.writerExited = true
            defer {
                state.flushing = []
                state.writtenWaiters = []
            }
            return (state.flushing.map(\.continuation), state.writtenWaiters.map { ($0.eventLoop, $0.body) })
        }
        for continuation in flushing { continuation.resume() }
        for (eventLoop, body) in waiting { eventLoop.execute(body) }
    }

    /// Opens `path` again, in place of `descriptor`, which is synced and closed. Keeps `descriptor`
    /// when `path` cannot be opened.
    private func reopen(_ descriptor: inout Int32, _ writeBehind: inout WriteBehind) {
        var failure: String?
        do throws(AuditError) {
            let reopened = try Self.openFile(self.path)
            fsync(descriptor)
            close(descriptor)
            descriptor = reopened
            writeBehind = WriteBehind(descriptor: reopened, window: self.cacheWindow)
            self.logger.info("decision log reopened", metadata: ["path": "\(self.path)"])
        } catch {
            failure = error.description
            self.logger.error(
                "decision log: cannot reopen; records keep going to the file as it was", metadata: ["error": "\(error)"]
            )
        }
        self.writer.withState { state in
            state.reopens += 1
            state.reopenError = failure
        }
    }

    /// Writes `batch`, retrying what the file refuses; returns how much was written, which is less
    /// than all only once shutdown's `shutdownTimeout` has passed.
    private func writeAll(_ batch: [UInt8], to descriptor: Int32) -> Int {
        var offset = 0
        var failures = 0
        while offset < batch.count {
            let written = batch.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written >= 0 {
                offset += written
                failures = 0
                continue
            }
            if errno == EINTR { continue }
            // Never drop a record: report, wait, retry. Clients are held back by the backlog meanwhile.
            failures += 1
            if failures == 1 || failures % 60 == 0 {
                self.logger.error(
                    "decision log write failed; retrying, clients are paused while the backlog is over the limit",
                    metadata: ["path": "\(self.path)", "error": "\(String(cString: strerror(errno)))"]
                )
            }
            if let giveUpAt = self.writer.withState({ $0.giveUpAt }), NIODeadline.now() >= giveUpAt {
                return offset
            }
            Thread.sleep(forTimeInterval: 1)
        }
        return offset
    }
}
