import Foundation
import NATSClient
import Testing
import WardenTestSupport

/// Warden in front of a three-server nats-server cluster with TLS routes, as a user runs it (`warden
/// nats-config`, `warden serve --upstream A,B,C`), with real nats.c and nats.py services: a nats-server
/// or a Warden fails, and no service stays down.
@Suite(.serialized)
struct ClusterEndToEndTests {
    /// `warden init`, and `orders` and `payments` enrolled, in a new folder.
    static func enrolled() throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory()
        for arguments in [["init"], ["enroll", "orders"], ["enroll", "payments"]] {
            let result = try warden(arguments, in: directory.path)
            guard result.status == 0 else { throw NATSServerFailure(description: result.stderr) }
        }
        return directory
    }

    struct NATSServerFailure: Error { let description: String }

    /// `warden serve` of the shipped ACLs in front of `cluster`, listening on `port`; returns once it listens.
    static func serve(
        _ directory: TemporaryDirectory, cluster: NATSCluster, port: Int, _ extra: [String] = []
    ) throws -> (process: Process, stderr: String) {
        let (process, _, stderr) = try ServeCommandTests.start(
            [
                "serve", "--acls", repositoryACLs, "--listen", "127.0.0.1:\(port)", "--upstream", cluster.upstream,
                "--no-audit-events", "--decision-log", "logs/decisions-\(port).jsonl",
            ] + extra, in: directory)
        #expect(Loopback.waitUntilListening(port: port, timeout: 20), "\(ServeCommandTests.read(stderr))")
        return (process, stderr)
    }

    /// A persistent nats.c client of `service` (reconnects for ever), given only the Wardens `ports`.
    static func client(
        _ service: String, ports: [Int], in directory: TemporaryDirectory, events: ConnectionEvents
    ) throws -> NATSClient {
        let folder = directory.appending("certs/services/\(service)")
        var options = NATSClient.Options(
            url: ports.map { "tls://127.0.0.1:\($0)" }.joined(separator: ","), caFile: folder + "/ca.pem",
            certificateFile: folder + "/cert.pem", keyFile: folder + "/key.pem")
        options.timeoutMilliseconds = 5000
        options.persistent = true
        options.inboxPrefix = "_INBOX.\(service)"
        options.onConnectionEvent = { events.record($0) }
        return try NATSClient(options)
    }

    /// Starts the nats.py scenario (`Tests/Clients/nats_py_cluster.py`) against the Warden on `port`.
    static func natsPy(port: Int, in directory: TemporaryDirectory) throws -> (Process, LineReader) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Clients/nats_py_cluster.py").path
        process.arguments = ["python3", script, "tls://127.0.0.1:\(port)", directory.appending("certs")]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        return (process, LineReader(out.fileHandleForReading))
    }

    /// What the nats.py scenario saw, once it ends.
    static func outcome(_ lines: LineReader) throws -> [String: Any] {
        let line = try #require(lines.next(timeout: 35))
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    /// Publishes on `publisher` until every subscription has a message published after this call.
    static func everyoneReceives(
        from publisher: NATSClient, _ subscriptions: [NATSClient.Subscription], timeout: Duration = .seconds(15)
    ) async -> Bool {
        let marker = "after-\(UUID().uuidString)"
        var arrived = Array(repeating: false, count: subscriptions.count)
        return await eventually(timeout: timeout) {
            try? publisher.publish("orders.created", marker)
            try? publisher.flush(timeoutMilliseconds: 500)
            for (index, subscription) in subscriptions.enumerated() where !arrived[index] {
                while let message = subscription.next(timeoutMilliseconds: 50) {
                    if message.text == marker { arrived[index] = true }
                }
            }
            return arrived.allSatisfy { $0 }
        }
    }

    @Test func killingANATSServerMovesItsServicesToTheOtherServersAndNoneClosesForGood() async throws {
        let directory = try Self.enrolled()
        let cluster = try NATSCluster(in: directory)
        defer { cluster.stop() }
        let port = try Loopback.freePort()
        let (warden, stderr) = try Self.serve(directory, cluster: cluster, port: port, ["--no-peers"])
        defer { if warden.isRunning { warden.terminate() } }

        // Four connections each, spread over three servers: some of each kind are on every server.
        let events = (0..<4).map { _ in ConnectionEvents() }
        let subscribers = try (0..<3).map {
            try Self.client("payments", ports: [port], in: directory, events: events[$0])
        }
        let subscriptions = try subscribers.map { try $0.subscribe("orders.created") }
        for subscriber in subscribers { try subscriber.flush() }
        let publisher = try Self.client("orders", ports: [port], in: directory, events: events[3])
        #expect(await Self.everyoneReceives(from: publisher, subscriptions))
        let (python, lines) = try Self.natsPy(port: port, in: directory)
        defer { if python.isRunning { python.terminate() } }
        #expect(lines.next(timeout: 20)?.hasPrefix("ready") == true)

        cluster.servers[0].kill()
        #expect(await eventually(timeout: .seconds(10)) { events.contains { $0.count("disconnected") > 0 } })
        // Their clients reconnect through Warden, which sends them to the servers still up.
        #expect(await Self.everyoneReceives(from: publisher, subscriptions), "\(ServeCommandTests.read(stderr))")
        #expect(events.allSatisfy { $0.count("reconnected") == $0.count("disconnected") })
        #expect(!subscribers.contains { $0.isClosed } && !publisher.isClosed)
        let seen = try Self.outcome(lines)
        #expect(seen["closed"] as? Bool == false, "\(seen)")
        #expect((seen["disconnects"] as? Int ?? 0) >= 1, "\(seen)")
        #expect(seen["received_after_reconnect"] as? Bool == true, "\(seen)")
        #expect(ServeCommandTests.read(stderr).contains("nats-server unreachable"))
    }

    @Test func aNATSServerInLameDuckModeGetsNoNewClientConnectionsFromWarden() async throws {
        let directory = try Self.enrolled()
        let cluster = try NATSCluster(in: directory)
        defer { cluster.stop() }
        let port = try Loopback.freePort()
        let (warden, stderr) = try Self.serve(directory, cluster: cluster, port: port, ["--no-peers"])
        defer { if warden.isRunning { warden.terminate() } }
        // One connection on each server, so that one hears nats-server's INFO `ldm`.
        let early = try (0..<3).map { _ in try Self.client("payments", ports: [port], in: directory, events: .init()) }

        cluster.lameDuck(0)
        #expect(
            await eventually(timeout: .seconds(10)) {
                ServeCommandTests.read(stderr).contains("nats-server entered lame duck mode")
            }, "\(ServeCommandTests.read(stderr))")
        let events = (0..<6).map { _ in ConnectionEvents() }
        let late = try events.map { try Self.client("payments", ports: [port], in: directory, events: $0) }
        #expect(late.allSatisfy { $0.isConnected })
        // Were any of them on the server in lame duck mode, they would be cut off now.
        cluster.servers[0].kill()
        try await Task.sleep(for: .seconds(2))
        #expect(events.allSatisfy { $0.count("disconnected") == 0 })
        for client in early + late { client.close() }
    }

    @Test func aServiceGivenOneWardenLearnsTheOthersAndMovesToThemWhenItStopsOrGoesLameDuck() async throws {
        let directory = try Self.enrolled()
        let cluster = try NATSCluster(in: directory)
        defer { cluster.stop() }
        let ports = try (0..<3).map { _ in try Loopback.freePort() }
        let (first, firstError) = try Self.serve(directory, cluster: cluster, port: ports[0])
        defer { if first.isRunning { first.terminate() } }
        let (second, secondError) = try Self.serve(
            directory, cluster: cluster, port: ports[1], ["--lame-duck-duration", "2s"])
        defer { if second.isRunning { second.terminate() } }

        // Given only the first Warden, each learns the second from INFO connect_urls.
        let events = ConnectionEvents()
        let subscriber = try Self.client("payments", ports: [ports[0]], in: directory, events: events)
        let subscription = try subscriber.subscribe("orders.created")
        try subscriber.flush()
        let publisher = try Self.client("orders", ports: [ports[1]], in: directory, events: .init())
        #expect(
            await eventually(timeout: .seconds(10)) {
                subscriber.discoveredServers.contains { $0.hasSuffix(":\(ports[1])") }
            }, "\(subscriber.discoveredServers) \(ServeCommandTests.read(firstError))")
        // Never a nats-server's address.
        #expect(
            !subscriber.discoveredServers.contains { url in cluster.clientPorts.contains { url.hasSuffix(":\($0)") } })
        let (python, lines) = try Self.natsPy(port: ports[0], in: directory)
        defer { if python.isRunning { python.terminate() } }
        let ready = try #require(lines.next(timeout: 20))
        #expect(ready.contains("127.0.0.1:\(ports[1])"), "\(ready)")

        // SIGTERM: the first Warden stops; both clients continue through the second by themselves.
        first.terminate()
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        #expect(await Self.everyoneReceives(from: publisher, [subscription]))
        #expect(subscriber.connectedURL?.hasSuffix(":\(ports[1])") == true)
        let seen = try Self.outcome(lines)
        #expect(seen["closed"] as? Bool == false, "\(seen)")
        #expect((seen["reconnected_to"] as? [String])?.allSatisfy { $0 == "127.0.0.1:\(ports[1])" } == true, "\(seen)")
        #expect(seen["received_after_reconnect"] as? Bool == true, "\(seen)")

        // A third Warden joins: the clients are told in an INFO update. SIGUSR2 on the second: they move
        // to the third within its lame duck period, and the second exits 0 with its records written.
        let (third, _) = try Self.serve(directory, cluster: cluster, port: ports[2])
        defer { if third.isRunning { third.terminate() } }
        #expect(
            await eventually(timeout: .seconds(10)) {
                subscriber.discoveredServers.contains { $0.hasSuffix(":\(ports[2])") }
                    && publisher.discoveredServers.contains { $0.hasSuffix(":\(ports[2])") }
            })
        let (lameDuckPython, lameDuckLines) = try Self.natsPy(port: ports[1], in: directory)
        defer { if lameDuckPython.isRunning { lameDuckPython.terminate() } }
        let readyAgain = try #require(lameDuckLines.next(timeout: 20))
        #expect(readyAgain.contains("127.0.0.1:\(ports[2])"), "\(readyAgain)")
        kill(second.processIdentifier, SIGUSR2)
        #expect(await eventually(timeout: .seconds(10)) { !second.isRunning }, "\(ServeCommandTests.read(secondError))")
        #expect(second.terminationStatus == 0)
        #expect(await Self.everyoneReceives(from: publisher, [subscription]))
        #expect(subscriber.connectedURL?.hasSuffix(":\(ports[2])") == true)
        #expect(!subscriber.isClosed && !publisher.isClosed)
        let movedOn = try Self.outcome(lameDuckLines)
        #expect(movedOn["closed"] as? Bool == false, "\(movedOn)")
        #expect(
            (movedOn["reconnected_to"] as? [String])?.allSatisfy { $0 == "127.0.0.1:\(ports[2])" } == true, "\(movedOn)"
        )
        #expect(movedOn["received_after_reconnect"] as? Bool == true, "\(movedOn)")
        let log = try String(contentsOfFile: directory.appending("logs/decisions-\(ports[1]).jsonl"), encoding: .utf8)
        let records = log.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) }
        #expect(!records.isEmpty && records.allSatisfy { $0 != nil })
        #expect(log.contains(#""op":"sub""#) && log.contains(#""subject":"orders.created""#))
        subscriber.close()
        publisher.close()
    }

    /// Opens a route connection to `port` with `certificate` (TLS first, as routes are), sends a route's CONNECT and a PING, and
    /// returns what nats-server answered until it closed (or 3 s passed).
    static func joinAsRoute(port: Int, certificate: String, key: String, ca: String) throws -> String {
        let script = """
            import socket, ssl, sys
            plain = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
            context = ssl.create_default_context(cafile=sys.argv[4])
            context.check_hostname = False
            context.load_cert_chain(sys.argv[2], sys.argv[3])
            route = context.wrap_socket(plain)  # routes start with the TLS handshake, then INFO
            route.sendall(b'CONNECT {"verbose":false,"pedantic":false,"tls_required":true,"name":"intruder",'
                          b'"cluster":"warden","headers":true}\\r\\nPING\\r\\n')
            answer = b""
            try:
                while True:
                    chunk = route.recv(4096)
                    if not chunk:
                        break
                    answer += chunk
            except Exception:
                pass
            print(answer.decode(errors="replace"))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, "\(port)", certificate, key, ca]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// Every service credential is issued by the same CA as nats-server's certificate, and routes verify
    /// certificates against it: were any valid certificate a route, a service could join the cluster
    /// and read every message. `warden nats-config` maps routes to nats-server's own identity.
    @Test func aServiceCredentialCannotJoinTheClusterAsARoute() throws {
        let directory = try Self.enrolled()
        let cluster = try NATSCluster(in: directory)
        defer { cluster.stop() }
        let service = directory.appending("certs/services/orders")
        let refused = try Self.joinAsRoute(
            port: cluster.routePorts[0], certificate: service + "/cert.pem", key: service + "/key.pem",
            ca: service + "/ca.pem")
        #expect(refused.contains("Authorization Violation"), "\(refused)")
        #expect(!refused.contains("PONG"), "\(refused)")
        // nats-server's own certificate is a route: the check above is the mapping, not TLS failing.
        let admitted = try Self.joinAsRoute(
            port: cluster.routePorts[0], certificate: directory.appending("certs/nats/server.pem"),
            key: directory.appending("certs/nats/server-key.pem"), ca: service + "/ca.pem")
        #expect(admitted.contains("PONG"), "\(admitted)")
        #expect(!admitted.contains("Authorization Violation"), "\(admitted)")
    }
}
