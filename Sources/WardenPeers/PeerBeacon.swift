import Foundation
public import Logging
import NATSClient
import NIOConcurrencyHelpers
public import ServiceLifecycle
public import WardenAudit

/// How Wardens sharing a NATS cluster find each other: each publishes its heartbeat every `interval` on
/// `Heartbeat.subject` over a NATS connection of its own (Warden's upstream identity), reads the
/// others', and reports the live ones' client URLs (`onChange`) whenever they change, so that the
/// proxy tells its clients (INFO `connect_urls`).
///
/// A `Service`: it stops at graceful shutdown, after a last heartbeat that says it is leaving, so the
/// others stop naming it at once rather than after `expiry`. `leave()` (lame duck mode) says so
/// earlier, while Warden still closes its clients.
public final class PeerBeacon: Service, Sendable {
    public static let interval: Duration = .seconds(1)
    /// How long the others count a Warden as live without a heartbeat: three and a half intervals.
    public static let expiryMilliseconds = 3500

    private struct State {
        var directory: PeerDirectory
        var leaving = false
        var stopping = false
    }

    private let connection: WardenConnection
    private let advertise: @Sendable () -> String?
    private let status: @Sendable () -> (connections: Int, stateVersion: UInt64?)
    private let state: NIOLockedValueBox<State>
    private let onChange: @Sendable ([String]) -> Void
    private let logger: Logger

    /// - Parameters:
    ///   - own: this Warden's heartbeat (its `advertise` and `leaving` are replaced as they become known).
    ///   - advertise: where clients reach this Warden, nil until it listens (no heartbeat goes out before).
    ///   - status: its open client connections and fleet state version now, for `warden fleet status`.
    ///   - onChange: the other live Wardens' client URLs (`HOST:PORT`), called on the beacon's thread.
    public init(
        connection: WardenConnection, own: Heartbeat, advertise: @escaping @Sendable () -> String?,
        status: @escaping @Sendable () -> (connections: Int, stateVersion: UInt64?) = { (0, nil) }, logger: Logger,
        onChange: @escaping @Sendable ([String]) -> Void
    ) {
        self.connection = connection
        self.advertise = advertise
        self.status = status
        self.state = NIOLockedValueBox(State(directory: PeerDirectory(own: own)))
        self.onChange = onChange
        self.logger = logger
    }

    /// The other live Wardens' client URLs, as last reported.
    public var peerURLs: [String] { self.state.withLockedValue { $0.directory.peerURLs } }

    /// From now on the heartbeats say this Warden is leaving (lame duck mode).
    public func leave() {
        self.state.withLockedValue { $0.leaving = true }
    }

    public func run() async throws {
        let client: NATSClient
        let subscription: NATSClient.Subscription
        do {
            client = try NATSClient(self.connection.clientOptions(name: "warden-peers"))
            subscription = try client.subscribe(Heartbeat.subject)
        } catch {
            throw PeerBeaconError(.connectionFailed, "cannot set up the heartbeats' NATS connection: \(error)")
        }
        // Stopped by a graceful shutdown, or by cancellation when another service failed.
        await runOnThread(named: "warden-peers") { [self] in
            self.beat(client: client, subscription: subscription)
        } stop: {
            self.stop()
        }
    }

    private func stop() {
        self.state.withLockedValue { $0.stopping = true }
    }

    /// The beacon's thread: heartbeats out every interval, the others' in, expiry, until stopped.
    private func beat(client: NATSClient, subscription: NATSClient.Subscription) {
        let interval = UInt64(Self.interval.components.seconds) * 1_000_000_000
        var nextBeat: UInt64 = 0
        var announced = false
        while true {
            let advertise = self.advertise()
            let (stopping, own) = self.state.withLockedValue { state in
                if let advertise { state.directory.own.advertise = advertise }
                var own = state.directory.own
                own.leaving = state.leaving
                return (state.stopping, own)
            }
            if stopping { break }
            let now = Self.now
            if advertise != nil, !announced {
                announced = true
                self.logger.info(
                    "heartbeats: announcing this Warden to the others on the cluster",
                    metadata: ["subject": "\(Heartbeat.subject)", "advertise": "\(own.advertise)"])
            }
            if announced, now >= nextBeat {
                var own = own
                (own.connections, own.stateVersion) = self.status()
                try? client.publish(Heartbeat.subject, own.json)
                nextBeat = now + interval
            }
            var changed = false
            if let message = subscription.next(timeoutMilliseconds: 200), let beat = Heartbeat(json: message.payload) {
                changed = self.state.withLockedValue { $0.directory.heard(beat, now: Self.now) }
            }
            if self.state.withLockedValue({ $0.directory.expire(now: Self.now) }) { changed = true }
            if changed {
                let urls = self.peerURLs
                self.logger.info("heartbeats: the live Wardens changed", metadata: ["peers": "\(urls)"])
                self.onChange(urls)
            }
        }
        var last = self.state.withLockedValue { $0.directory.own }
        last.leaving = true
        if announced { try? client.publish(Heartbeat.subject, last.json) }
        _ = try? client.flush(timeoutMilliseconds: 1000)
        client.close()
    }

    private static var now: UInt64 { DispatchTime.now().uptimeNanoseconds }
}

/// Why the heartbeats could not be set up: a code to compare, and a message.
public struct PeerBeaconError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        /// The heartbeats' NATS connection or subscription cannot be set up.
        public static let connectionFailed = Code("connectionFailed")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }

    public static func == (lhs: PeerBeaconError, rhs: PeerBeaconError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }
}
