/// Stored JetStream messages that reach a client inside another message, recognised by their shape so
/// that they are checked by the subject they were stored on wherever they arrive, whoever asked:
/// - a direct get's answer, and a republished message, carry it in a `Nats-Subject` header
///   (server/stream.go);
/// - `STREAM.MSG.GET` answers with JSON, `{"type":"io.nats.jetstream.api.v1.stream_msg_get_response",
///   "message":{"subject":…}}` (server/jetstream_api.go, which always writes `type` first).
/// A message from a client that looks like one of these is checked the same way: its subject must be
/// receivable too. nats-server's no-responders status (`NATS/1.0 503`, no body, nothing but a
/// `Nats-Subject` header naming the request's own subject) carries nothing stored.
public enum StoredMessage {
    public enum Carried: Equatable, Sendable {
        case nothing
        case subjects([String])
        /// It has the shape of a stored message, but Warden cannot read which subject it carries.
        case unreadable(String)
    }

    static let messageGetPrefix = Array(#"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response""#.utf8)

    /// What a delivery carries: `headers` is its header block (empty for a MSG), `body` the rest.
    public static func carried(headers: UnsafeBufferPointer<UInt8>, body: UnsafeBufferPointer<UInt8>) -> Carried {
        var subjects: [String] = []
        var unreadable: String?
        if !headers.isEmpty, !(body.isEmpty && Self.isNoResponders(headers)) {
            HeaderLines.forEach(in: headers) { key, value in
                guard HeaderLines.equals(key, lowercased: "nats-subject") else { return true }
                guard let subject = String(validating: value, as: UTF8.self) else {
                    unreadable = "a Nats-Subject header that is not UTF-8"
                    return false
                }
                subjects.append(subject)
                return true
            }
        }
        if unreadable == nil, body.count > Self.messageGetPrefix.count, body[0] == UInt8(ascii: "{"),
            body.starts(with: Self.messageGetPrefix)
        {
            switch Self.messageGetSubject(body) {
            case .success(let subject?): subjects.append(subject)
            case .success(nil): break
            case .failure(let error): unreadable = error.description
            }
        }
        if let unreadable { return .unreadable(unreadable) }
        return subjects.isEmpty ? .nothing : .subjects(subjects)
    }

    static let noRespondersLine = Array("NATS/1.0 503\r\n".utf8)

    /// Whether `headers` are nats-server's no-responders status: its status line and one header.
    private static func isNoResponders(_ headers: UnsafeBufferPointer<UInt8>) -> Bool {
        guard headers.starts(with: Self.noRespondersLine) else { return false }
        var lines = 0
        HeaderLines.forEach(in: headers) { _, _ in
            lines += 1
            return true
        }
        return lines == 1
    }

    /// The stored message's subject in a message get's JSON answer; nil for an error answer, which
    /// carries no message.
    private static func messageGetSubject(_ body: UnsafeBufferPointer<UInt8>) -> Result<String?, ContainmentRefusal> {
        guard case .object(let members) = try? StrictJSONParser.parse(body) else {
            return .failure(ContainmentRefusal(.unreadable, "a message get answer that is not JSON Warden can read"))
        }
        // nats-server writes each key once, in lower case; anything else is not its answer.
        let messages = members.filter { $0.key.lowercased() == "message" }
        guard messages.count <= 1, messages.allSatisfy({ $0.key == "message" }) else {
            return .failure(ContainmentRefusal(.malformed, "a message get answer with an unexpected message field"))
        }
        guard let message = messages.first?.value, message != .null else { return .success(nil) }
        guard case .object(let fields) = message else {
            return .failure(ContainmentRefusal(.malformed, "a message get answer whose message is not an object"))
        }
        let subjects = fields.filter { $0.key.lowercased() == "subject" }
        guard subjects.count == 1, subjects[0].key == "subject", let subject = subjects[0].value.string else {
            return .failure(ContainmentRefusal(.malformed, "a message get answer without exactly one subject"))
        }
        return .success(subject)
    }
}
