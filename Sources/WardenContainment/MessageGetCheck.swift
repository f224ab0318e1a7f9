/// What a message get asks for (`JSApiMsgGetRequest`, server/jetstream_api.go), for `STREAM.MSG.GET` and
/// `DIRECT.GET`: the subjects it names (`last_by_subj`, `next_by_subj`, `multi_last`, or the subject in
/// `DIRECT.GET.<stream>.<subject>`) must be ones the caller may receive. A get by sequence alone names
/// none: what it returns is checked where the answer arrives, by the subject of the stored message it
/// carries (`StoredMessage`), as every answer is.
enum MessageGetCheck {
    static let fields: Set<String> = [
        "seq", "last_by_subj", "next_by_subj", "batch", "max_bytes", "start_time", "multi_last", "up_to_seq",
        "up_to_time", "no_hdr",
    ]

    static func requirements(_ body: JSONValue?, subject: String?) throws(ContainmentRefusal) -> [Requirement] {
        var requirements: [Requirement] = []
        if let subject {
            requirements.append(Requirement(.receive, subject, field: "direct get subject"))
        }
        guard let body else { return requirements }
        let request = try JSONFields(body, known: Self.fields, context: "message get request")
        if let last = try request.string("last_by_subj", context: "message get request") {
            requirements.append(Requirement(.receive, last, field: "message get request.last_by_subj"))
        }
        if let next = try request.string("next_by_subj", context: "message get request") {
            requirements.append(Requirement(.receive, next, field: "message get request.next_by_subj"))
        }
        for subject in try request.strings("multi_last", context: "message get request") {
            requirements.append(Requirement(.receive, subject, field: "message get request.multi_last"))
        }
        return requirements
    }
}
