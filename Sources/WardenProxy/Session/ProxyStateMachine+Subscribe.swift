import NATSProtocol
import NIOCore
import WardenAudit
import WardenPolicy

extension ProxyStateMachine {
    /// A SUB: decided by the ACL, recorded, and forwarded or refused with nats-server's text.
    ///
    /// A subject is bytes. The parser reads SUB's subject and queue as text, which turns bytes that are
    /// not UTF-8 into U+FFFD: a SUB with such bytes is refused as an invalid subject in every mode
    /// rather than decided by text that is not what nats-server would subscribe to, and recorded with
    /// its exact bytes (`subject_escaped`; the queue's in the reason).
    mutating func subscribe(
        subject: String, queue: String?, sid: String, _ frame: Frame<ClientOperation>, into out: inout ProxyOutput
    ) {
        if let raw = Self.notUTF8(subject: subject, queue: queue, in: frame.raw) {
            let invalid = PolicyDecision(.deny, .invalidSubject, mode: .enforce)
            out.records.append(
                self.record(
                    .sub, invalid, subject: raw.subject, queue: queue,
                    reason: raw.queue.map { "queue group is not UTF-8: \(EscapedBytes.text($0))" }
                        ?? "subject is not UTF-8")
            )
            self.reply(Self.subscriptionViolation(subject: subject, queue: queue), into: &out)
            return
        }
        if self.maxSubscriptions > 0, self.subscriptions.live[sid] == nil,
            self.subscriptions.live.count >= self.maxSubscriptions
        {
            // As nats-server's max_subscriptions: refused with its text, the connection stays open.
            let limit = PolicyDecision(.deny, .defaultDeny, mode: .enforce)
            out.records.append(
                self.record(
                    .sub, limit, subject: WireString(subject), queue: queue, reason: Self.maxSubscriptionsText))
            self.reply(Self.error(Self.maxSubscriptionsText), into: &out)
            return
        }
        let decision = self.decideSubscribe(subject: subject, queue: queue)
        out.records.append(self.record(.sub, decision.decision, subject: WireString(subject), queue: queue))
        if decision.decision.isPermitted {
            self.subscriptions.subscribed(
                sid: sid, .init(subject: subject, queue: queue, filter: decision.deliveryFilter))
            self.toUpstream(frame.raw, into: &out)
            if self.verbose { self.reply(Self.ok, into: &out) }
        } else {
            self.reply(Self.subscriptionViolation(subject: subject, queue: queue), into: &out)
        }
    }

    /// nats-server's text when a client has `max_subscriptions` subscriptions.
    static let maxSubscriptionsText = "maximum subscriptions exceeded"

    func decideSubscribe(subject: String, queue: String?) -> SubscriptionDecision {
        guard let policy = self.policy else { return SubscriptionDecision(PolicySnapshot.unknownServiceDecision) }
        return policy.decideSubscribe(subject: subject, queue: queue)
    }

    static func subscriptionViolation(subject: String, queue: String?) -> ByteBuffer {
        guard let queue else { return Self.error("Permissions Violation for Subscription to \"\(subject)\"") }
        return Self.error("Permissions Violation for Subscription to \"\(subject)\" using queue \"\(queue)\"")
    }

    /// The SUB line's own subject bytes (and the queue's, when they are the ones that are not UTF-8),
    /// when the text the parser made of them is not what they were; nil for the usual SUB. Looks at the
    /// line only when the text has a U+FFFD.
    static func notUTF8(subject: String, queue: String?, in line: ByteBuffer) -> (subject: WireString, queue: [UInt8]?)?
    {
        let replacement: Unicode.Scalar = "\u{FFFD}"
        guard subject.unicodeScalars.contains(replacement) || queue?.unicodeScalars.contains(replacement) == true
        else { return nil }
        let fields = line.readableBytesView.split(whereSeparator: {
            $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n")
        })
        guard fields.count >= 3 else { return nil }
        let subjectBytes = Array(fields[1])
        let queueBytes = fields.count >= 4 ? Array(fields[2]) : nil
        let subjectValid = String(validating: subjectBytes, as: UTF8.self) != nil
        let queueValid = queueBytes.map { String(validating: $0, as: UTF8.self) != nil } ?? true
        guard !subjectValid || !queueValid else { return nil }
        return (WireString(ByteBuffer(bytes: subjectBytes)), queueValid ? nil : queueBytes)
    }
}
