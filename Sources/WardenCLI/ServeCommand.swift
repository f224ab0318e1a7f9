import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals
import WardenACL
import WardenAudit
import WardenDevelopment
import WardenPKI
import WardenPolicy
import WardenProxy

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the broker: TLS-only NATS endpoint for services, enforcing the ACLs and logging every decision.",
        discussion: """
            Services connect to --listen over TLS with the certificate `warden enroll` gave them. Warden connects \
            to --upstream over TLS with its own identity. Without --upstream, Warden starts a local nats-server \
            (from PATH) locked to its identity, for development. Every denial is also published on NATS, as its \
            decision record, to warden.audit.deny.OP.SERVICE (--no-audit-events turns this off), up to --audit-rate \
            events a second per service; past that they are counted and summarised on warden.audit.suppressed.SERVICE, \
            and the decision log still has every record. With --metrics, \
            Prometheus metrics are served over plain HTTP at http://HOST:PORT/metrics. SIGHUP reloads the ACL files: \
            live connections are decided by the new ACLs from then on, subscriptions they no longer allow are removed, \
            and ACLs with errors are reported and not loaded; it also reloads Warden's own certificates (after \
            `warden renew`) for new connections. SIGUSR1 reopens the decision log, for rotation: move the \
            file away, then send SIGUSR1, and records go to a new file. SIGUSR2 enters lame duck mode, as \
            nats-server's: Warden stops accepting, tells its clients (INFO ldm) to reconnect elsewhere, closes \
            them over --lame-duck-duration, writes its last records and exits 0. SIGTERM or SIGINT stops it \
            gracefully at once. Wardens on one NATS cluster find each other by heartbeats on \
            warden.peers.heartbeat (--no-peers turns this off) and tell their clients each other's --advertise \
            address in INFO connect_urls, so that clients know where to reconnect; never a nats-server's. With \
            --fleet, the ACLs and the inventory come from the JetStream KeyValue bucket WARDEN (`warden fleet \
            push`) instead of the files: each bundle there must be signed by the CA and newer than the one in \
            force, and is in force on every Warden that follows the bucket within about a second; the last \
            verified one is kept in --state-dir, from which Warden starts when NATS is unreachable.
            """
    )

    @Option(help: "Where services connect, HOST:PORT.") var listen: String = "127.0.0.1:4443"
    @Option(
        help: """
            nats-server to connect to, tls://HOST:PORT, or the servers of one cluster, comma-separated \
            (tls://a:4222,tls://b:4222). Without it, a local nats-server is started.
            """)
    var upstream: String?
    @Option(
        name: .customLong("upstream-ca"),
        help: "PEM file of the CA that signed nats-server's certificate (default: Warden's CA).")
    var upstreamCA: String?
    @OptionGroup var acls: ACLOptions
    @OptionGroup var certs: CertsOptions
    @Option(name: .customLong("decision-log"), help: "JSON Lines file every decision is appended to.")
    var decisionLog: String = "logs/decisions.jsonl"
    @Option(
        name: .customLong("decision-log-window"),
        help: """
            How many bytes of records Warden may hold in memory, not yet in the decision log's file, while \
            clients go on (what a crash could lose); past it, clients wait for the log. 0: nothing a record \
            decides leaves Warden before the record is in the file.
            """)
    var decisionLogWindow = "8MB"
    @Flag(inversion: .prefixedNo, help: "Publish every denial on NATS to warden.audit.deny.OP.SERVICE.")
    var auditEvents = true
    @Option(
        name: .customLong("audit-rate"),
        help: "Audit events each service's denials may publish per second, in bursts of up to ten times as many.")
    var auditRate: Int = AuditBudget.Limit.standard.perSecond
    @Option(
        help:
            "Serve Prometheus metrics at http://HOST:PORT/metrics (plain HTTP: bind it to loopback or a management network)."
    )
    var metrics: String?
    @Option(
        name: .customLong("lame-duck-duration"),
        help: "Over how long lame duck mode (SIGUSR2) closes the clients, e.g. 30s or 2m.")
    var lameDuckDuration: String = "30s"
    @Option(
        name: .customLong("max-connections"),
        help: "How many clients may be connected at once; the next gets nats-server's 'maximum connections exceeded'.")
    var maxConnections = 64 * 1024
    @Option(
        name: .customLong("max-subscriptions"),
        help:
            "How many subscriptions a client may have (0: no limit); the next SUB gets 'maximum subscriptions exceeded'."
    )
    var maxSubscriptions = 0
    @Option(
        name: .customLong("write-deadline"),
        help:
            "How long a client may take nothing Warden has for it before it is closed as a slow consumer (as nats-server's write_deadline)."
    )
    var writeDeadline: String = "10s"
    @Option(
        help: """
            Where clients reach this Warden, HOST:PORT (default: the --listen address): announced to the other \
            Wardens on the same NATS cluster, which tell their clients in INFO connect_urls.
            """)
    var advertise: String?
    @Option(
        help:
            "This Warden's name in its heartbeats and audit-stream records (default: the host name and the listen port)."
    )
    var instance: String?
    @Flag(
        inversion: .prefixedNo,
        help: "Find the other Wardens on the same NATS cluster (heartbeats on warden.peers.heartbeat).")
    var peers = true
    @Flag(
        name: .customLong("audit-stream"),
        help: """
            Also publish every deny record, with JetStream acknowledgements, into the stream WARDEN_AUDIT \
            (created when missing): the decision log is the spool, and what NATS has not acknowledged is sent \
            again, after an outage or a restart. `warden denials --nats URL` summarises the stream.
            """)
    var auditStream = false
    @Flag(help: "Take the ACLs and the inventory from the fleet's KeyValue bucket WARDEN, not from the files.")
    var fleet = false
    @Option(
        name: .customLong("state-dir"),
        help: "With --fleet: where the last verified fleet state is kept, to start from while NATS is unreachable.")
    var stateDirectory = "state"
    @Option(
        name: .customLong("log-level"),
        help: "Level of Warden's own log on standard error: debug, info, warning, error.")
    var logLevel: String = "info"

    func validate() throws {
        guard parseHostPort(Substring(self.listen)) != nil else {
            throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:4443")
        }
        if let metrics, parseHostPort(Substring(metrics)) == nil {
            throw ValidationError("--metrics must be HOST:PORT, e.g. 127.0.0.1:9464")
        }
        if let upstream, ProxyConfiguration.Upstream.list(upstream) == nil {
            throw ValidationError(
                "--upstream must be tls://HOST:PORT or a comma-separated list of them, e.g. tls://nats-1:4222,tls://nats-2:4222"
            )
        }
        guard (1...1_000_000).contains(self.auditRate) else {
            throw ValidationError("--audit-rate must be a whole number of events a second from 1 to 1000000, e.g. 100")
        }
        guard self.maxConnections >= 1 else {
            throw ValidationError("--max-connections must be 1 or more, e.g. 65536")
        }
        guard self.maxSubscriptions >= 0 else {
            throw ValidationError("--max-subscriptions must be 0 (no limit) or more, e.g. 10000")
        }
        guard ByteSize.parse(self.decisionLogWindow) != nil else {
            throw ValidationError("--decision-log-window must be a size in bytes, KB, MB or GB, e.g. 8MB or 0")
        }
        guard (try? DurationParser.parse(self.writeDeadline)).map({ $0 > .zero }) == true else {
            throw ValidationError("--write-deadline must be a duration like 10s or 500ms")
        }
        guard (try? DurationParser.parse(self.lameDuckDuration)).map({ $0 > .zero }) == true else {
            throw ValidationError("--lame-duck-duration must be a duration like 30s or 2m")
        }
        if let advertise, parseHostPort(Substring(advertise)).map({ $0.1 != 0 }) != true {
            throw ValidationError("--advertise must be HOST:PORT, e.g. warden-1.internal:4443")
        }
        if self.peers, self.advertise == nil, let (host, port) = parseHostPort(Substring(self.listen)),
            ["0.0.0.0", "::"].contains(host) || port == 0
        {
            throw ValidationError(
                "--listen \(self.listen) is no address a client can reach: give --advertise HOST:PORT, or --no-peers")
        }
        if self.fleet, self.upstream == nil {
            throw ValidationError(
                "--fleet needs --upstream: the fleet's bucket is on the NATS cluster the Wardens share")
        }
        guard Logger.Level(rawValue: self.logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: self.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "warden")
        OpenFileLimit.raiseToMaximum()
        // Trapped first: until then, a SIGHUP, SIGUSR1 or SIGUSR2 would end the process.
        let signals = await UnixSignalsSequence(trapping: .sighup, .sigusr1, .sigusr2)

        // The ACLs and credentials first: their errors are reported before anything starts. With --fleet
        // (which needs --upstream) they come from the bucket, over Warden's own connection to it.
        let fleetConnection = self.upstream.flatMap(ProxyConfiguration.Upstream.list).map {
            WardenConnection(upstreams: $0, upstreamCAFile: self.upstreamCA, certs: self.certs.layout)
        }
        let (policy, credentials, fleet) = try self.loadState(connection: fleetConnection, logger: logger)

        var services: [any Service] = []
        let upstreams: [ProxyConfiguration.Upstream]
        if let urls = self.upstream {
            upstreams = ProxyConfiguration.Upstream.list(urls)!
        } else {
            let authority = try runPKI { () throws(PKIError) in try CertificateAuthority.load(layout: self.certs.layout)
            }
            let local: LocalNATSServer
            do {
                local = try LocalNATSServer(authority: authority, logger: logger)
            } catch {
                ErrorHints.report(error)
                throw ExitCode(1)
            }
            services.append(local)
            upstreams = [ProxyConfiguration.Upstream(host: "127.0.0.1", port: local.port)]
        }

        let (host, port) = parseHostPort(Substring(self.listen))!
        let proxy = ProxyConfiguration(
            listenHost: host, listenPort: port, upstreams: upstreams, upstreamCAFile: self.upstreamCA,
            certs: self.certs.layout)
        var configuration = Broker.Configuration(
            proxy: proxy, aclDirectory: self.acls.directory, decisionLogPath: self.decisionLog)
        configuration.fleet = fleet
        configuration.decisionLogWindow = ByteSize.parse(self.decisionLogWindow)!
        configuration.auditEvents =
            self.auditEvents ? AuditBudget.Limit(perSecond: self.auditRate, burst: self.auditRate * 10) : nil
        configuration.metrics = self.metrics.flatMap { parseHostPort(Substring($0)) }
        configuration.lameDuckDuration = try DurationParser.parse(self.lameDuckDuration)
        configuration.proxy.advertise = self.advertise
        configuration.proxy.maxConnections = self.maxConnections
        configuration.proxy.maxSubscriptions = self.maxSubscriptions
        configuration.proxy.writeDeadline = .nanoseconds(
            Int64(try DurationParser.parse(self.writeDeadline) / .nanoseconds(1)))
        let instance = self.instance ?? "\(ProcessInfo.processInfo.hostName):\(port)"
        if self.peers { configuration.peerInstance = instance }
        if self.auditStream { configuration.auditStreamInstance = instance }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        do {
            let broker = try Broker(
                configuration: configuration, policy: policy, credentials: credentials, eventLoopGroup: group,
                before: services, signals: signals, shutdownSignals: [.sigterm, .sigint], logger: logger)
            try await broker.run()
        } catch {
            try? await group.shutdownGracefully()
            if let local = services.first as? LocalNATSServer { local.stop() }
            ErrorHints.report(error)
            throw ExitCode(1)
        }
        try await group.shutdownGracefully()
    }
}
