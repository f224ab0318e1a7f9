/// Decisions about where nats-server sends messages on the service's behalf: reply subjects, deliver
/// subjects and the destinations of JetStream configuration, and subjects a delivered message carries.
///
/// nats-server answers a request on whatever reply subject the requester chose, and Warden's upstream
/// identity may publish anywhere: a reply subject is a write channel. These decisions close it.
extension ServicePolicy {
    /// May this service direct answers to `reply` (a reply subject, a push consumer's deliver subject)?
    ///
    /// Whatever nats-server or another service publishes there, the service caused, so the subject must
    /// be one of:
    /// - a `replies` entry's: the explicit widening, for the rare service that names another service's
    ///   subject;
    /// - one the service may subscribe to (so the answer comes back to it) that is its own inbox,
    ///   `_INBOX.<service>.>`, or a subject it may publish to anyway.
    ///
    /// Deny beats allow: a publish deny entry that matches `reply` refuses it whatever allows it, and so
    /// do the reserved reply prefixes and Warden's audit subjects.
    public func decideReply(_ reply: String) -> PolicyDecision {
        SubjectBytes.withBytes(reply) { self.decideReply(replyBytes: $0) }
    }

    /// `decideReply(_:)` for a reply subject given as UTF-8 bytes, as it arrives on the wire.
    public func decideReply(replyBytes reply: UnsafeBufferPointer<UInt8>) -> PolicyDecision {
        let shape = SubjectBytes.scan(reply)
        guard shape.isValid, !shape.hasWildcards else {
            return PolicyDecision(.deny, .invalidSubject, mode: self.mode)
        }
        if Self.isReservedReply(reply) {
            return PolicyDecision(.deny, .reservedReply, mode: self.mode)
        }
        if let reserved = Self.reservedSubject(reply) {
            return PolicyDecision(.deny, reserved, mode: .enforce)
        }
        if let rule = self.publishDeny.firstContaining(reply) {
            return PolicyDecision(.deny, .rule(rule), mode: self.mode)
        }
        if let rule = self.replyAllow.firstContaining(reply) {
            return PolicyDecision(.allow, .rule(rule), mode: self.mode)
        }
        let receive = self.decideReceive(subjectBytes: reply)
        guard receive.verdict == .allow else {
            // A subscribe deny entry names the subject: report it; otherwise nothing allows it.
            return receive.rule != nil ? receive : PolicyDecision(.deny, .defaultDenyReply, mode: self.mode)
        }
        if self.ownInbox.matches(literal: reply) {
            return PolicyDecision(.allow, .rule(self.ownInbox), mode: self.mode)
        }
        if let rule = self.publishAllow.firstContaining(reply) {
            return PolicyDecision(.allow, .rule(rule), mode: self.mode)
        }
        return PolicyDecision(.deny, .defaultDenyReply, mode: self.mode)
    }

    /// May this service receive a message on the literal subject `subject` (subscribed in `queue`)?
    /// As a subscription to exactly that subject would be decided: an allow entry must match it, and no
    /// deny entry may. For messages that reach the service on a subject other than the one it
    /// subscribed to: JetStream deliveries, stored messages carried in answers.
    public func decideReceive(subject: String, queue: String? = nil) -> PolicyDecision {
        SubjectBytes.withBytes(subject) { self.decideReceive(subjectBytes: $0, queue: queue) }
    }

    /// `decideReceive(subject:queue:)` for a subject given as UTF-8 bytes.
    public func decideReceive(subjectBytes subject: UnsafeBufferPointer<UInt8>, queue: String? = nil) -> PolicyDecision
    {
        let shape = SubjectBytes.scan(subject)
        guard shape.isValid, !shape.hasWildcards else {
            return PolicyDecision(.deny, .invalidSubject, mode: self.mode)
        }
        if let rule = self.subscribeDeny.firstContaining(subject, queue: queue) {
            return PolicyDecision(.deny, .rule(rule), mode: self.mode)
        }
        guard let rule = self.subscribeAllow.firstContaining(subject, queue: queue) else {
            return PolicyDecision(.deny, .defaultDeny, mode: self.mode)
        }
        return PolicyDecision(.allow, .rule(rule), mode: self.mode)
    }

    /// May nats-server publish, on this service's behalf, to every subject `pattern` stands for (a
    /// stream's republish or transform destination, a trace destination)? Allowed when one publish
    /// allow entry contains the whole pattern and no publish deny entry overlaps it; a literal
    /// subject is decided as a publish to it.
    public func decidePublish(pattern: String) -> PolicyDecision {
        SubjectBytes.withBytes(pattern) { pattern in
            let shape = SubjectBytes.scan(pattern)
            guard shape.isValid else { return PolicyDecision(.deny, .invalidSubject, mode: self.mode) }
            guard shape.hasWildcards else { return self.decidePublish(subjectBytes: pattern) }
            if Self.overlaps(pattern, reserved: auditSubjectPrefix) {
                return PolicyDecision(.deny, .auditSubject, mode: .enforce)
            }
            if Self.overlaps(pattern, reserved: peerSubjectPrefix) {
                return PolicyDecision(.deny, .peerSubject, mode: .enforce)
            }
            // A destination pattern cannot name the stream in a JetStream API subject's token the way a
            // literal can, but it can cover the bucket's subjects.
            if Self.overlaps(pattern, reserved: "$KV.\(fleetBucketName)") {
                return PolicyDecision(.deny, .fleetState, mode: .enforce)
            }
            if let rule = self.publishDeny.overlapping(pattern).min(by: { $0.order < $1.order }) {
                return PolicyDecision(.deny, .rule(rule), mode: self.mode)
            }
            guard let rule = self.publishAllow.firstContaining(pattern) else {
                return PolicyDecision(.deny, .defaultDeny, mode: self.mode)
            }
            return PolicyDecision(.allow, .rule(rule), mode: self.mode)
        }
    }

    /// Whether a pattern with wildcards can match a subject under `reserved.` (`warden.audit.`,
    /// `warden.peers.`).
    private static func overlaps(_ pattern: UnsafeBufferPointer<UInt8>, reserved: String) -> Bool {
        let tokens = reserved.split(separator: ".").map { Array($0.utf8) }
        var start = 0
        for token in tokens {
            guard start <= pattern.count else { return false }
            let end = SubjectBytes.tokenEnd(pattern, from: start)
            if SubjectBytes.isByte(pattern, start, end, SubjectBytes.greater) { return true }
            let matches =
                SubjectBytes.isByte(pattern, start, end, SubjectBytes.star)
                || token.withUnsafeBufferPointer {
                    SubjectBytes.equal($0, UnsafeBufferPointer(rebasing: pattern[start..<end]))
                }
            if !matches { return false }
            start = end + 1
        }
        // Reserved subjects have at least one more token.
        return start <= pattern.count
    }
}
