import Foundation
public import NATSClient

/// Reads every record of the stream `WARDEN_AUDIT` once, oldest first, through an ephemeral consumer of
/// JetStream's API (no acknowledgements, removed by nats-server once idle): what `warden denials --nats`
/// summarises across the fleet.
public enum AuditStreamReader {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Calls `body` with each record's JSON; returns how many the stream held when the read began.
    @discardableResult
    public static func read(_ client: NATSClient, _ body: ([UInt8]) -> Void) throws(Failure) -> Int {
        let stream = AuditStreamFormat.stream
        let info = try Self.request(client, "$JS.API.STREAM.INFO.\(stream)", "")
        let messages = ((info["state"] as? [String: Any])?["messages"] as? NSNumber)?.intValue ?? 0
        guard messages > 0 else { return 0 }
        let inbox = "_INBOX.warden-denials.\(UInt64.random(in: 1...UInt64.max))"
        let subscription: NATSClient.Subscription
        do {
            subscription = try client.subscribe(inbox)
        } catch {
            throw Failure(description: "cannot subscribe to the stream's deliveries: \(error)")
        }
        subscription.removePendingLimits()
        let consumer = """
            {"stream_name":"\(stream)","config":{"deliver_subject":"\(inbox)","deliver_policy":"all",\
            "ack_policy":"none","replay_policy":"instant","inactive_threshold":10000000000,"mem_storage":true,\
            "num_replicas":1}}
            """
        _ = try Self.request(client, "$JS.API.CONSUMER.CREATE.\(stream)", consumer)
        var received = 0
        while received < messages, let message = subscription.next(timeoutMilliseconds: 5000) {
            // Flow control and idle heartbeats are not records (status headers, no payload).
            guard !message.payload.isEmpty else { continue }
            body(message.payload)
            received += 1
        }
        subscription.unsubscribe()
        guard received == messages else {
            throw Failure(description: "the stream \(stream) delivered \(received) of its \(messages) records")
        }
        return messages
    }

    /// JetStream's answer, or why there is none: no answer, not JSON, or its `error`.
    private static func request(_ client: NATSClient, _ subject: String, _ body: String) throws(Failure) -> [String:
        Any]
    {
        guard let answer = JetStreamAPI.request(client, subject, body) else {
            throw Failure(description: "JetStream does not answer (or not with JSON) to \(subject)")
        }
        if let error = answer["error"] as? [String: Any] {
            throw Failure(description: "JetStream refused: \(error["description"] ?? error)")
        }
        return answer
    }
}
