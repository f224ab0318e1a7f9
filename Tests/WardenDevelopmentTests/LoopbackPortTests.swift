import Foundation
import Testing
import WardenDevelopment

/// Ports for what Warden and its tools start beside themselves (nats-server, Warden in the benchmark).
struct LoopbackPortTests {
    /// The kernel hands out a port that was just released again, so two picks in a row can return the
    /// same port: the benchmark then started nats-server and Warden on one port, and Warden could not
    /// listen. A process never gets the same port twice.
    @Test func aProcessNeverGetsTheSamePortTwice() throws {
        var ports = Set<Int>()
        for _ in 0..<500 {
            let port = try LoopbackPort.free()
            #expect(ports.insert(port).inserted, "port \(port) handed out twice")
            #expect((1...65535).contains(port))
        }
    }
}

/// The one way nats-server is started, for `warden serve`, the tests and the benchmark.
struct NATSServerProcessTests {
    @Test func startsListensStopsAndStartsAgainOnItsPort() throws {
        let folder = NSTemporaryDirectory() + "warden-nats-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let port = try LoopbackPort.free()
        let server = try NATSServerProcess(
            configuration: "host: 127.0.0.1\nport: \(port)\n", port: port, folder: folder)
        #expect(LoopbackPort.isListening(port))
        let mode = try FileManager.default.attributesOfItem(atPath: server.configPath)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        server.kill()
        #expect(!server.isRunning && !LoopbackPort.isListening(port))
        try server.start()
        #expect(LoopbackPort.isListening(port))
        server.stop()
        #expect(!server.isRunning)
    }

    @Test func aConfigurationNATSServerRefusesIsReportedWithItsLog() throws {
        let folder = NSTemporaryDirectory() + "warden-nats-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let port = try LoopbackPort.free()
        let error = #expect(throws: NATSServerError.self) {
            _ = try NATSServerProcess(configuration: "port: \(port)\nno_such_setting {\n", port: port, folder: folder)
        }
        #expect(error?.code == .notStarted)
        #expect(error?.description.contains("nats-server exited with status") == true, "\(String(describing: error))")
    }
}
