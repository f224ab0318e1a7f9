public import WardenPolicy

/// Decides a JetStream API call by what it makes nats-server do for the caller, beyond the publish
/// ACL on its subject: the subjects a stream captures, a consumer reads and delivers to, a get
/// returns, a transform or republish writes to (`Requirement`). A body Warden cannot read exactly as
/// nats-server would, or that names what Warden does not know, is refused (fail closed).
public enum JetStreamCheck {
    /// The requirements of `call` with request body `body` (the payload, without headers); nil when
    /// it is a consumer without a filter and `streamSubjects` (the subjects its stream holds) is nil.
    public static func requirements(
        _ call: JetStreamCall, body: UnsafeBufferPointer<UInt8>, streamSubjects: [String]? = nil
    ) throws(ContainmentRefusal) -> [Requirement]? {
        switch call.kind {
        case .snapshot, .restore:
            throw ContainmentRefusal(
                .uncheckable,
                "stream snapshots and restores carry a whole stream's messages as one archive, which Warden cannot "
                    + "check subject by subject; take them with an administrator's connection to nats-server")
        case .directGet:
            // A direct get by subject needs no body.
            let parsed = body.isEmpty && call.subject != nil ? nil : try Self.parse(body)
            return try MessageGetCheck.requirements(parsed, subject: call.subject)
        case .messageGet:
            return try MessageGetCheck.requirements(try Self.parse(body), subject: nil)
        case .streamCreate, .streamUpdate:
            return try StreamConfigCheck.requirements(try Self.parse(body))
        case .consumerCreate, .durableCreate:
            return try ConsumerConfigCheck.requirements(
                try Self.parse(body), subjectFilter: call.subject, streamSubjects: streamSubjects)
        case .streamInfo:
            // Without a body it is the stream's configuration and counts, nothing per subject.
            guard !body.isEmpty else { return [] }
            let request = try JSONFields(
                try Self.parse(body), known: Self.streamInfoFields, context: "stream info request")
            return try request.string("subjects_filter", context: "stream info request").map {
                [Requirement(.receive, $0, field: "stream info request.subjects_filter")]
            } ?? []
        }
    }

    /// `JSApiStreamInfoRequest`, with its paging (`ApiPagedRequest`).
    static let streamInfoFields: Set<String> = ["deleted_details", "subjects_filter", "offset"]

    /// Decides `call` for the service with `policy` (nil: a service no ACL file defines); nil when it
    /// needs the subjects of the call's stream (`streamSubjects`) and was not given them.
    public static func decide(
        _ call: JetStreamCall, body: UnsafeBufferPointer<UInt8>, policy: ServicePolicy?, streamSubjects: [String]? = nil
    ) -> ContainmentDecision? {
        do throws(ContainmentRefusal) {
            guard let requirements = try Self.requirements(call, body: body, streamSubjects: streamSubjects) else {
                return nil
            }
            return ContainmentDecision.decide(requirements, policy: policy)
        } catch {
            return ContainmentDecision.refused(error, mode: policy?.mode ?? .enforce)
        }
    }

    private static func parse(_ body: UnsafeBufferPointer<UInt8>) throws(ContainmentRefusal) -> JSONValue {
        do throws(JSONError) {
            return try StrictJSONParser.parse(body)
        } catch {
            throw ContainmentRefusal(
                .unreadable,
                "the request body is not JSON Warden can read exactly as nats-server does: \(error)")
        }
    }
}
