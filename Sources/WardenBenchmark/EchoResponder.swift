import Foundation
import NATSClient

/// A responder on a thread of its own: answers every request on `subject` with its own payload, until
/// stopped. The other end of the request/reply measurements.
final class EchoResponder: @unchecked Sendable {
    private let stopping = Counter()

    init(_ client: NATSClient, subject: String) throws {
        let requests = try client.subscribe(subject)
        try client.flush()
        let stopping = self.stopping
        Thread {
            while stopping.value == 0 {
                guard let request = requests.next(timeoutMilliseconds: 100), let reply = request.reply else { continue }
                try? client.publish(reply, request.payload)
            }
        }.start()
    }

    func stop() { self.stopping.add(1) }
}
