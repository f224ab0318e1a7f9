import NATSProtocol
import NIOCore
import WardenContainment

/// How the state machine tells a client that Warden refused its publish: nats-server's `-ERR` (the
/// connection stays open), and, for a request, an answer on its reply subject so that the request
/// fails at once instead of waiting for its timeout, which nats-server cannot do, as it does not say
/// which request was refused:
/// - a refused JetStream API call is answered the way nats-server's JetStream API answers an error;
/// - any other refused request, when the client enabled `headers` and `no_responders`, gets the
///   no-responders status (`NATS/1.0 503`) with the violation as its description, which NATS clients
///   turn into an immediate error.
/// Answers are delivered as nats-server would deliver a message on the reply subject to this
/// connection, to each subscription it reaches, in order with everything else Warden answers itself.
extension ProxyStateMachine {
    mutating func refuse(_ publish: Publish, _ verdict: PublishVerdict, into out: inout ProxyOutput) {
        if let text = verdict.errorText { self.reply(Self.error(text), into: &out) }
        guard let reply = publish.reply else { return }
        if let refusal = verdict.jetStream {
            // A status answer is a header block; a client without headers cannot read it.
            guard refusal.headers == nil || self.wantsStatus else { return }
            self.answer(reply: reply.string, headers: refusal.headers, body: refusal.body, into: &out)
        } else if self.wantsStatus, let text = verdict.errorText {
            self.answer(reply: reply.string, headers: Self.noResponders(text), body: [], into: &out)
        }
    }

    /// nats-server's no-responders status, with `description` after the code.
    static func noResponders(_ description: String) -> [UInt8] {
        Array("NATS/1.0 503 \(description)\r\n\r\n".utf8)
    }

    private mutating func answer(reply: String, headers: [UInt8]?, body: [UInt8], into out: inout ProxyOutput) {
        for sid in self.subscriptions.sids(matching: reply) {
            var frame = ByteBuffer()
            if let headers {
                frame.writeString("HMSG \(reply) \(sid) \(headers.count) \(headers.count + body.count)\r\n")
                frame.writeBytes(headers)
            } else {
                frame.writeString("MSG \(reply) \(sid) \(body.count)\r\n")
            }
            frame.writeBytes(body)
            frame.writeString("\r\n")
            self.reply(frame, into: &out)
        }
    }
}
