/// Headers of a publish that make nats-server publish, read or delete elsewhere on the publisher's
/// behalf, and what each requires of its ACL:
/// - `Nats-Trace-Dest: S` (message tracing, server/msgtrace.go): nats-server publishes trace events on
///   S, so S must be publishable (as nats-server 2.14+ itself checks for its own users);
/// - `Nats-Schedule-Target: S` (message schedules, server/scheduler.go): the stream later stores a
///   message on S, so S must be publishable;
/// - `Nats-Schedule-Source: S`: that message takes the last message stored on S, so S must be
///   receivable;
/// - `Nats-Expected-Last-Subject-Sequence-Subject: S`: the publish succeeds or fails by the last
///   sequence stored on S, which tells whether S holds messages: S must be receivable;
/// - `Nats-Rollup: all`: deletes every other message of the stream, whatever its subject: only a
///   service that may publish to every subject (`>`) may.
/// `Nats-Trace-Dest: trace disabled` is nats-server's own marker for "no trace" and requires nothing.
public enum PublishHeaders {
    /// The requirements of the header block `headers` (the start of an HPUB's payload).
    public static func requirements(_ headers: UnsafeBufferPointer<UInt8>) throws(ContainmentRefusal) -> [Requirement] {
        var requirements: [Requirement] = []
        var refusal: ContainmentRefusal?
        HeaderLines.forEach(in: headers) { key, value in
            let kind: Requirement.Kind
            let field: String
            if HeaderLines.equals(key, lowercased: "nats-trace-dest") {
                if HeaderLines.equals(value, lowercased: "trace disabled") { return true }
                (kind, field) = (.publish, "Nats-Trace-Dest")
            } else if HeaderLines.equals(key, lowercased: "nats-schedule-target") {
                (kind, field) = (.publish, "Nats-Schedule-Target")
            } else if HeaderLines.equals(key, lowercased: "nats-schedule-source") {
                (kind, field) = (.receive, "Nats-Schedule-Source")
            } else if HeaderLines.equals(key, lowercased: "nats-expected-last-subject-sequence-subject") {
                (kind, field) = (.receive, "Nats-Expected-Last-Subject-Sequence-Subject")
            } else if HeaderLines.equals(key, lowercased: "nats-rollup") {
                guard HeaderLines.equals(value, lowercased: "all") else { return true }
                requirements.append(Requirement(.publish, ">", field: "Nats-Rollup: all (every subject of the stream)"))
                return true
            } else {
                return true
            }
            guard let subject = String(validating: value, as: UTF8.self) else {
                refusal = ContainmentRefusal(.unreadable, "the \(field) header is not UTF-8")
                return false
            }
            requirements.append(Requirement(kind, subject, field: field))
            return true
        }
        if let refusal { throw refusal }
        return requirements
    }
}
