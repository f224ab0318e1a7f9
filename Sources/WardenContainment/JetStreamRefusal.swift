/// How Warden answers a JetStream API call it refuses, the way nats-server's JetStream API answers a
/// failed call, so that every client fails at once with the reason instead of waiting for its timeout:
/// a JSON response of the call's type with an `error` object (code 403), or, for a direct get, which
/// answers with a status line instead of JSON, a `NATS/1.0 403 …` header.
public struct JetStreamRefusal: Sendable {
    /// The answer's header block, for a direct get; nil for a JSON answer.
    public let headers: [UInt8]?
    /// The answer's body: the JSON error, or empty for a direct get.
    public let body: [UInt8]

    public static let code = 403

    public init(call: JetStreamCall, description: String) {
        let text = Self.singleLine(description)
        guard let type = call.responseType else {
            self.headers = Array("NATS/1.0 \(Self.code) \(text)\r\n\r\n".utf8)
            self.body = []
            return
        }
        self.headers = nil
        self.body = Array(
            "{\"type\":\(Self.quoted(type)),\"error\":{\"code\":\(Self.code),\"description\":\(Self.quoted(text))}}"
                .utf8)
    }

    /// No line breaks, so that the text fits a status line and one log line.
    private static func singleLine(_ text: String) -> String {
        String(text.map { $0 == "\r" || $0 == "\n" ? " " : $0 })
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
