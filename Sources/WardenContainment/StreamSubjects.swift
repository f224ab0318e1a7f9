/// The subjects a stream's messages are stored on, read from nats-server's answer to
/// `$JS.API.STREAM.INFO.<stream>`: what a consumer without a filter reads.
///
/// They are the stream's `subjects`, unless its messages come from elsewhere or are stored under other
/// subjects (a mirror, sources, a subject transform): then they could be any subject, `>`. An answer
/// that is an error (no such stream, JetStream unavailable) or cannot be read gives `>` too, which
/// decides the consumer as strictly as it can be.
public enum StreamSubjects {
    public static let anySubject = [">"]

    public static func fromInfo(_ answer: UnsafeBufferPointer<UInt8>) -> [String] {
        guard case .object(let members) = try? StrictJSONParser.parse(answer),
            let config = members.last(where: { $0.key == "config" })?.value,
            case .object(let fields) = config
        else { return Self.anySubject }
        func present(_ key: String) -> Bool {
            fields.contains { $0.key.lowercased() == key && $0.value != .null }
        }
        guard !present("mirror"), !present("sources"), !present("subject_transform"),
            let subjects = fields.last(where: { $0.key == "subjects" })?.value, case .array(let elements) = subjects
        else { return Self.anySubject }
        let strings = elements.compactMap(\.string)
        guard !strings.isEmpty, strings.count == elements.count else { return Self.anySubject }
        return strings
    }
}
