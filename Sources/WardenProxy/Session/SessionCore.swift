import NATSProtocol
import NIOCore
import WardenAudit
import WardenMetrics
import WardenPolicy

/// What a session does without a channel, as one value: reading frames from either side, the state
/// machine, and encoding its decision records. A read is one call on it, so the session touches its
/// state once per read instead of several times per frame, and the whole path from bytes to decisions
/// to records runs without I/O.
struct SessionCore {
    private(set) var machine: ProxyStateMachine
    /// Frames for both sides and the connection's fate, gathered over a read cycle.
    var out = ProxyOutput()
    /// Where the records are encoded, for the decision log: the event loop's batch.
    let records: RecordBatch
    /// Where they are counted, for metrics: the service's counters in its mode.
    private var counters: DecisionCounters
    /// What turns records into log lines, counts and audit events.
    private let sink: DecisionSink
    /// What this connection's records repeat, encoded once.
    private let connection: ConnectionFields
    private var clientReader: FrameReader<NATSClientParser>
    private var upstreamReader = FrameReader(NATSServerParser())
    /// The clocks, read once per read cycle: the frames of one read share their time.
    private var cycleClock: (uptime: UInt64, wallMicroseconds: Int64)?

    init(
        machine: ProxyStateMachine, maxPayload: Int, records: RecordBatch, counters: DecisionCounters,
        sink: DecisionSink
    ) {
        self.machine = machine
        self.records = records
        self.counters = counters
        self.sink = sink
        self.connection = ConnectionFields(service: machine.service, conn: machine.conn, peer: machine.peer)
        self.clientReader = FrameReader(NATSClientParser(maxPayload: maxPayload))
    }

    /// Bytes from the client: every complete frame in them is decided. Stops at the first frame that
    /// closes the connection (the machine's phase becomes `.closed` and `out.close` says why); throws
    /// on a protocol violation, after handling the frames before it.
    mutating func clientReceived(_ bytes: ByteBuffer) throws(NATSProtocolError) {
        self.clientReader.receive(bytes)
        while self.machine.phase != .closed, let frame = try self.clientReader.next() {
            self.machine.clientSent(frame, now: self.clock.uptime, into: &self.out)
            self.encodeRecords()
        }
    }

    /// Bytes from nats-server (after the TLS handshake).
    mutating func upstreamReceived(_ bytes: ByteBuffer) throws(NATSProtocolError) {
        self.upstreamReader.receive(bytes)
        while self.machine.phase != .closed, let frame = try self.upstreamReader.next() {
            self.machine.upstreamSent(frame, now: self.clock.uptime, into: &self.out)
            self.encodeRecords()
        }
    }

    /// Bytes decided and queued for an upstream connection that is not ready yet.
    var bytesWaitingForUpstream: Int {
        (self.machine.upstreamReady ? 0 : self.machine.queuedUpstreamBytes) + self.machine.lookup.heldBytes
    }

    /// A stream lookup took longer than `StreamLookup.timeout`.
    mutating func streamLookupTimedOut(_ number: Int) {
        self.machine.streamLookupTimedOut(number, now: self.clock.uptime, into: &self.out)
        self.encodeRecords()
    }

    /// The ACLs were reloaded (`ProxyStateMachine.policyChanged`); `counters` are the service's in
    /// the new policy's mode. Returns how many subscriptions were removed.
    mutating func policyChanged(to policy: ServicePolicy?, counters: DecisionCounters) -> Int {
        self.counters = counters
        let removed = self.machine.policyChanged(to: policy, now: self.clock.uptime, into: &self.out)
        self.encodeRecords()
        return removed
    }

    /// The connection's credential was withdrawn (`ProxyStateMachine.credentialWithdrawn`).
    mutating func credentialWithdrawn(_ withdrawal: ProxyStateMachine.Withdrawal) {
        self.machine.credentialWithdrawn(withdrawal, into: &self.out)
        self.encodeRecords()
    }

    /// The client broke the protocol (`ProxyStateMachine.protocolViolation`).
    mutating func protocolViolation(_ error: NATSProtocolError) {
        self.machine.protocolViolation(error, into: &self.out)
        self.encodeRecords()
    }

    /// The client is a slow consumer (`ProxyStateMachine.slowConsumer`).
    mutating func slowConsumer(reason: String) {
        self.machine.slowConsumer(reason: reason, into: &self.out)
        self.encodeRecords()
    }

    /// A probe of the upstream connection while the client stalls (`ProxyStateMachine.probeUpstream`).
    mutating func probeUpstream() {
        self.machine.probeUpstream(into: &self.out)
    }

    mutating func upstreamBecameReady(proxySignature: String?) {
        self.machine.upstreamBecameReady(proxySignature: proxySignature, into: &self.out)
    }

    mutating func closed() {
        self.machine.closed()
    }

    /// The read cycle is over: the next read reads the clocks again.
    mutating func endCycle() {
        self.cycleClock = nil
    }

    private var clock: (uptime: UInt64, wallMicroseconds: Int64) {
        mutating get {
            if let clock = self.cycleClock { return clock }
            let clock = (NIODeadline.now().uptimeNanoseconds, RFC3339.nowMicroseconds())
            self.cycleClock = clock
            return clock
        }
    }

    private mutating func encodeRecords() {
        guard !self.out.records.isEmpty else { return }
        self.sink.take(
            &self.out.records, of: self.connection, counters: self.counters, into: self.records,
            microseconds: self.clock.wallMicroseconds)
    }
}
