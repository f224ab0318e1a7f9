import NATSProtocol
import NIOCore
import WardenContainment
import WardenPolicy

/// What the state machine checks in a message nats-server delivers, before the client gets it:
/// - a subscription's delivery filter (the deny entries it overlaps), and what is still delivered for
///   an ended one (`SubscriptionTable`);
/// - a message on a subject its subscription does not match, which nats-server delivers for JetStream
///   (push and pull deliveries carry the subject they were stored on): decided as if the client
///   subscribed to that subject;
/// - a stored message carried inside the message (a direct get's or message get's answer, a
///   republished message: `StoredMessage`): decided by the subject it was stored on.
/// A delivery that no check refuses costs a look-up of its sid (usually that of the one before) and
/// a comparison of its subject; one whose payload starts like a message get's answer, or with headers,
/// a scan of those bytes.
extension ProxyStateMachine {
    struct DeliveryDenial {
        var decision: PolicyDecision
        /// The subject the denial is about when it is not the message's own (a carried message's).
        var subject: WireString?
        var reason: String?
    }

    static let foreignReason = "not a subject its subscription matches (JetStream delivery)"

    mutating func deliveryDenial(_ delivery: Delivery) -> DeliveryDenial? {
        // Clients number their subscriptions, so as a `String` the sid needs no allocation.
        if self.subscriptions.needsChecks,
            let denial = self.subscriptions.delivery(
                sid: delivery.sid.string, subject: delivery.subject, policy: self.policy)
        {
            return DeliveryDenial(decision: denial)
        }
        if self.subscriptions.isForeign(sid: delivery.sid, subject: delivery.subject) {
            let queue = self.subscriptions.queue(of: delivery.sid)
            let decision = delivery.subject.withUnsafeBytes { self.decideReceive($0, queue: queue) }
            if decision.verdict == .deny { return DeliveryDenial(decision: decision, reason: Self.foreignReason) }
        }
        // A stored message is carried in headers or in a JSON body: most deliveries have neither.
        let headers = delivery.headerLength ?? 0
        guard
            headers > 0
                || delivery.payload.getInteger(at: delivery.payload.readerIndex, as: UInt8.self) == UInt8(ascii: "{")
        else { return nil }
        let carried = delivery.payload.withUnsafeReadableBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            return StoredMessage.carried(
                headers: UnsafeBufferPointer(rebasing: bytes[..<headers]),
                body: UnsafeBufferPointer(rebasing: bytes[headers...]))
        }
        switch carried {
        case .nothing:
            return nil
        case .subjects(let subjects):
            // Decided as the subscription that receives it would be: its queue selects queue rules.
            let queue = self.subscriptions.queue(of: delivery.sid)
            for subject in subjects {
                let decision =
                    self.policy?.decideReceive(subject: subject, queue: queue) ?? PolicySnapshot.unknownServiceDecision
                if decision.verdict == .deny {
                    return DeliveryDenial(
                        decision: decision, subject: WireString(subject),
                        reason: "stored message carried on \"\(delivery.subject)\"")
                }
            }
            return nil
        case .unreadable(let why):
            return DeliveryDenial(decision: PolicyDecision(.deny, .notUnderstood, mode: self.mode), reason: why)
        }
    }

    private func decideReceive(_ subject: UnsafeBufferPointer<UInt8>, queue: String?) -> PolicyDecision {
        guard let policy = self.policy else { return PolicySnapshot.unknownServiceDecision }
        return policy.decideReceive(subjectBytes: subject, queue: queue)
    }
}
