/// What creating or updating a consumer makes nats-server do for the caller (`CreateConsumerRequest`
/// and `ConsumerConfig`, server/consumer.go):
/// - it hands the caller the stream's messages on the consumer's filter subjects: each must be a subject
///   the caller may receive (in the push consumer's `deliver_group`, when it has one). Without a filter
///   the consumer reads every subject of the stream, which the request does not name: the caller
///   passes them in (`streamSubjects`, from nats-server's stream info), and each is decided the same way;
/// - a push consumer publishes its messages on `deliver_subject`: it must be one the caller may direct
///   answers to, as a reply subject;
/// - the filter may also be in the API subject (`CONSUMER.CREATE.<stream>.<name>.<filter>`, nats.go's
///   form): it is decided the same way (nats-server requires it to equal `filter_subject`).
/// `direct` and `sourcing` are nats-server's own flags for the consumers it makes for mirrors and
/// sources, and are refused from clients.
enum ConsumerConfigCheck {
    static let requestFields: Set<String> = ["stream_name", "config", "action", "pedantic"]
    static let fields: Set<String> = [
        "durable_name", "name", "description", "deliver_policy", "opt_start_seq", "opt_start_time", "ack_policy",
        "ack_wait", "max_deliver", "backoff", "filter_subject", "filter_subjects", "replay_policy", "rate_limit_bps",
        "sample_freq", "max_waiting", "max_ack_pending", "flow_control", "headers_only", "max_batch", "max_expires",
        "max_bytes", "deliver_subject", "deliver_group", "idle_heartbeat", "inactive_threshold", "num_replicas",
        "mem_storage", "direct", "sourcing", "metadata", "pause_until", "priority_groups", "priority_policy",
        "priority_timeout",
    ]

    /// The requirements of a consumer request; nil when the consumer has no filter and
    /// `streamSubjects` is nil: then the stream's subjects are needed to decide it.
    static func requirements(
        _ body: JSONValue, subjectFilter: String?, streamSubjects: [String]?
    ) throws(ContainmentRefusal) -> [Requirement]? {
        let request = try JSONFields(body, known: Self.requestFields, context: "consumer request")
        guard let configValue = request["config"] else {
            throw ContainmentRefusal(.malformed, "the consumer request has no config")
        }
        let config = try JSONFields(configValue, known: Self.fields, context: "consumer config")
        if config.isTrue("direct") || config.isTrue("sourcing") {
            throw ContainmentRefusal(
                .uncheckable,
                "consumer config.direct and .sourcing are nats-server's own; clients cannot set them")
        }
        if let metadata = config["metadata"], !metadata.isStringMap {
            throw ContainmentRefusal(.malformed, "consumer config.metadata must map names to strings")
        }
        let group = try config.string("deliver_group", context: "consumer config")
        var filters: [(subject: String, field: String)] = []
        if let filter = try config.string("filter_subject", context: "consumer config") {
            filters.append((filter, "consumer config.filter_subject"))
        }
        for filter in try config.strings("filter_subjects", context: "consumer config") {
            filters.append((filter, "consumer config.filter_subjects"))
        }
        if let subjectFilter {
            filters.append((subjectFilter, "consumer create subject's filter"))
        }
        if filters.isEmpty {
            guard let streamSubjects else { return nil }
            for subject in streamSubjects {
                filters.append((subject, "consumer config without filter_subject: the stream's subject"))
            }
        }
        var requirements = filters.map { Requirement(.receive, $0.subject, field: $0.field, queue: group) }
        if let deliver = try config.string("deliver_subject", context: "consumer config") {
            requirements.append(Requirement(.answers, deliver, field: "consumer config.deliver_subject"))
        }
        return requirements
    }
}
