import Foundation
import Logging
import NATSClient
import NIOCore
import NIOPosix
import WardenACL
import WardenDevelopment
import WardenPKI
import WardenPolicy
import WardenProxy
import WardenTestSupport

@testable import WardenAudit

/// A complete Warden for one test: its own CA and credentials, ACL files, a real nats-server locked to
/// Warden's identity, the proxy on a free loopback port, and a decision log file.
final class ProxyHarness: @unchecked Sendable {
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    let directory: TemporaryDirectory
    let layout: CertsLayout
    let authority: CertificateAuthority
    let nats: NATSServerProcess
    let broker: Broker
    private let running: Task<Void, any Error>
    let port: Int
    let logPath: String

    /// How long Warden waits for a client's TLS session in the tests: longer than `warden serve`'s 5 s,
    /// because the whole suite on two cores has made handshakes outlast 5 s, and a client whose session
    /// the server gave up on just after the client finished sees "I/O on closed channel" at its first
    /// write. The test of the deadline itself sets a short one.
    static let handshakeTimeout: TimeAmount = .seconds(20)

    static let defaultACL = """
        defaults:
          subscribe:
            allow: ["_INBOX.{{service}}.>"]
        services:
          orders:
            publish:
              allow: ["orders.>", "jobs.run", "rpc.>"]
              deny: ["orders.internal.>"]
            subscribe:
              allow: ["payments.>", "orders.>", "foo.*", "jobs.* workers", "hdr.>"]
              deny: ["payments.secret"]
          payments:
            publish:
              allow: ["payments.>", "hdr.in"]
            subscribe:
              allow: ["orders.>", "rpc.>"]
            allow_responses: {max: 1, expires: 1m}
          observer:
            mode: audit
            publish:
              allow: ["observer.>"]
            subscribe:
              allow: ["observer.>"]
        """

    /// `upstreamHost` is how Warden names nats-server (`--upstream`); nats-server's certificate names
    /// `natsCertificateHosts`. Past `logHighWater` bytes waiting, the decision log asks sessions to
    /// pause until fewer than half as many (at least one) are left.
    init(
        acl: String = ProxyHarness.defaultACL, services: [String] = ["orders", "payments", "observer"],
        upstreamHost: String = "127.0.0.1", natsCertificateHosts: [String] = ["127.0.0.1"], logHighWater: Int = 8 << 20,
        logPath: String? = nil, auditEvents: Bool = false, auditBudget: AuditBudget.Limit = .standard,
        jetStream: Bool = false, handshakeTimeout: TimeAmount = ProxyHarness.handshakeTimeout
    ) async throws {
        self.directory = try TemporaryDirectory()
        self.layout = CertsLayout(root: self.directory.appending("certs"))
        self.authority = try CertificateAuthority.initialize(layout: self.layout, trustDomain: "test.warden")
        for service in services { try self.authority.enroll(service: service, lifetime: .seconds(3600)) }
        let aclDirectory = self.directory.appending("acls")
        try FileManager.default.createDirectory(atPath: aclDirectory, withIntermediateDirectories: true)
        try acl.write(toFile: aclDirectory + "/services.yaml", atomically: true, encoding: .utf8)
        let policy = try ACLLoader.load(directory: aclDirectory)

        try self.authority.issueNATSServerCertificate(hosts: natsCertificateHosts)
        let natsPort = try Loopback.freePort()
        self.nats = try NATSServerProcess(
            config: NATSServerConfig.render(
                authority: self.authority, host: "127.0.0.1", port: natsPort,
                jetStreamStore: jetStream ? self.directory.appending("jetstream") : nil),
            port: natsPort,
            directory: self.directory)

        var logger = Logger(label: "warden-test")
        logger.logLevel = .warning
        self.logPath = logPath ?? self.directory.appending("logs/decisions.jsonl")
        var proxy = ProxyConfiguration(
            listenHost: "127.0.0.1", listenPort: 0, upstreams: [.init(host: upstreamHost, port: natsPort)],
            certs: self.layout)
        proxy.revocationCheckInterval = .milliseconds(250)
        proxy.handshakeTimeout = handshakeTimeout
        // What `warden serve` runs, as it runs it.
        var configuration = Broker.Configuration(
            proxy: proxy, aclDirectory: aclDirectory, decisionLogPath: self.logPath)
        configuration.decisionLogWindow = logHighWater
        // A log that refuses writes on purpose (`logPath`) gives up at once when the test stops Warden.
        if logPath != nil { configuration.decisionLogShutdownTimeout = .milliseconds(100) }
        configuration.auditEvents = auditEvents ? auditBudget : nil
        let broker = try Broker(
            configuration: configuration, policy: policy, credentials: CredentialStore(layout: self.layout),
            eventLoopGroup: Self.group, logger: logger)
        self.broker = broker
        self.running = Task { try await broker.run() }
        // Bounded, and long: on a loaded machine (the whole suite starts at once) start-up can take a while.
        guard await eventually(timeout: .seconds(30), { broker.server.address != nil }),
            let port = broker.server.address?.port
        else {
            await broker.shutdown()
            throw HarnessError(description: "Warden did not listen within 30 s")
        }
        self.port = port
    }

    var server: ProxyServer { self.broker.server }
    var log: DecisionLog { self.broker.log }
    /// Warden's audit events, when the harness publishes them.
    var audit: AuditTrail? { self.broker.audit }

    /// Stops Warden as SIGTERM does, then nats-server; the decision log is complete afterwards.
    func stop() async {
        await self.broker.shutdown()
        _ = try? await self.running.value
        self.nats.stop()
    }

    var url: String { "tls://127.0.0.1:\(self.port)" }

    var aclDirectory: String { self.directory.appending("acls") }

    /// Rewrites the ACL file and reloads it, as SIGHUP does; true when the new ACLs are in force.
    func reload(acl: String) async throws -> Bool {
        try acl.write(toFile: self.aclDirectory + "/services.yaml", atomically: true, encoding: .utf8)
        return await self.server.reloadACLs(directory: self.aclDirectory)
    }

    /// Connects without TLS and sends CONNECT, as a client that is not enrolled would; true when
    /// Warden closed the connection (a `connect` deny record of an unidentified client).
    func connectWithoutTLS() throws -> Bool {
        let raw = try RawConnection(port: self.port)
        _ = raw.receive(for: 1)
        raw.send("CONNECT {}\r\n")
        return raw.receive(for: 2).closedByPeer
    }

    /// The options a service would use: Warden's URL, Warden's CA, its enrolled certificate.
    func options(_ service: String) -> NATSClient.Options {
        let folder = self.layout.serviceDirectory(service)
        var options = NATSClient.Options(
            url: self.url, caFile: folder + "/ca.pem", certificateFile: folder + "/cert.pem",
            keyFile: folder + "/key.pem",
            name: "\(service)-test", inboxPrefix: "_INBOX.\(service)")
        options.timeoutMilliseconds = 3000
        return options
    }

    func client(_ service: String) throws -> NATSClient {
        try NATSClient(self.options(service))
    }

    /// Every decision record written so far, read with the log's one schema (`DecisionLogEntry`): a line
    /// that is not a decision record fails the test.
    func records() async throws -> [DecisionLogEntry] {
        await self.log.flush()
        let text = (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { line in
            do {
                return try DecisionLogEntry(line: Data(line.utf8))
            } catch {
                throw HarnessError(description: "not a decision record: \(line): \(error)")
            }
        }
    }

    /// Records of one op, optionally only those for `subject`.
    func records(op: String, subject: String? = nil) async throws -> [DecisionLogEntry] {
        try await self.records().filter {
            $0["op"] as? String == op && (subject == nil || $0["subject"] as? String == subject)
        }
    }

    /// Records of one op, optionally only those for `subject`, once there are at least `count` of them
    /// (a bounded wait). A session hands a read's records to the log just after writing what the read
    /// let through, so a `deliver` record can trail the message it decided by a moment.
    func records(op: String, subject: String? = nil, atLeast count: Int) async throws -> [DecisionLogEntry] {
        func matching(_ records: [DecisionLogEntry]) -> [DecisionLogEntry] {
            records.filter { $0["op"] as? String == op && (subject == nil || $0["subject"] as? String == subject) }
        }
        return matching(try await self.waitForRecords { matching($0).count >= count })
    }

    /// Waits (bounded) until `condition` holds on the records, and returns them.
    func waitForRecords(
        timeout: Duration = .seconds(5), _ condition: ([DecisionLogEntry]) -> Bool
    ) async throws -> [DecisionLogEntry] {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let records = try await self.records()
            if condition(records) || clock.now >= deadline { return records }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// Runs `body` against a fresh Warden and always stops it.
func withWarden(
    acl: String = ProxyHarness.defaultACL, services: [String] = ["orders", "payments", "observer"],
    upstreamHost: String = "127.0.0.1", natsCertificateHosts: [String] = ["127.0.0.1"],
    logHighWater: Int = 8 << 20, logPath: String? = nil, auditEvents: Bool = false,
    auditBudget: AuditBudget.Limit = .standard, jetStream: Bool = false,
    handshakeTimeout: TimeAmount = ProxyHarness.handshakeTimeout, _ body: (ProxyHarness) async throws -> Void
) async throws {
    let warden = try await ProxyHarness(
        acl: acl, services: services, upstreamHost: upstreamHost, natsCertificateHosts: natsCertificateHosts,
        logHighWater: logHighWater, logPath: logPath,
        auditEvents: auditEvents, auditBudget: auditBudget, jetStream: jetStream, handshakeTimeout: handshakeTimeout)
    do {
        try await body(warden)
    } catch {
        await warden.stop()
        throw error
    }
    await warden.stop()
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
}

extension NATSClient {
    /// Whether the server reported an asynchronous error containing `text`; nats.c delivers these on
    /// a thread of its own, so this waits (bounded) for it.
    func reported(_ text: String, timeout: Duration = .seconds(3)) async -> Bool {
        await eventually(timeout: timeout) { self.asyncErrors.contains(where: { $0.contains(text) }) }
    }
}

extension DecisionLogEntry {
    /// A field by its name in the log, as the log has it (enums as their text, numbers as `Int`): for
    /// assertions that name fields as users read them.
    subscript(field: String) -> Any? {
        switch field {
        case "ts": self.ts
        case "decision": self.decision.rawValue
        case "op": self.op.rawValue
        case "service": self.service
        case "conn": Int(self.conn)
        case "peer": self.peer
        case "mode": self.mode.rawValue
        case "rule": self.rule
        case "subject": self.subject
        case "queue": self.queue
        case "reply": self.reply
        case "size": self.size
        case "sid": self.sid
        case "reason": self.reason
        case "identity": self.identity
        case "serial": self.serial
        default: nil
        }
    }
}
