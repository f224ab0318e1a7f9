import Foundation
import NATSClient

/// A request to JetStream's API on Warden's own connection, and its JSON answer: what the audit stream's
/// set-up and its reader ask nats-server.
enum JetStreamAPI {
    /// The answer as a JSON object, an `error` in it included; nil when nothing answered in 5 s or the
    /// answer is not a JSON object.
    static func request(_ client: NATSClient, _ subject: String, _ body: String = "") -> [String: Any]? {
        guard let reply = try? client.request(subject, body, timeoutMilliseconds: 5000) else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(reply.payload))) as? [String: Any]
    }

    /// The `err_code` of an answer's `error`, nil when it has none.
    static func errorCode(_ answer: [String: Any]) -> Int? {
        ((answer["error"] as? [String: Any])?["err_code"] as? NSNumber)?.intValue
    }
}
