import Foundation
public import NATSClient

extension Heartbeat {
    /// The last heartbeat of each Warden (by `serverID`) heard on `subscription` (to `Heartbeat.subject`)
    /// within `duration`, leaving ones included: what `warden fleet status` and `warden fleet push` read
    /// of the fleet. Heartbeats come every second, so a live Warden is heard within a second and a bit.
    public static func listen(on subscription: NATSClient.Subscription, for duration: Duration) -> [String: Heartbeat] {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let deadline = Date().addingTimeInterval(seconds)
        var heard: [String: Heartbeat] = [:]
        while Date() < deadline {
            guard let message = subscription.next(timeoutMilliseconds: 100), let beat = Heartbeat(json: message.payload)
            else { continue }
            heard[beat.serverID] = beat
        }
        return heard
    }
}
