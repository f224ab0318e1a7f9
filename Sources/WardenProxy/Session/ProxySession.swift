import Logging
import NATSProtocol
import NIOCore
import NIOPosix
import WardenAudit
import WardenMetrics
import WardenPKI
import WardenPolicy

/// One client connection and its upstream connection, on one event loop. Carries out what the state
/// machine decides: writes (flushed once per read cycle), decision records (handed to the log once
/// per read cycle), back-pressure, and closing both sides together.
final class ProxySession {
    struct PauseReasons: OptionSet {
        let rawValue: UInt8
        /// The other side cannot take more writes.
        static let peerUnwritable = PauseReasons(rawValue: 1)
        /// The decision log is behind.
        static let decisionLog = PauseReasons(rawValue: 2)
        /// Too much is queued for an upstream connection that is not ready yet.
        static let upstreamPending = PauseReasons(rawValue: 4)
    }

    let clientChannel: any Channel
    /// Where the upstream connection goes, and the pool that hears how it went.
    let upstream: UpstreamConnector
    /// Where the decision records go.
    let sink: DecisionSink
    private let registry: ConnectionRegistry
    /// Warden's INFO, for updates to the client.
    let info: InfoSource
    let settings: SessionFactory.Settings
    private(set) var upstreamChannel: (any Channel)?
    /// The nats-server the upstream connection goes to, once chosen.
    private(set) var upstreamServer: UpstreamEndpoint?
    var logger: Logger
    /// The I/O-free part; the session's other files (`ProxySession+Updates`) use it too.
    var core: SessionCore
    private(set) var closing = false
    weak var clientHandler: ClientProxyHandler?
    weak var upstreamHandler: UpstreamHandler?
    /// Fires when the client has not become writable again within the write deadline.
    private var stall = StallWatch()
    private(set) var clientPause: PauseReasons = []
    private(set) var upstreamPause: PauseReasons = []
    /// With a decision log that acknowledges only written records: the log's count this session's
    /// records must reach before the frames held meanwhile leave, and what to do then.
    private var heldForLog: (target: Int, then: [() -> Void])?

    /// Past this many bytes queued for an upstream that is still connecting, the client is not read.
    static let maxQueuedBeforeUpstream = 1 << 20

    /// `records` and `buffers` are the event loop's (`RecordBatch.current`, `BatchBufferPool.current`):
    /// sessions are made on their event loop and share its record batch and batch buffers.
    init(
        clientChannel: any Channel, logger: Logger, machine: ProxyStateMachine, upstream: UpstreamConnector,
        sink: DecisionSink, registry: ConnectionRegistry, info: InfoSource, settings: SessionFactory.Settings,
        records: RecordBatch, buffers: BatchBufferPool
    ) {
        assert(clientChannel.eventLoop.inEventLoop, "a session is made on its own event loop")
        self.clientChannel = clientChannel
        self.logger = logger
        self.upstream = upstream
        self.sink = sink
        self.registry = registry
        self.info = info
        self.settings = settings
        self.core = SessionCore(
            machine: machine, maxPayload: settings.maxPayload, records: records,
            counters: sink.metrics.decisionCounters(service: machine.service, mode: machine.mode), sink: sink)
        self.core.out.upstream.pool = buffers
        self.core.out.client.pool = buffers
    }

    private var eventLoop: any EventLoop { self.clientChannel.eventLoop }

    // MARK: Client side

    func clientRead(_ bytes: ByteBuffer) {
        guard !self.closing else { return }
        do throws(NATSProtocolError) {
            try self.core.clientReceived(bytes)
        } catch {
            self.clientProtocolViolation(error)
            return
        }
        self.closeIfDecided()
        if self.core.bytesWaitingForUpstream > Self.maxQueuedBeforeUpstream {
            self.pauseClient(.upstreamPending)
        }
    }

    func clientReadComplete() {
        self.flushAll()
    }

    /// The client broke the protocol: the state machine answers, records and closes
    /// (`ProxyStateMachine.protocolViolation`).
    func clientProtocolViolation(_ error: NATSProtocolError) {
        self.logger.info("client protocol violation; closing", metadata: ["error": "\(error)"])
        guard !self.closing else { return }
        self.core.protocolViolation(error)
        self.closeIfDecided()
    }

    func clientClosed() {
        self.stall.stop()
        self.core.closed()
        self.registry.remove(self.core.machine.conn)
        // What the client sent before going away was decided and recorded: it still goes upstream.
        self.core.out.client.removeAll()
        self.flushAll { self.upstreamChannel?.close(promise: nil) }
        self.closing = true
    }

    func clientWritabilityChanged(_ writable: Bool) {
        if writable {
            self.stall.stop()
            self.resumeUpstream(.peerUnwritable)
        } else {
            self.pauseUpstream(.peerUnwritable)
            guard !self.closing else { return }
            let bound = NIOLoopBound(self, eventLoop: self.eventLoop)
            self.stall.start(
                on: self.eventLoop, deadline: self.settings.writeDeadline,
                deadlineExceeded: { bound.value.writeDeadlineExceeded() }, probe: { bound.value.probeUpstream() })
        }
    }

    /// The client took nothing for the whole write deadline: it is closed as nats-server closes a slow
    /// consumer, so that it does not hold its upstream connection (and nats-server's buffers) for ever.
    private func writeDeadlineExceeded() {
        self.stall.stop()
        guard !self.closing, !self.clientChannel.isWritable else { return }
        let pending = (try? self.clientChannel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        let deadline = self.settings.writeDeadline
        let reason =
            "slow consumer: write deadline of \(Double(deadline.nanoseconds) / 1e9) s exceeded with \(pending) bytes pending"
        self.logger.warning("Slow Consumer Detected: closing the client", metadata: ["reason": "\(reason)"])
        self.sink.metrics.countSlowConsumer()
        self.core.slowConsumer(reason: reason)
        self.closeIfDecided()
    }

    /// While the client stalls, a PING of Warden's own finds out whether nats-server closed the
    /// connection Warden is not reading (`ProxyStateMachine.probeUpstream`).
    private func probeUpstream() {
        guard !self.closing else { return }
        self.core.probeUpstream()
        self.flushAll()
    }

    // MARK: Upstream side

    /// Connects to the next nats-server of the pool. When one cannot be reached, the next available
    /// one is tried, each at most once, before the client is closed: nothing has been sent yet.
    func connectUpstream(excluding tried: Set<ProxyConfiguration.Upstream> = [], failures: [String] = []) {
        guard let server = self.upstream.next(excluding: tried, orUnavailable: tried.isEmpty) else {
            self.upstreamFailed(failures.joined(separator: "; "))
            return
        }
        self.upstreamServer = server
        let bound = NIOLoopBound(self, eventLoop: self.eventLoop)
        let connected = self.upstream.dial(server, on: self.eventLoop) { channel in
            let handler = UpstreamHandler(session: bound.value, server: server)
            bound.value.upstreamHandler = handler
            try channel.pipeline.syncOperations.addHandler(handler)
        }
        connected.whenComplete { result in
            let session = bound.value
            switch result {
            case .success(let channel):
                if session.closing { channel.close(promise: nil) }
            case .failure(let error):
                let reason = "cannot connect to \(server): \(ConnectFailure.describe(error))"
                session.upstream.unreachable(server, reason: reason)
                guard !session.closing else { return }
                session.connectUpstream(excluding: tried.union([server.url]), failures: failures + [reason])
            }
        }
    }

    /// The upstream socket is connected (before its INFO and TLS).
    func upstreamActive(_ channel: any Channel) {
        self.upstreamChannel = channel
    }

    /// The TLS handshake with nats-server completed: send CONNECT and what was queued. `announcement`
    /// is what nats-server's INFO said, for the pool.
    func upstreamReady(announcement: ServerInfo.Announcement) {
        self.logger.debug("upstream connection ready")
        if let server = self.upstreamServer { self.upstream.connected(server, announcement: announcement) }
        self.core.upstreamBecameReady(proxySignature: self.upstream.proxySignature(nonce: announcement.nonce))
        self.flushAll()
        self.resumeClient(.upstreamPending)
    }

    /// Bytes from nats-server after the TLS handshake.
    func upstreamRead(_ bytes: ByteBuffer) {
        guard !self.closing else { return }
        do throws(NATSProtocolError) {
            try self.core.upstreamReceived(bytes)
        } catch {
            self.upstreamFailed("nats-server broke the protocol: \(error)")
            return
        }
        if let announcement = self.core.out.announcement, let server = self.upstreamServer {
            self.core.out.announcement = nil
            self.upstream.announced(announcement, by: server)
        }
        self.closeIfDecided()
    }

    func upstreamReadComplete() {
        self.flushAll()
    }

    /// The upstream connection could not be made, or failed. The client is closed without a word, as
    /// nats-server closes its clients when it stops: every NATS client answers a plain close by
    /// reconnecting (to Warden again, or to another URL it knows), while an `-ERR` it does not know
    /// makes nats.c, nats.go and nats.py close for good.
    func upstreamFailed(_ reason: String) {
        guard !self.closing else { return }
        self.logger.warning(
            "upstream connection failed; closing the client, which will reconnect", metadata: ["reason": "\(reason)"])
        self.sink.metrics.countUpstreamFailure()
        self.close(reason: reason)
    }

    func upstreamClosed() {
        guard !self.closing else { return }
        self.logger.info("upstream connection closed; closing the client, which will reconnect")
        self.sink.metrics.countUpstreamFailure()
        self.flushAll()
        self.close(reason: "upstream closed")
    }

    func upstreamWritabilityChanged(_ writable: Bool) {
        if writable { self.resumeClient(.peerUnwritable) } else { self.pauseClient(.peerUnwritable) }
    }

    // MARK: Carrying out

    /// Closes if the state machine said so. Frames stay in the core's output until the end of the read
    /// cycle (`flushAll`), so each direction gets one write per cycle.
    func closeIfDecided() {
        if let close = self.core.out.close {
            self.core.out.close = nil
            self.close(reason: close)
        }
    }

    /// Writes what the read cycle gathered for each side, flushes, and hands the records to the log, then
    /// runs `finish`. With a log that acknowledges only written records, the records go first and the
    /// frames (and `finish`) wait until they are in the file.
    func flushAll(then finish: (() -> Void)? = nil) {
        self.core.endCycle()
        if let number = self.core.out.lookupStarted {
            self.core.out.lookupStarted = nil
            let bound = NIOLoopBound(self, eventLoop: self.eventLoop)
            self.eventLoop.scheduleTask(in: StreamLookup.timeout) { bound.value.streamLookupTimedOut(number) }
        }
        if self.sink.log.acknowledgesOnlyWritten {
            // With a window of 0 the log always asks to slow down; holding everything until the records
            // are written (both sides paused) is the stronger answer, so `handOver`'s is not needed.
            _ = self.sink.handOver(self.core.records)
            self.holdUntilWritten(self.sink.log.bytesSubmitted, then: finish)
            return
        }
        self.writeOutput()
        self.submitLog()
        finish?()
    }

    /// Writes and flushes the frames gathered for each side.
    private func writeOutput() {
        if !self.core.out.upstream.isEmpty {
            // The state machine emits upstream frames only once the upstream is ready, which needs the
            // channel; never drop a frame silently if that ever fails to hold.
            if let upstream = self.upstreamChannel {
                self.core.out.upstream.write(to: upstream)
                upstream.flush()
            } else {
                self.logger.error("frames for an upstream connection that does not exist; closing")
                self.core.out.upstream.removeAll()
                self.close(reason: "internal: no upstream channel")
            }
        }
        if !self.core.out.client.isEmpty {
            self.core.out.client.write(to: self.clientChannel)
            self.clientChannel.flush()
        }
        if self.clientPause.contains(.upstreamPending),
            self.core.bytesWaitingForUpstream <= Self.maxQueuedBeforeUpstream
        {
            self.resumeClient(.upstreamPending)
        }
    }

    private func streamLookupTimedOut(_ number: Int) {
        guard !self.closing else { return }
        self.core.streamLookupTimedOut(number)
        self.closeIfDecided()
        self.flushAll()
    }

    private func submitLog() {
        // The loop's batch holds this read cycle's records, of this session only: every session hands
        // them over here, at the end of whatever made them, before the loop runs anything else.
        guard !self.sink.handOver(self.core.records) else { return }
        // The log is behind: stop reading either side until it catches up. Nothing is dropped.
        self.pauseClient(.decisionLog)
        self.pauseUpstream(.decisionLog)
        let bound = NIOLoopBound(self, eventLoop: self.eventLoop)
        self.sink.log.whenDrained(on: self.eventLoop) {
            bound.value.resumeClient(.decisionLog)
            bound.value.resumeUpstream(.decisionLog)
        }
    }

    /// The frames gathered wait for their records (a window of 0): both sides stop reading meanwhile.
    private func holdUntilWritten(_ target: Int, then finish: (() -> Void)?) {
        if var held = self.heldForLog {
            // Already waiting: the wait re-checks the target once it fires.
            held.target = target
            if let finish { held.then.append(finish) }
            self.heldForLog = held
            return
        }
        if self.sink.log.bytesWritten >= target {
            self.writeOutput()
            finish?()
            return
        }
        self.heldForLog = (target, finish.map { [$0] } ?? [])
        self.pauseClient(.decisionLog)
        self.pauseUpstream(.decisionLog)
        self.awaitLog(target)
    }

    private func awaitLog(_ target: Int) {
        let bound = NIOLoopBound(self, eventLoop: self.eventLoop)
        self.sink.log.whenWritten(atLeast: target, on: self.eventLoop) { bound.value.logCaughtUp() }
    }

    private func logCaughtUp() {
        guard let held = self.heldForLog else { return }
        if self.sink.log.bytesWritten < held.target {
            guard self.sink.log.isStopped else {
                self.awaitLog(held.target)
                return
            }
            // The log stopped without writing them (Warden is stopping, the disk refused them): nothing
            // they decided may leave.
            self.core.out.upstream.removeAll()
            self.core.out.client.removeAll()
        }
        self.heldForLog = nil
        self.writeOutput()
        for finish in held.then { finish() }
        self.resumeClient(.decisionLog)
        self.resumeUpstream(.decisionLog)
    }

    func close(reason: String) {
        guard !self.closing else { return }
        self.closing = true
        self.stall.stop()
        self.logger.debug("closing", metadata: ["reason": "\(reason)"])
        self.core.closed()
        self.flushAll {
            self.clientChannel.close(promise: nil)
            self.upstreamChannel?.close(promise: nil)
        }
    }

    // MARK: Back-pressure

    private func pauseClient(_ reason: PauseReasons) {
        self.clientPause.insert(reason)
    }

    private func resumeClient(_ reason: PauseReasons) {
        guard self.clientPause.remove(reason) != nil, self.clientPause.isEmpty else { return }
        self.clientHandler?.resumeReading()
    }

    private func pauseUpstream(_ reason: PauseReasons) {
        self.upstreamPause.insert(reason)
    }

    private func resumeUpstream(_ reason: PauseReasons) {
        guard self.upstreamPause.remove(reason) != nil, self.upstreamPause.isEmpty else { return }
        self.upstreamHandler?.resumeReading()
    }
}
