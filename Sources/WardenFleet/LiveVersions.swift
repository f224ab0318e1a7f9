import NATSClient
import WardenPeers

/// The fleet state versions the live Wardens have in force, as their heartbeats say: what a push into a
/// bucket with no signed bundle (new, or deleted and made again) must number after, since the Wardens
/// refuse any version not newer than theirs.
enum LiveVersions {
    /// The highest version heard within `duration`; nil when no Warden following the bucket was heard.
    static func highest(on client: NATSClient, for duration: Duration = .milliseconds(2500)) -> UInt64? {
        guard let subscription = try? client.subscribe(Heartbeat.subject) else { return nil }
        defer { subscription.unsubscribe() }
        return Heartbeat.listen(on: subscription, for: duration).values.compactMap(\.stateVersion).max()
    }
}
