import Testing

@testable import WardenProxy

/// Where client connections go in a cluster of nats-servers, without a network.
struct UpstreamPoolTests {
    typealias Upstream = ProxyConfiguration.Upstream
    static let a = Upstream(host: "nats-a", port: 4222)
    static let b = Upstream(host: "nats-b", port: 4222)
    static let c = Upstream(host: "10.0.0.3", port: 4222)
    static let second: UInt64 = 1_000_000_000

    var pool = UpstreamPool(seeds: [a, b, c])

    mutating func picks(_ count: Int, at now: UInt64) -> [Upstream?] {
        (0..<count).map { _ in self.pool.next(now: now)?.url }
    }

    @Test mutating func connectionsAreSpreadOverTheServersInTurn() {
        let picked1 = self.picks(6, at: 0)
        #expect(picked1 == [Self.a, Self.b, Self.c, Self.a, Self.b, Self.c])
    }

    @Test mutating func aServerThatFailedIsSkippedForAWhileThenTriedAgain() {
        let result2 = self.pool.failed(Self.b, now: 10 * Self.second)
        #expect(result2)
        // Already known to be down: not news for the log.
        let result3 = self.pool.failed(Self.b, now: 11 * Self.second)
        #expect(!result3)
        let picked4 = self.picks(4, at: 12 * Self.second)
        #expect(picked4 == [Self.a, Self.c, Self.a, Self.c])
        let later = 11 * Self.second + UpstreamPool.failureHold
        let picked5 = self.picks(3, at: later)
        #expect(Set(picked5) == [Self.a, Self.b, Self.c])
    }

    @Test mutating func aConnectionThatSucceedsMakesTheServerAvailableAtOnce() {
        self.pool.failed(Self.a, now: 0)
        self.pool.connected(to: Self.a, lameDuck: false, now: Self.second)
        let picked6 = self.picks(3, at: Self.second)
        #expect(Set(picked6) == [Self.a, Self.b, Self.c])
    }

    @Test mutating func aServerInLameDuckModeGetsNoNewConnections() {
        self.pool.lameDuck(Self.a, now: 0)
        let picked7 = self.picks(6, at: 60 * Self.second)
        #expect(!picked7.contains(Self.a))
        // A server whose INFO says lame duck from the start is treated the same.
        self.pool.connected(to: Self.b, lameDuck: true, now: 60 * Self.second)
        let picked8 = self.picks(3, at: 61 * Self.second)
        #expect(picked8 == [Self.c, Self.c, Self.c])
    }

    @Test mutating func whenEveryServerIsDownTheOneThatFailedLongestAgoIsTriedSoClientsAreRefusedQuickly() {
        self.pool.failed(Self.b, now: 1 * Self.second)
        self.pool.failed(Self.a, now: 2 * Self.second)
        self.pool.failed(Self.c, now: 3 * Self.second)
        let result9 = self.pool.next(now: 3 * Self.second)
        #expect(result9?.url == Self.b)
        // A session retrying after a failure asks only for available servers: none.
        let result10 = self.pool.next(now: 3 * Self.second, excluding: [Self.b], orUnavailable: false)
        #expect(result10 == nil)
    }

    @Test mutating func aSessionNeverTriesTheSameServerTwice() {
        let result11 = self.pool.next(now: 0, excluding: [Self.a, Self.b])
        #expect(result11?.url == Self.c)
        let result12 = self.pool.next(now: 0, excluding: [Self.a, Self.b, Self.c])
        #expect(result12 == nil)
    }

    @Test mutating func serversAdvertisedInINFOJoinThePoolOnceAndBadEntriesAreIgnored() {
        let joined = self.pool.learn(["nats-a:4222", "10.0.0.4:4222", "10.0.0.4:4222", "not a url", "[::1]:4222"])
        #expect(joined == [Upstream(host: "10.0.0.4", port: 4222), Upstream(host: "::1", port: 4222)])
        #expect(self.pool.servers.count == 5)
        let result13 = self.pool.learn(["10.0.0.4:4222"])
        #expect(result13.isEmpty)
    }

    @Test mutating func aLearntServerWhoseTLSFailsIsNotUsedAgainButASeedIsOnlyHeldBack() {
        let learnt = Upstream(host: "10.0.0.4", port: 4222)
        _ = self.pool.learn(["10.0.0.4:4222"])
        self.pool.distrust(learnt, now: 0)
        self.pool.distrust(Self.a, now: 0)
        let muchLater = 10 * UpstreamPool.failureHold
        let picked14 = self.picks(8, at: muchLater)
        #expect(!picked14.contains(learnt))
        let picked15 = self.picks(8, at: muchLater)
        #expect(picked15.contains(Self.a))
    }

    @Test func theLearntServersAreBounded() {
        var pool = UpstreamPool(seeds: [Self.a])
        _ = pool.learn((0..<200).map { "10.1.0.\($0):4222" })
        #expect(pool.servers.count == 1 + UpstreamPool.maxLearned)
    }

    @Test func anAddressIsDialledWithoutAResolverAndAHostNameIsTheNameItsCertificateMustCarry() {
        #expect(UpstreamEndpoint(Self.c).address != nil)
        #expect(UpstreamEndpoint(Self.c).serverName == nil)
        #expect(UpstreamEndpoint(Self.a).address == nil)
        #expect(UpstreamEndpoint(Self.a).serverName == "nats-a")
    }

    @Test func theUpstreamOptionTakesTheSeedServersOfACluster() {
        #expect(Upstream.list("tls://nats-a:4222, nats://nats-b:4222,10.0.0.3:4222") == [Self.a, Self.b, Self.c])
        #expect(Upstream.list("tls://nats-a:4222,tls://nats-a:4222") == [Self.a])
        #expect(Upstream.list("tls://nats-a:4222,") == nil)
        #expect(Upstream.list("") == nil)
        #expect(Upstream.list("http://nats-a:4222") == nil)
    }
}
