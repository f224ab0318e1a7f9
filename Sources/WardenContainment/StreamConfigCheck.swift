/// What creating or updating a stream makes nats-server do for the caller (nats-server's
/// `StreamConfig`, server/stream.go):
/// - it stores every message published on `subjects`, for the caller to read: each must be a subject the
///   caller may receive;
/// - a `subject_transform` (of the stream, or of a source or the mirror) stores messages read on its
///   `src` under `dest`, which hides where they came from: `src` must be receivable, `dest` publishable;
/// - `republish.dest` is published to for every message stored: it must be publishable (what it
///   carries is checked where it is delivered, by the subject it was stored on);
/// - a source's `consumer.deliver_subject` is read into the stream: it must be receivable;
/// - sources and mirrors from another account or domain (`external`) are refused: their deliver
///   prefix makes nats-server publish where Warden cannot see.
/// Every other field is known and names no subject; an unknown field is refused.
enum StreamConfigCheck {
    static let fields: Set<String> = [
        "name", "description", "subjects", "retention", "max_consumers", "max_msgs", "max_bytes", "max_age",
        "max_msgs_per_subject", "max_msg_size", "discard", "storage", "num_replicas", "no_ack", "duplicate_window",
        "placement", "mirror", "sources", "compression", "first_seq", "subject_transform", "republish",
        "allow_direct", "mirror_direct", "discard_new_per_subject", "sealed", "deny_delete", "deny_purge",
        "allow_rollup_hdrs", "consumer_limits", "allow_msg_ttl", "subject_delete_marker_ttl", "allow_msg_counter",
        "allow_atomic", "allow_msg_schedules", "persist_mode", "allow_batched", "metadata",
        // Of the request, not the stream (`StreamConfigRequest`).
        "pedantic",
    ]
    static let placementFields: Set<String> = ["cluster", "tags", "preferred"]
    static let sourceFields: Set<String> = [
        "name", "opt_start_seq", "opt_start_time", "filter_subject", "subject_transforms", "external", "consumer",
    ]
    static let transformFields: Set<String> = ["src", "dest"]
    static let republishFields: Set<String> = ["src", "dest", "headers_only"]
    static let consumerLimitsFields: Set<String> = ["inactive_threshold", "max_ack_pending"]
    static let sourceConsumerFields: Set<String> = ["name", "deliver_subject"]

    static func requirements(_ body: JSONValue) throws(ContainmentRefusal) -> [Requirement] {
        let config = try JSONFields(body, known: Self.fields, context: "stream config")
        _ = try config.object("placement", known: Self.placementFields, context: "stream config")
        _ = try config.object("consumer_limits", known: Self.consumerLimitsFields, context: "stream config")
        if let metadata = config["metadata"], !metadata.isStringMap {
            throw ContainmentRefusal(.malformed, "stream config.metadata must map names to strings")
        }
        var requirements: [Requirement] = []
        let subjects = try config.strings("subjects", context: "stream config")
        for subject in subjects {
            requirements.append(Requirement(.receive, subject, field: "stream config.subjects"))
        }
        if let transform = try config.object("subject_transform", known: Self.transformFields, context: "stream config")
        {
            // Without `src`, the transform applies to every subject the stream captures.
            let sources =
                try transform.string("src", context: "stream config.subject_transform").map { [$0] } ?? subjects
            try requirements += Self.transform(
                sources: sources.isEmpty ? [">"] : sources,
                dest: transform.string("dest", context: "stream config.subject_transform"),
                field: "stream config.subject_transform")
        }
        if let republish = try config.object("republish", known: Self.republishFields, context: "stream config") {
            guard let dest = try republish.string("dest", context: "stream config.republish") else {
                throw ContainmentRefusal(.malformed, "stream config.republish has no dest")
            }
            requirements.append(
                Requirement(.publish, try TransformDestination.pattern(dest), field: "stream config.republish.dest"))
        }
        if let mirror = try config.object("mirror", known: Self.sourceFields, context: "stream config") {
            requirements += try Self.source(mirror, field: "stream config.mirror")
        }
        for source in try config.objects("sources", known: Self.sourceFields, context: "stream config") {
            requirements += try Self.source(source, field: "stream config.sources")
        }
        return requirements
    }

    private static func source(_ source: JSONFields, field: String) throws(ContainmentRefusal) -> [Requirement] {
        if source["external"] != nil {
            throw ContainmentRefusal(
                .uncheckable,
                "\(field) reads from another account or domain (external): Warden cannot check where that "
                    + "publishes; set it up with an administrator's connection to nats-server")
        }
        var requirements: [Requirement] = []
        if let consumer = try source.object("consumer", known: Self.sourceConsumerFields, context: field),
            let deliver = try consumer.string("deliver_subject", context: "\(field).consumer")
        {
            requirements.append(Requirement(.receive, deliver, field: "\(field).consumer.deliver_subject"))
        }
        let filter = try source.string("filter_subject", context: field)
        for transform in try source.objects("subject_transforms", known: Self.transformFields, context: field) {
            let sources = try transform.string("src", context: "\(field).subject_transforms").map { [$0] }
            try requirements += Self.transform(
                sources: sources ?? [filter ?? ">"],
                dest: transform.string("dest", context: "\(field).subject_transforms"),
                field: "\(field).subject_transforms")
        }
        return requirements
    }

    private static func transform(sources: [String], dest: String?, field: String) throws(ContainmentRefusal)
        -> [Requirement]
    {
        guard let dest else { throw ContainmentRefusal(.malformed, "\(field) has no dest") }
        var requirements = sources.map { Requirement(.receive, $0, field: "\(field).src") }
        requirements.append(Requirement(.publish, try TransformDestination.pattern(dest), field: "\(field).dest"))
        return requirements
    }
}

extension JSONValue {
    /// Whether this is an object whose members are all strings (or null), as `metadata` is.
    var isStringMap: Bool {
        guard case .object(let members) = self else { return false }
        return members.allSatisfy { $0.value.string != nil || $0.value == .null }
    }
}
