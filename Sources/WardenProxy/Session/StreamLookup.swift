import NATSProtocol
import NIOCore
import WardenContainment
import WardenPolicy

/// A publish the state machine holds until it knows the subjects of a JetStream stream, and the frames
/// the client sent after it, which wait behind it in order.
///
/// A consumer created without a filter reads every subject of its stream, which its request does not
/// name. Warden asks nats-server, on the client's own upstream connection so that the answer reflects
/// everything the client did before: `$JS.API.STREAM.INFO.<stream>`, answered on an inbox of Warden's
/// own (`_WARDEN.<random>.<n>`, subscribed with the sid `_warden_lookup`, whose messages never reach
/// the client). Until the answer, or `timeout`, decides the consumer, nothing the client sends after it
/// is decided or forwarded. A client that itself subscribes with that sid only keeps Warden from its
/// answers: lookups then time out, and the consumer is decided as reading every subject (`>`).
struct StreamLookup {
    struct Pending {
        var frame: Frame<ClientOperation>
        var publish: Publish
        var call: JetStreamCall
        var subjectDecision: PolicyDecision
        var number: Int
    }

    static let sid = "_warden_lookup"
    /// How long a lookup may take before the consumer is decided without it.
    static let timeout: TimeAmount = .seconds(5)

    private let inboxPrefix =
        "_WARDEN."
        + String(
            (0..<4).map { _ in UInt32.random(in: .min ... .max) }
                .map { String($0, radix: 16) }.joined().prefix(24))
    private var subscribed = false
    private var lastNumber = 0
    private(set) var pending: Pending?
    private var held: [Frame<ClientOperation>] = []
    /// Bytes of the frames held, for back-pressure.
    private(set) var heldBytes = 0

    var isPending: Bool { self.pending != nil }

    mutating func hold(_ frame: Frame<ClientOperation>) {
        self.held.append(frame)
        self.heldBytes += frame.raw.readableBytes
    }

    /// Starts a lookup for `pending`'s stream: the frames to send upstream for it.
    mutating func start(
        _ call: JetStreamCall, for frame: Frame<ClientOperation>, _ publish: Publish, subjectDecision: PolicyDecision
    ) -> (frames: [ByteBuffer], number: Int) {
        var frames: [ByteBuffer] = []
        if !self.subscribed {
            self.subscribed = true
            frames.append(ByteBuffer(string: "SUB \(self.inboxPrefix).* \(Self.sid)\r\n"))
        }
        self.lastNumber += 1
        // The API as the client addressed it, with its JetStream domain if any.
        let subject = publish.subject.string
        let prefix = subject.range(of: ".API.").map { String(subject[..<$0.upperBound]) } ?? "$JS.API."
        frames.append(
            ByteBuffer(
                string: "PUB \(prefix)STREAM.INFO.\(call.stream) \(self.inboxPrefix).\(self.lastNumber) 0\r\n\r\n"))
        self.pending = Pending(
            frame: frame, publish: publish, call: call, subjectDecision: subjectDecision, number: self.lastNumber)
        return (frames, self.lastNumber)
    }

    /// Whether `delivery` is for Warden's lookups rather than the client.
    func isAnswer(_ delivery: Delivery) -> Bool {
        self.subscribed && delivery.sid.withUnsafeBytes { Self.sid.utf8.elementsEqual($0) }
    }

    /// The lookup the answer on `subject` ends, when it is the pending one.
    func number(ofAnswerOn subject: WireString) -> Int? {
        let text = subject.string
        guard text.hasPrefix(self.inboxPrefix + "."), let number = Int(text.dropFirst(self.inboxPrefix.count + 1))
        else {
            return nil
        }
        return number
    }

    /// Ends the pending lookup numbered `number`: it and the frames held behind it, in order.
    mutating func finish(_ number: Int) -> (pending: Pending, held: [Frame<ClientOperation>])? {
        guard let pending = self.pending, pending.number == number else { return nil }
        defer {
            self.pending = nil
            self.held = []
            self.heldBytes = 0
        }
        return (pending, self.held)
    }

    mutating func closed() {
        self.pending = nil
        self.held = []
        self.heldBytes = 0
    }
}

extension ProxyStateMachine {
    mutating func lookUpStream(
        of call: JetStreamCall, for frame: Frame<ClientOperation>, _ publish: Publish, subjectDecision: PolicyDecision,
        into out: inout ProxyOutput
    ) {
        let (frames, number) = self.lookup.start(call, for: frame, publish, subjectDecision: subjectDecision)
        for frame in frames { self.toUpstream(frame, into: &out) }
        out.lookupStarted = number
    }

    /// nats-server answered a lookup (with the stream's info, or an error or no-responders status).
    mutating func streamLookupAnswered(_ delivery: Delivery, now: UInt64, into out: inout ProxyOutput) {
        guard let number = self.lookup.number(ofAnswerOn: delivery.subject) else { return }
        let subjects = delivery.payload.withUnsafeReadableBytes { raw in
            StreamSubjects.fromInfo(
                UnsafeBufferPointer(rebasing: raw.bindMemory(to: UInt8.self)[(delivery.headerLength ?? 0)...]))
        }
        self.finishLookup(number, subjects: subjects, now: now, into: &out)
    }

    /// The lookup numbered `number` took too long: the consumer is decided as reading every subject.
    mutating func streamLookupTimedOut(_ number: Int, now: UInt64, into out: inout ProxyOutput) {
        self.finishLookup(number, subjects: StreamSubjects.anySubject, now: now, into: &out)
    }

    private mutating func finishLookup(_ number: Int, subjects: [String], now: UInt64, into out: inout ProxyOutput) {
        guard self.phase == .connected, let (pending, held) = self.lookup.finish(number) else { return }
        let verdict = self.publishes.decide(
            pending.publish, awaiting: pending.call, subjectDecision: pending.subjectDecision, streamSubjects: subjects)
        self.carryOut(verdict, of: pending.publish, pending.frame, into: &out)
        // In order; one that starts another lookup holds the rest again.
        for frame in held { self.clientSent(frame, now: now, into: &out) }
    }
}
