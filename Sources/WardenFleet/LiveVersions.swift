import Foundation
import NATSClient
import WardenPeers

/// The fleet state versions the live Wardens have in force, as their heartbeats say: what a push into a
/// bucket with no signed bundle (new, or deleted and made again) must number after, since the Wardens
/// refuse any version not newer than theirs.
enum LiveVersions {
    /// The highest version heard within `milliseconds` (heartbeats come every second); nil when no Warden
    /// following the bucket was heard.
    static func highest(on client: NATSClient, milliseconds: Int = 2500) -> UInt64? {
        guard let subscription = try? client.subscribe(Heartbeat.subject) else { return nil }
        defer { subscription.unsubscribe() }
        let deadline = Date().addingTimeInterval(Double(milliseconds) / 1000)
        var highest: UInt64?
        while Date() < deadline {
            guard let message = subscription.next(timeoutMilliseconds: 100),
                let beat = Heartbeat(json: message.payload), let version = beat.stateVersion
            else { continue }
            highest = max(highest ?? 0, version)
        }
        return highest
    }
}
