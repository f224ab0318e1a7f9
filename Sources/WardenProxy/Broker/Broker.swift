public import Logging
public import NIOCore
public import ServiceLifecycle
public import UnixSignals
public import WardenAudit
public import WardenFleet
import WardenMetrics
public import WardenPeers
public import WardenPKI
public import WardenPolicy

/// A running Warden, everything `warden serve` runs, built from one configuration: the listener and its
/// sessions, the decision log, the audit events, the metrics endpoint and the operator's signals, in one
/// `ServiceGroup` that starts and stops them in order. `warden serve` maps its flags onto a
/// `Broker.Configuration`; the tests run the same type, so that they cannot drift from what users run.
///
/// Shutdown runs in the reverse of the order services start: the metrics endpoint stops, the listener
/// closes its connections, the audit trail publishes the last denials, the log writes the last records,
/// then whatever ran first (the development nats-server) stops.
public final class Broker: Sendable {
    public struct Configuration: Sendable {
        public var proxy: ProxyConfiguration
        /// The folder of ACL files, read again at SIGHUP; not read with `fleet`.
        public var aclDirectory: String
        public var decisionLogPath: String
        /// The decision log's window: past this many bytes of records held in memory (not yet in the file),
        /// sessions stop reading until fewer than half are left. 0: nothing a record decides leaves Warden
        /// before the record is in the file.
        public var decisionLogWindow = 8 << 20
        /// How long stopping waits for the decision log's file to take the last records (`DecisionLog`).
        public var decisionLogShutdownTimeout: TimeAmount = .seconds(30)
        /// Each service's audit-event budget; nil publishes no audit events.
        public var auditEvents: AuditBudget.Limit? = .standard
        /// Where Prometheus scrapes, `HOST:PORT`; nil serves no metrics.
        public var metrics: (host: String, port: Int)?
        /// Over how long lame duck mode (SIGUSR2) closes the clients.
        public var lameDuckDuration: Duration = .seconds(30)
        /// This Warden's instance name in its heartbeats to the other Wardens on the cluster (`PeerBeacon`);
        /// nil sends none and reads none.
        public var peerInstance: String?
        /// With `warden serve --fleet`: the ACLs and inventory come from the bucket, and the gate holds
        /// the state put in force at start (`FleetStartup`); nil: from the files.
        public var fleet: (gate: FleetGate, stateDirectory: StateDirectory)?
        /// With `warden serve --audit-stream`: this Warden's instance name in the records it ships to the
        /// stream `WARDEN_AUDIT` (`AuditStream`); nil ships none.
        public var auditStreamInstance: String?

        public init(proxy: ProxyConfiguration, aclDirectory: String, decisionLogPath: String) {
            self.proxy = proxy
            self.aclDirectory = aclDirectory
            self.decisionLogPath = decisionLogPath
        }
    }

    public let server: ProxyServer
    public let log: DecisionLog
    public let audit: AuditTrail?
    /// What ships the deny records to the stream `WARDEN_AUDIT`, with `auditStreamInstance`.
    public let auditStream: AuditStream?
    /// The heartbeats to and from the other Wardens, when `peerInstance` is set.
    public let peers: PeerBeacon?
    /// What keeps the fleet state the bucket's, with `fleet`.
    public let fleet: FleetFollower?
    private let group: ServiceGroup

    /// Sets everything up; nothing listens until `run`.
    ///
    /// - Parameters:
    ///   - policy: the ACLs, loaded from `configuration.aclDirectory` by the caller (which reports their
    ///     errors its own way).
    ///   - before: services that start first and stop last: the development nats-server.
    ///   - signals: the operator's signals (SIGHUP, SIGUSR1, SIGUSR2), trapped by the caller before
    ///     anything else starts; nil for a broker that takes none (tests).
    ///   - shutdownSignals: what stops it gracefully (SIGTERM, SIGINT for `warden serve`).
    public init(
        configuration: Configuration, policy: PolicySnapshot, credentials: CredentialStore,
        eventLoopGroup: any EventLoopGroup, before: [any Service] = [], signals: UnixSignalsSequence? = nil,
        shutdownSignals: [UnixSignal] = [], logger: Logger
    ) throws {
        let high = configuration.decisionLogWindow
        self.log = try DecisionLog(
            path: configuration.decisionLogPath, highWater: high, lowWater: max(1, high / 2),
            shutdownTimeout: configuration.decisionLogShutdownTimeout, logger: logger)
        self.audit = try configuration.auditEvents.map {
            try AuditTrail.overNATS(configuration.proxy.wardenConnection, budget: $0, logger: logger)
        }
        self.auditStream = configuration.auditStreamInstance.map {
            AuditStream(
                connection: configuration.proxy.wardenConnection, logPath: configuration.decisionLogPath, instance: $0,
                logger: logger)
        }
        self.server = try ProxyServer(
            configuration: configuration.proxy, credentials: credentials, policy: policy, log: self.log,
            audit: self.audit, group: eventLoopGroup, logger: logger)
        let server = self.server
        self.fleet = configuration.fleet.map { fleet in
            if let state = fleet.gate.inForce { server.fleetStateInForce(state) }
            return FleetFollower(
                connection: configuration.proxy.wardenConnection, gate: fleet.gate,
                stateDirectory: fleet.stateDirectory, logger: logger, apply: { await server.putInForce(fleet: $0) },
                refused: { server.countFleetRefusal($0) })
        }
        let fleet = self.fleet
        self.peers = configuration.peerInstance.map { instance in
            PeerBeacon(
                connection: configuration.proxy.wardenConnection,
                own: Heartbeat(
                    instance: instance, advertise: server.advertisedAddress, serverID: server.serverID,
                    trustDomain: credentials.trustDomain, expiresInMilliseconds: PeerBeacon.expiryMilliseconds),
                advertise: { server.advertisedOnceListening },
                status: { (server.connectionCount, fleet?.inForce?.version) }, logger: logger,
                onChange: { server.peersChanged($0) })
        }
        var services = before.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
        services.append(.init(service: self.log))
        if let audit = self.audit { services.append(.init(service: audit)) }
        if let stream = self.auditStream { services.append(.init(service: stream)) }
        services.append(.init(service: self.server))
        if let fleet = self.fleet { services.append(.init(service: fleet)) }
        // After the server, so it stops first: its last heartbeat says it is leaving before the clients
        // are closed, and the other Wardens stop naming it to theirs.
        if let peers = self.peers { services.append(.init(service: peers)) }
        if let signals {
            // Lame duck mode ends with the operator signals' service, and so does Warden, gracefully.
            services.append(
                .init(
                    service: OperatorSignals(
                        signals: signals, server: self.server, peers: self.peers, log: self.log,
                        aclDirectory: configuration.fleet == nil ? configuration.aclDirectory : nil,
                        lameDuckDuration: configuration.lameDuckDuration,
                        logger: logger),
                    successTerminationBehavior: .gracefullyShutdownGroup))
        }
        if let (host, port) = configuration.metrics {
            services.append(
                .init(
                    service: MetricsServer(host: host, port: port, group: eventLoopGroup, logger: logger) {
                        server.metricsExposition()
                    }))
        }
        self.group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: shutdownSignals, logger: logger))
    }

    /// Runs until a shutdown signal, lame duck mode's end, `shutdown()`, or a service's failure (thrown).
    public func run() async throws {
        try await self.group.run()
    }

    /// Stops it gracefully, as SIGTERM does; `run` returns once everything has stopped.
    public func shutdown() async {
        await self.group.triggerGracefulShutdown()
    }
}
