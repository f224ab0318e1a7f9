import Foundation
public import Logging
import NIOConcurrencyHelpers
public import NIOCore
import NIOPosix
public import ServiceLifecycle
import WardenACL
import WardenMetrics
public import WardenAudit
public import WardenPKI
public import WardenPolicy

/// The broker: a TLS-only NATS listener that proxies every admitted client to nats-server through a
/// connection of its own, enforcing the ACLs and logging every decision.
///
/// A `Service`: `run` listens and watches the inventory for revocations (both begin in `start`), and
/// on graceful shutdown stops
/// accepting, closes every client connection and returns once they are closed (their last decision
/// records handed to the log).
public final class ProxyServer: Service, Sendable {
    let configuration: ProxyConfiguration
    let credentials: CredentialStore
    /// The admitted connections, and the ACLs they are decided by.
    let registry: ConnectionRegistry
    /// Where every decision record goes (log, metrics, audit events).
    let sink: DecisionSink
    /// What Warden tells its clients in INFO.
    let info: InfoSource
    private let tls: TLSContextStore
    /// What every connection attempt shares, the sessions' collaborators among it.
    let admission: AdmissionContext
    let logger: Logger
    private let group: any EventLoopGroup
    let serverChannel = NIOLockedValueBox<(any Channel)?>(nil)
    private let watchers = NIOLockedValueBox<[RepeatedTask]>([])

    /// How long before one of Warden's own certificates expires its log starts warning, once a day.
    static let certificateWarning: TimeInterval = 30 * 86400

    /// With `audit`, every denial is also published as an event on NATS.
    public init(
        configuration: ProxyConfiguration, credentials: CredentialStore, policy: PolicySnapshot, log: DecisionLog,
        audit: AuditTrail? = nil, group: any EventLoopGroup, logger: Logger
    ) throws {
        self.configuration = configuration
        self.credentials = credentials
        self.registry = ConnectionRegistry(policy: policy)
        let metrics = BrokerMetrics()
        metrics.addDecisionSeries(of: policy)
        self.sink = DecisionSink(log: log, metrics: metrics, audit: audit)
        self.info = InfoSource(configuration: configuration)
        self.tls = try TLSContextStore(configuration: configuration)
        self.logger = logger
        self.group = group
        let upstream = UpstreamConnector(
            seeds: configuration.upstreams, tls: self.tls, proxyKey: try ProxyKey.load(layout: configuration.certs),
            logger: logger)
        let sessions = SessionFactory(
            upstream: upstream, sink: self.sink, registry: self.registry, info: self.info,
            settings: SessionFactory.Settings(
                maxPayload: configuration.maxPayload, maxSubscriptions: configuration.maxSubscriptions,
                writeDeadline: configuration.writeDeadline, trustDomain: credentials.trustDomain))
        self.admission = AdmissionContext(
            settings: AdmissionContext.Settings(
                handshakeFirstWindow: configuration.handshakeFirstWindow,
                handshakeTimeout: configuration.handshakeTimeout, maxConnections: configuration.maxConnections),
            tls: self.tls, credentials: credentials, registry: self.registry, sink: self.sink, info: self.info,
            sessions: sessions, logger: logger)
    }

    /// Binds the listener; returns the address it listens on (the port is chosen when 0 was given).
    @discardableResult
    public func start() async throws -> SocketAddress {
        if let channel = self.serverChannel.withLockedValue({ $0 }), let address = channel.localAddress {
            return address
        }
        if let facts = await UpstreamProbe.info(of: self.configuration.upstreams, group: self.group) {
            self.info.upstream = facts
        }
        let admission = self.admission
        let channel = try await ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: ListenBacklog.system)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: ReceiveBuffers.handshake)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let attempt = ConnectionAttempt(context: admission, channel: channel)
                    try channel.pipeline.syncOperations.addHandler(ClientAdmissionHandler(attempt: attempt))
                }
            }
            .bind(host: self.configuration.listenHost, port: self.configuration.listenPort)
            .get()
        self.serverChannel.withLockedValue { $0 = channel }
        self.sink.attach(listener: channel)
        let interval = self.configuration.revocationCheckInterval
        let loop = self.group.next()
        let revocations = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
            self.checkCredentials()
        }
        self.checkCertificates()
        let expiry = loop.scheduleRepeatedTask(initialDelay: .hours(24), delay: .hours(24)) { [self] _ in
            self.checkCertificates()
        }
        self.watchers.withLockedValue { $0 = [revocations, expiry] }
        let address = channel.localAddress!
        if let port = address.port { self.info.listening(on: port) }
        self.logger.info(
            "listening",
            metadata: [
                "address": "\(address)",
                "upstream": "\(self.configuration.upstreams.map(\.description).joined(separator: ","))",
                "upstream_version": "\(self.info.upstream.version)",
                "services": "\(self.registry.policy.services.count)", "rules": "\(self.registry.policy.ruleCount)",
            ])
        return address
    }

    /// Where clients reach this Warden, once it listens: `--advertise`, or the listen address.
    public var advertisedOnceListening: String? {
        self.address == nil ? nil : self.info.advertisedAddress
    }

    /// Where the listener listens, once it does (`start`).
    public var address: SocketAddress? { self.serverChannel.withLockedValue { $0?.localAddress } }

    /// Warden's INFO `server_id`, random per process.
    public var serverID: String { self.info.serverID }

    /// The number of admitted client connections now open.
    public var connectionCount: Int { self.registry.count }

    /// Warden's metrics in Prometheus' text format, as `MetricsServer` serves them.
    public func metricsExposition() -> [UInt8] {
        self.sink.metrics.exposition(
            openConnections: self.registry.countByService(), logWritten: self.sink.log.bytesWritten,
            logBacklog: self.sink.log.backlog,
            audit: self.sink.audit.map { audit in
                let counts = audit.counts
                return (counts.published, counts.dropped, counts.suppressed, audit.isConnected)
            })
    }

    public func run() async throws {
        try await self.start()
        try? await gracefulShutdown()
        await self.shutdown()
    }

    /// Closes live connections whose credential was revoked or expired since they connected, or left
    /// the inventory; each is told why and recorded (`ProxySession.credentialWithdrawn`). Runs every
    /// `revocationCheckInterval` once started.
    public func checkCredentials() {
        var changed = false
        do {
            changed = try self.credentials.reloadIfChanged()
        } catch {
            self.logger.error(
                "cannot reload the inventory; keeping the previous one", metadata: ["error": "\(error)"])
        }
        self.withdrawCredentials(inventoryChanged: changed)
    }

    /// Closes the live connections whose credential the inventory in force no longer allows (when
    /// `inventoryChanged`), or that expired.
    func withdrawCredentials(inventoryChanged changed: Bool) {
        let now = Date()
        // Each connection is looked up in the inventory only when it changed; expiry needs only a date.
        let withdrawn = self.registry.remove { entry -> CredentialVerifier.Failure? in
            guard changed || now > entry.notAfter else { return nil }
            return self.credentials.withdrawal(serial: entry.serial, notAfter: entry.notAfter, now: now)
        }
        for (entry, failure) in withdrawn {
            let session = entry.session
            session.eventLoop.execute { session.value.credentialWithdrawn(failure, serial: entry.serial) }
        }
    }

    /// Reads Warden's own certificates and keys again (after `warden renew`), as nats-server does at a
    /// reload: connections made from now on use them, live ones keep their TLS sessions, and the audit
    /// events' connection is made again with them (`AuditTrail.renewIdentity`). When they
    /// cannot be loaded (a missing file, a key that is not its certificate's), logs why and keeps the
    /// ones in use. Returns whether the files were loaded.
    @discardableResult
    public func reloadCertificates() -> Bool {
        do {
            try self.tls.reload()
        } catch {
            self.logger.error(
                "cannot reload Warden's certificates; the ones in use are kept",
                metadata: ["directory": "\(self.configuration.certs.wardenDirectory)", "error": "\(error)"])
            return false
        }
        self.logger.info("Warden's certificates reloaded; new connections use them")
        self.sink.audit?.renewIdentity()
        self.checkCertificates()
        return true
    }

    /// Publishes when Warden's certificates in use expire (metrics), and warns when that is soon.
    private func checkCertificates() {
        let (listener, upstream) = self.tls.notAfter
        self.sink.metrics.certificatesInUse(listenerNotAfter: listener, upstreamNotAfter: upstream)
        let layout = self.configuration.certs
        for (what, path, notAfter) in [
            ("listener", layout.serverCertificate, listener), ("upstream", layout.upstreamCertificate, upstream),
        ] where notAfter.timeIntervalSinceNow < Self.certificateWarning {
            self.logger.warning(
                "Warden's \(what) certificate expires soon: run `warden renew`, then send warden serve a SIGHUP",
                metadata: ["certificate": "\(path)", "not_after": "\(notAfter)"])
        }
    }

    /// Reads the ACL files in `directory` again and, when they are valid, decides every connection by
    /// them from now on, the live ones included (`ProxyStateMachine.policyChanged`: subscriptions no
    /// longer allowed are removed). When they are not valid, each problem is logged as
    /// `file:line: message` and the ACLs in force stay. Returns whether the new ACLs are in force;
    /// when it returns true, every connection is already decided by them.
    @discardableResult
    public func reloadACLs(directory: String) async -> Bool {
        let policy: PolicySnapshot
        do {
            policy = try ACLLoader.load(directory: directory)
        } catch {
            for diagnostic in error.diagnostics {
                self.logger.error("ACL reload: \(diagnostic.description)")
            }
            self.logger.error(
                "ACL reload failed; the ACLs in force are kept", metadata: ["directory": "\(directory)"])
            self.sink.metrics.countReload(succeeded: false)
            return false
        }
        await self.putInForce(policy, from: directory)
        return true
    }

    /// Decides every connection by `policy` from now on, the live ones included; returns once they are.
    func putInForce(_ policy: PolicySnapshot, from source: String) async {
        self.sink.metrics.addDecisionSeries(of: policy)
        let connections = self.registry.replacePolicy(policy)
        let told = connections.map { connection in
            let session = connection.session
            return session.eventLoop.submit { session.value.policyChanged(policy) }
        }
        var removed = 0
        for connection in told {
            // Fails only when the event loop has shut down: that connection is gone.
            removed += (try? await connection.get()) ?? 0
        }
        self.sink.metrics.countReload(succeeded: true)
        self.logger.info(
            "ACLs reloaded",
            metadata: [
                "source": "\(source)", "services": "\(policy.services.count)", "rules": "\(policy.ruleCount)",
                "connections": "\(connections.count)", "subscriptions_removed": "\(removed)",
            ])
    }

    /// Stops accepting, closes every client connection and waits for them to close.
    public func shutdown() async {
        self.watchers.withLockedValue { tasks in
            for task in tasks { task.cancel() }
            tasks = []
        }
        let channel = self.serverChannel.withLockedValue { channel in
            defer { channel = nil }
            return channel
        }
        try? await channel?.close()
        let open = self.registry.closeAll()
        for entry in open { try? await entry.channel.closeFuture.get() }
        self.logger.info("stopped", metadata: ["closed_connections": "\(open.count)"])
    }
}
