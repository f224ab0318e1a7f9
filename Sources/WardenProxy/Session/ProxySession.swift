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
    private let sink: DecisionSink
    private let registry: ConnectionRegistry
    /// Warden's INFO, for updates to the client.
    let info: InfoSource
    private let settings: SessionFactory.Settings
    private(set) var upstreamChannel: (any Channel)?
    /// The nats-server the upstream connection goes to, once chosen.
    private(set) var upstreamServer: UpstreamEndpoint?
    var logger: Logger
    private var core: SessionCore
    private var closing = false
    weak var clientHandler: ClientProxyHandler?
    weak var upstreamHandler: UpstreamHandler?
    /// Fires when the client has not become writable again within the write deadline.
    private var stall = StallWatch()
    private(set) var clientPause: PauseReasons = []
    private(set) var upstreamPause: PauseReasons = []

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
        self.flushAll()
        self.upstreamChannel?.close(promise: nil)
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

    // MARK: Credentials

    /// The credential this connection was admitted with may no longer be used (revoked, expired, or
    /// gone from the inventory): the state machine tells the client, records it and closes
    /// (`ProxyStateMachine.credentialWithdrawn`).
    func credentialWithdrawn(_ failure: CredentialVerifier.Failure, serial: String) {
        guard !self.closing else { return }
        let reason = "\(failure.code.rawValue): \(failure.reason)"
        self.logger.warning("closing: credential withdrawn", metadata: ["reason": "\(reason)"])
        self.sink.metrics.countCredentialClose()
        self.core.credentialWithdrawn(
            ProxyStateMachine.Withdrawal(
                reason: reason, expired: failure.code == .expired,
                identity: self.core.machine.service.map {
                    Identity.service($0).uri(trustDomain: self.settings.trustDomain)
                }, serial: serial))
        self.closeIfDecided()
    }

    // MARK: INFO updates

    /// Warden is in lame duck mode: the client is told, with nats-server's INFO `ldm`, that it will be
    /// closed soon and should reconnect elsewhere (`ProxyServer.enterLameDuckMode`): to the other Wardens it names.
    func lameDuck() {
        guard !self.closing else { return }
        self.core.out.client.append(
            self.info.line(clientID: self.core.machine.conn, lameDuck: true, connectURLs: self.info.peerURLs))
        self.flushAll()
    }

    /// The live Wardens changed (`ProxyServer.peersChanged`): the client is told the new list in an
    /// INFO, as nats-server tells its clients when its cluster changes, once it has had the first
    /// PONG (nats-server sends no INFO update before that either).
    func peersChanged() {
        guard !self.closing, self.core.machine.hasAnsweredFirstPing else { return }
        let urls = self.info.clientConnectURLs ?? [self.info.advertisedAddress]
        self.core.out.client.append(self.info.line(clientID: self.core.machine.conn, connectURLs: urls))
        self.flushAll()
    }

    // MARK: ACL reload

    /// The ACLs were reloaded: `snapshot` decides this connection from now on. Returns how many of its
    /// subscriptions were removed because they are no longer allowed.
    func policyChanged(_ snapshot: PolicySnapshot) -> Int {
        guard !self.closing else { return 0 }
        let service = self.core.machine.service
        let policy = service.flatMap { snapshot.policy(for: $0) }
        // Already told (a connection admitted while the ACLs were being replaced).
        guard policy !== self.core.machine.policy else { return 0 }
        let counters = self.sink.metrics.decisionCounters(service: service, mode: policy?.mode ?? .enforce)
        let removed = self.core.policyChanged(to: policy, counters: counters)
        self.flushAll()
        if removed > 0 {
            self.logger.info(
                "removed subscriptions the reloaded ACLs no longer allow", metadata: ["removed": "\(removed)"])
        }
        return removed
    }

    // MARK: Carrying out

    /// Closes if the state machine said so. Frames stay in the core's output until the end of the read
    /// cycle (`flushAll`), so each direction gets one write per cycle.
    private func closeIfDecided() {
        if let close = self.core.out.close {
            self.core.out.close = nil
            self.close(reason: close)
        }
    }

    /// Writes what the read cycle gathered for each side, flushes, and hands the records to the log.
    private func flushAll() {
        self.core.endCycle()
        if let number = self.core.out.lookupStarted {
            self.core.out.lookupStarted = nil
            let bound = NIOLoopBound(self, eventLoop: self.eventLoop)
            self.eventLoop.scheduleTask(in: StreamLookup.timeout) { bound.value.streamLookupTimedOut(number) }
        }
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
        self.submitLog()
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

    func close(reason: String) {
        guard !self.closing else { return }
        self.closing = true
        self.stall.stop()
        self.logger.debug("closing", metadata: ["reason": "\(reason)"])
        self.core.closed()
        self.flushAll()
        self.clientChannel.close(promise: nil)
        self.upstreamChannel?.close(promise: nil)
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
