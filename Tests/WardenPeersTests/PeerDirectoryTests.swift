import Testing
import WardenPeers

/// Which Wardens one Warden names to its clients, from heartbeats, without a network.
struct PeerDirectoryTests {
    static let second: UInt64 = 1_000_000_000

    static func beat(
        _ instance: String, _ advertise: String, id: String? = nil, domain: String = "td", leaving: Bool = false
    )
        -> Heartbeat
    {
        Heartbeat(
            instance: instance, advertise: advertise, serverID: id ?? "WARDEN-\(instance)", trustDomain: domain,
            expiresInMilliseconds: 3000, leaving: leaving)
    }

    var directory = PeerDirectory(own: beat("a", "10.0.0.1:4443"))

    /// `warden fleet status` reads connections and the fleet state version from heartbeats; a heartbeat of
    /// an older Warden, without them, is still a heartbeat.
    @Test func heartbeatsCarryConnectionsAndTheStateVersionWhenThereAreAny() throws {
        var beat = Self.beat("b", "10.0.0.2:4443")
        beat.connections = 12
        beat.stateVersion = 7
        let json = String(decoding: beat.json, as: UTF8.self)
        #expect(json.contains(#""connections":12"#) && json.contains(#""state_version":7"#), "\(json)")
        #expect(Heartbeat(json: beat.json) == beat)
        let older =
            #"{"instance":"c","advertise":"h:1","server_id":"S","trust_domain":"td","expires_in_ms":3500,"leaving":false}"#
        let read = try #require(Heartbeat(json: Array(older.utf8)))
        #expect(read.stateVersion == nil && read.connections == nil)
    }

    @Test mutating func aPeerIsNamedFromItsFirstHeartbeatUntilItExpires() {
        let changed1 = self.directory.heard(Self.beat("b", "10.0.0.2:4443"), now: 0)
        #expect(changed1)
        let changed2 = self.directory.heard(Self.beat("b", "10.0.0.2:4443"), now: 1 * Self.second)
        #expect(!changed2)
        #expect(self.directory.peerURLs == ["10.0.0.2:4443"])
        let changed3 = self.directory.expire(now: 3 * Self.second)
        #expect(!changed3)
        let changed4 = self.directory.expire(now: 4 * Self.second + 1)
        #expect(changed4)
        #expect(self.directory.peerURLs.isEmpty)
    }

    @Test mutating func aLeavingPeerIsForgottenAtOnce() {
        _ = self.directory.heard(Self.beat("b", "10.0.0.2:4443"), now: 0)
        _ = self.directory.heard(Self.beat("c", "10.0.0.3:4443"), now: 0)
        let changed5 = self.directory.heard(Self.beat("b", "10.0.0.2:4443", leaving: true), now: Self.second)
        #expect(changed5)
        #expect(self.directory.peerURLs == ["10.0.0.3:4443"])
    }

    @Test mutating func itsOwnHeartbeatAndAnotherTrustDomainsAreNotPeers() {
        let changed6 = self.directory.heard(Self.beat("a", "10.0.0.1:4443"), now: 0)
        #expect(!changed6)
        let changed7 = self.directory.heard(Self.beat("x", "10.9.0.1:4443", domain: "other"), now: 0)
        #expect(!changed7)
        // Another process announcing this Warden's own address is not named twice.
        let changed8 = self.directory.heard(Self.beat("a2", "10.0.0.1:4443", id: "WARDEN-other"), now: 0)
        #expect(!changed8)
        #expect(self.directory.peerURLs.isEmpty)
    }

    @Test mutating func aRestartedPeerReplacesNothingAndIsNamedOnce() {
        _ = self.directory.heard(Self.beat("b", "10.0.0.2:4443", id: "WARDEN-1"), now: 0)
        _ = self.directory.heard(Self.beat("b", "10.0.0.2:4443", id: "WARDEN-2"), now: Self.second)
        #expect(self.directory.peerURLs == ["10.0.0.2:4443"])
        // The old process's entry expires; the URL stays while the new one beats.
        let changed9 = self.directory.expire(now: 3 * Self.second + 1)
        #expect(!changed9)
        #expect(self.directory.peerURLs == ["10.0.0.2:4443"])
    }

    @Test func heartbeatsRoundTripAndAnythingElseOnTheSubjectIsIgnored() {
        let beat = Self.beat("b", "warden-b.internal:4443")
        #expect(Heartbeat(json: beat.json) == beat)
        for bad in [
            "", "{}", "not json",
            #"{"instance":"b","advertise":"tls://x:1","server_id":"W","trust_domain":"td","expires_in_ms":1,"leaving":false}"#,
            #"{"instance":"b","advertise":"x:99999","server_id":"W","trust_domain":"td","expires_in_ms":1,"leaving":false}"#,
            #"{"instance":"b","advertise":"a b:1","server_id":"W","trust_domain":"td","expires_in_ms":1,"leaving":false}"#,
            #"{"instance":"b","advertise":"x:1","server_id":"W","trust_domain":"td","expires_in_ms":0,"leaving":false}"#,
        ] {
            #expect(Heartbeat(json: Array(bad.utf8)) == nil, "\(bad)")
        }
    }
}
