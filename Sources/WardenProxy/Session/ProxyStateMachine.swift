import NATSProtocol
import NIOCore
import WardenAudit
import WardenPolicy

/// What Warden does for one client connection, as a state machine free of I/O: each event (a frame
/// from the client, a frame from nats-server, the upstream becoming ready) appends its effects to a
/// `ProxyOutput`, which the channel handlers carry out.
///
/// Ordering: nats-server answers a client's operations in order, and a client's flush (PING, wait for
/// PONG) relies on that. Every PING is forwarded upstream, so its PONG comes back after nats-server
/// has handled everything before it. What Warden answers itself (`-ERR` for a denied operation, `+OK`
/// in verbose mode) waits behind the PONGs of earlier PINGs, so the client sees the same order as
/// it would from nats-server. Warden also sends PINGs of its own, to learn when nats-server can no
/// longer deliver for an ended subscription; their PONGs never reach the client.
struct ProxyStateMachine {
    enum Phase {
        /// Waiting for the client's CONNECT; nothing has been sent upstream.
        case awaitingConnect
        /// CONNECT received; operations are decided and forwarded (queued until the upstream is ready).
        case connected
        /// The connection is being closed; further frames are ignored.
        case closed
    }

    let service: String?
    let conn: UInt64
    let peer: String
    private(set) var phase = Phase.awaitingConnect
    private(set) var upstreamReady = false
    private(set) var verbose = false

    /// Decides publishes, and keeps what they need between frames (cached decisions, response grants).
    var publishes: PublishGuard
    /// Whether the client asked for status messages (`headers` and `no_responders` in its CONNECT):
    /// a request Warden refuses is then also answered with one, so it fails at once.
    private(set) var wantsStatus = false
    /// The client's subscriptions and what their deliveries are checked against.
    var subscriptions = SubscriptionTable()
    /// How many subscriptions the client may have (`ProxyConfiguration.maxSubscriptions`); 0 is no limit.
    let maxSubscriptions: Int
    /// Frames decided before the upstream connection was ready, in order, CONNECT first.
    private var queuedUpstream: [ByteBuffer] = []
    /// The client's CONNECT, until the upstream is ready: only then is `proxySignature` known.
    private var pendingConnect: ClientConnect?
    /// The client's CONNECT options, as a repeated CONNECT changed them.
    private var options: ClientConnect?
    /// `proxy_sig` for the upstream CONNECT (`ProxyKey`), from nats-server's INFO nonce.
    private(set) var proxySignature: String?
    private(set) var queuedUpstreamBytes = 0
    /// A publish waiting for its JetStream stream's subjects, and the frames held behind it.
    var lookup = StreamLookup()
    /// PINGs sent upstream, the client's and Warden's own, and the PONGs nats-server returned: it
    /// answers them in order.
    var pingsForwarded = 0
    private var pongsReturned = 0
    /// The numbers (among `pingsForwarded`) of the PINGs Warden sent of its own, in order, until their
    /// PONGs return.
    var ownPings: [Int] = []
    /// The client's PINGs forwarded and their PONGs returned to it.
    private var clientPings = 0
    private var clientPongs = 0
    /// Whether the client has had a PONG: its CONNECT is complete (INFO updates may follow).
    var hasAnsweredFirstPing: Bool { self.clientPongs > 0 }
    /// Warden's own answers waiting for the PONG of an earlier PING of the client's: (the client's
    /// PINGs forwarded before it, bytes).
    private var deferred: [(pings: Int, bytes: ByteBuffer)] = []

    init(service: String?, policy: ServicePolicy?, conn: UInt64, peer: String, maxSubscriptions: Int = 0) {
        self.service = service
        self.conn = conn
        self.peer = peer
        self.maxSubscriptions = maxSubscriptions
        self.publishes = PublishGuard(policy: policy)
    }

    /// The service's policy; nil when no ACL file defines the service. Replaced at an ACL reload.
    var policy: ServicePolicy? { self.publishes.policy }

    /// The service's mode; a connection without a policy is enforced.
    var mode: PolicyMode { self.policy?.mode ?? .enforce }

    /// Ended subscriptions whose checks wait for a PONG (tests).
    var endedSubscriptionsAwaitingPONG: Int { self.subscriptions.endingSubscriptions }

    // MARK: Client to server

    mutating func clientSent(_ frame: Frame<ClientOperation>, now: UInt64, into out: inout ProxyOutput) {
        switch self.phase {
        case .closed:
            return
        case .awaitingConnect:
            self.beforeConnect(frame, into: &out)
        case .connected where self.lookup.isPending:
            // Behind a publish that waits for its stream's subjects, in order (`StreamLookup`).
            self.lookup.hold(frame)
        case .connected:
            self.connected(frame, now: now, into: &out)
        }
    }

    private mutating func beforeConnect(_ frame: Frame<ClientOperation>, into out: inout ProxyOutput) {
        switch frame.operation {
        case .connect(let json):
            let options: ClientConnect
            do {
                options = try ClientConnect(json: json)
            } catch {
                self.close(error.wireText, reason: "invalid CONNECT: \(error)", into: &out)
                return
            }
            self.options = options
            self.verbose = options.verbose
            self.wantsStatus = options.headers && options.noResponders
            self.phase = .connected
            if self.upstreamReady {
                out.upstream.append(self.upstreamConnect(options))
            } else {
                self.pendingConnect = options
            }
            if self.verbose { self.reply(Self.ok, into: &out) }
        case .publish(let publish):
            // Recorded like every publish, then refused the way nats-server refuses operations before
            // CONNECT on a server that requires authentication.
            out.records.append(
                self.record(
                    .pub, Self.connectRequired, subject: publish.subject, reply: publish.reply, size: publish.bodySize))
            self.close("Authorization Violation", reason: "operation before CONNECT", into: &out)
        case .subscribe(let subject, let queue, _):
            out.records.append(self.record(.sub, Self.connectRequired, subject: WireString(subject), queue: queue))
            self.close("Authorization Violation", reason: "operation before CONNECT", into: &out)
        case .unsubscribe, .ping, .pong:
            self.close("Authorization Violation", reason: "operation before CONNECT", into: &out)
        }
    }

    private mutating func connected(_ frame: Frame<ClientOperation>, now: UInt64, into out: inout ProxyOutput) {
        switch frame.operation {
        case .connect(let json):
            // A repeated CONNECT may change verbose; the upstream keeps the options of the first. One
            // nats-server cannot read closes the connection, as the first would have.
            do {
                let options = try ClientConnect(json: json, over: self.options)
                self.options = options
                self.verbose = options.verbose
            } catch {
                self.close(error.wireText, reason: "invalid CONNECT: \(error)", into: &out)
                return
            }
            if self.verbose { self.reply(Self.ok, into: &out) }

        case .publish(let publish):
            let verdict = self.publishes.decide(publish, now: now)
            if let call = verdict.awaitsStream {
                self.lookUpStream(of: call, for: frame, publish, subjectDecision: verdict.decision, into: &out)
            } else {
                self.carryOut(verdict, of: publish, frame, into: &out)
            }

        case .subscribe(let subject, let queue, let sid):
            self.subscribe(subject: subject, queue: queue, sid: sid, frame, into: &out)

        case .unsubscribe(let sid, let max):
            self.subscriptions.unsubscribed(sid: sid, max: max, pingsForwarded: self.pingsForwarded)
            self.toUpstream(frame.raw, into: &out)
            self.pingForEndedSubscriptions(into: &out)
            if self.verbose { self.reply(Self.ok, into: &out) }

        case .ping:
            self.pingsForwarded += 1
            self.clientPings += 1
            self.toUpstream(frame.raw, into: &out)

        case .pong:
            self.toUpstream(frame.raw, into: &out)
        }
    }

    /// Records a decided publish, and forwards or refuses it.
    mutating func carryOut(
        _ verdict: PublishVerdict, of publish: Publish, _ frame: Frame<ClientOperation>, into out: inout ProxyOutput
    ) {
        out.records.append(
            self.record(
                .pub, verdict.decision, subject: publish.subject, reply: publish.reply, size: publish.bodySize,
                reason: verdict.reason))
        if verdict.decision.isPermitted {
            self.toUpstream(frame.raw, into: &out)
            if self.verbose { self.reply(Self.ok, into: &out) }
        } else {
            self.refuse(publish, verdict, into: &out)
        }
    }

    // MARK: ACL reload

    /// What a decision record says about a subscription Warden removed because reloaded ACLs no
    /// longer allow it.
    static let reloadReason = "acl reload"

    /// The ACLs were reloaded: from now on, decide with `policy` (nil when no ACL file defines the
    /// service any more). Returns how many subscriptions were removed.
    ///
    /// As nats-server does at a config reload, every live subscription is decided again. One no longer
    /// allowed is unsubscribed upstream (what nats-server still delivers for it is dropped) and the
    /// client gets nats-server's `-ERR 'Permissions Violation for Subscription to "SUBJECT" (sid "SID")'`;
    /// the connection stays open. Each is recorded as a `sub` deny with reason `acl reload` and its
    /// sid, and so is a subscription an audit-mode service keeps although it is now denied. Publish
    /// decisions cached for the connection are forgotten, and `allow_responses` grants already made
    /// are held to the new limits.
    @discardableResult
    mutating func policyChanged(to policy: ServicePolicy?, now: UInt64, into out: inout ProxyOutput) -> Int {
        self.publishes.policyChanged(to: policy, now: now)
        guard self.phase == .connected else { return 0 }
        var removed = 0
        for sid in self.subscriptions.live.keys.sorted(by: Self.sidOrder) {
            var filters: [[Rule]] = []
            var denial: PolicyDecision?
            for subscription in self.subscriptions.live[sid]! {
                let decision = self.decideSubscribe(subject: subscription.subject, queue: subscription.queue)
                if decision.decision.verdict == .deny {
                    out.records.append(
                        self.record(
                            .sub, decision.decision, subject: WireString(subscription.subject),
                            queue: subscription.queue,
                            sid: WireString(sid), reason: Self.reloadReason))
                }
                if decision.decision.isPermitted {
                    filters.append(decision.deliveryFilter)
                } else if denial == nil {
                    denial = decision.decision
                }
            }
            guard let denial else {
                self.subscriptions.refiltered(sid: sid, filters: filters)
                continue
            }
            removed += 1
            // The subscription nats-server holds for the sid: the first made with it.
            let subject = self.subscriptions.live[sid]![0].subject
            out.client.append(Self.error("Permissions Violation for Subscription to \"\(subject)\" (sid \"\(sid)\")"))
            self.subscriptions.removed(sid: sid, decision: denial, pingsForwarded: self.pingsForwarded)
            self.toUpstream(ByteBuffer(string: "UNSUB \(sid)\r\n"), into: &out)
        }
        self.pingForEndedSubscriptions(into: &out)
        return removed
    }

    /// Numbers in numeric order (clients number their sids), then anything else.
    private static func sidOrder(_ a: String, _ b: String) -> Bool {
        a.utf8.count != b.utf8.count ? a.utf8.count < b.utf8.count : a < b
    }

    // MARK: Server to client

    /// The upstream connection is up (TLS done): send CONNECT and everything queued behind it.
    /// The upstream connection is ready: the CONNECT goes first (signed with `proxySignature` when
    /// Warden is nats-server's trusted proxy), then what was queued.
    mutating func upstreamBecameReady(proxySignature: String? = nil, into out: inout ProxyOutput) {
        guard !self.upstreamReady else { return }
        self.upstreamReady = true
        self.proxySignature = proxySignature
        if let pending = self.pendingConnect {
            self.pendingConnect = nil
            out.upstream.append(self.upstreamConnect(pending))
        }
        out.upstream.append(contentsOf: self.queuedUpstream)
        self.queuedUpstream.removeAll()
        self.queuedUpstreamBytes = 0
    }

    /// A frame from nats-server after its first INFO (which the upstream handler consumes).
    mutating func upstreamSent(_ frame: Frame<ServerOperation>, now: UInt64, into out: inout ProxyOutput) {
        guard self.phase != .closed else { return }
        switch frame.operation {
        case .message(let delivery) where self.lookup.isAnswer(delivery):
            self.streamLookupAnswered(delivery, now: now, into: &out)
        case .message(let delivery):
            if let denial = self.deliveryDenial(delivery) {
                out.records.append(
                    self.record(
                        .deliver, denial.decision, subject: denial.subject ?? delivery.subject, sid: delivery.sid,
                        reason: denial.reason))
                guard denial.decision.isPermitted else { return }
            }
            if let reply = delivery.reply { self.publishes.delivered(reply: reply, now: now) }
            out.client.append(frame.raw)
        case .info(let json):
            if let (line, announcement) = ServerInfo.sanitized(upstreamJSON: json, clientID: self.conn) {
                out.client.append(ByteBuffer(string: line))
                out.announcement = announcement
            }
        case .pong:
            self.pongsReturned += 1
            if self.ownPings.first == self.pongsReturned {
                self.ownPings.removeFirst()
            } else {
                out.client.append(frame.raw)
                self.clientPongs += 1
                while let first = self.deferred.first, first.pings <= self.clientPongs {
                    out.client.append(first.bytes)
                    self.deferred.removeFirst()
                }
            }
            self.subscriptions.pongReturned(self.pongsReturned)
            self.pingForEndedSubscriptions(into: &out)
        case .ping, .ok, .error:
            out.client.append(frame.raw)
        }
    }

    /// The connection is going away; nothing more is forwarded.
    mutating func closed() {
        self.phase = .closed
        self.queuedUpstream.removeAll()
        self.deferred.removeAll()
        self.lookup.closed()
    }

    // MARK: Helpers

    static let ok = ByteBuffer(string: "+OK\r\n")

    static func error(_ text: String) -> ByteBuffer {
        ByteBuffer(string: "-ERR '\(text)'\r\n")
    }

    private static let connectRequired = PolicyDecision(.deny, .defaultDeny, mode: .enforce)

    private func upstreamConnect(_ options: ClientConnect) -> ByteBuffer {
        ByteBuffer(string: options.upstreamLine(service: self.service, proxySignature: self.proxySignature))
    }

    mutating func toUpstream(_ bytes: ByteBuffer, into out: inout ProxyOutput) {
        if self.upstreamReady {
            out.upstream.append(bytes)
        } else {
            self.queuedUpstream.append(bytes)
            self.queuedUpstreamBytes += bytes.readableBytes
        }
    }

    /// An answer from Warden itself, placed after the PONGs still owed to the client for its earlier
    /// PINGs.
    mutating func reply(_ bytes: ByteBuffer, into out: inout ProxyOutput) {
        if self.clientPings == self.clientPongs {
            out.client.append(bytes)
        } else {
            self.deferred.append((self.clientPings, bytes))
        }
    }

    static let ping = ByteBuffer(string: "PING\r\n")

    /// An ended subscription's checks stay until the PONG of a PING sent after its UNSUB
    /// (`SubscriptionTable`). When the client has sent none since, Warden sends one, so that the
    /// checks of a client that never PINGs do not pile up for as long as it is connected. One at a
    /// time: subscriptions that end while it is out wait for the next, sent when its PONG returns.
    private mutating func pingForEndedSubscriptions(into out: inout ProxyOutput) {
        guard self.ownPings.isEmpty, self.subscriptions.needsPing(pingsForwarded: self.pingsForwarded) else { return }
        self.pingsForwarded += 1
        self.ownPings.append(self.pingsForwarded)
        self.toUpstream(Self.ping, into: &out)
    }

    private mutating func close(_ wireText: String?, reason: String, into out: inout ProxyOutput) {
        if let wireText { out.client.append(Self.error(wireText)) }
        out.close = reason
        self.closed()
    }

    func record(
        _ op: DecisionRecord.Op, _ decision: PolicyDecision, subject: WireString, queue: String? = nil,
        reply: WireString? = nil, size: Int? = nil, sid: WireString? = nil, reason: String? = nil
    ) -> DecisionRecord {
        DecisionRecord(
            decision: decision.verdict, op: op, service: self.service, conn: self.conn, peer: self.peer,
            mode: decision.mode, rule: decision.ruleDescription, subject: subject, queue: queue, reply: reply,
            size: size, reason: reason, sid: sid)
    }
}
