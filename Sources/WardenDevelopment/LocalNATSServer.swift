import Foundation
public import Logging
public import ServiceLifecycle
public import WardenPKI

/// A nats-server for development, started by `warden serve` when no `--upstream` is given: on a free
/// loopback port, with the configuration of `warden nats-config` (TLS only, only Warden's identity,
/// JetStream in its temporary folder), and stopped when Warden stops.
public final class LocalNATSServer: Service, Sendable {
    public let port: Int
    private let server: NATSServerProcess
    private let logger: Logger

    /// Issues nats-server's certificate, writes its configuration and starts it; returns once it listens.
    public init(authority: CertificateAuthority, logger: Logger) throws {
        self.logger = logger
        let port = try LoopbackPort.free()
        try authority.issueNATSServerCertificate(hosts: ["127.0.0.1", "localhost"])
        let folder = NSTemporaryDirectory() + "warden-nats-\(getpid())-\(port)"
        try SecureFile.makeDirectory(folder, mode: 0o700)
        let config = NATSServerConfig.render(
            authority: authority, host: "127.0.0.1", port: port, jetStreamStore: folder + "/jetstream")
        self.server = try NATSServerProcess(configuration: config, port: port, folder: folder)
        self.port = port
        logger.info(
            "started a local nats-server for development",
            metadata: [
                "upstream": "tls://127.0.0.1:\(port)", "nats_log": "\(self.server.logPath)",
            ])
    }

    public func run() async throws {
        let exited = await cancelWhenGracefulShutdown { () -> Bool in
            while self.server.isRunning {
                if Task.isCancelled { return false }
                try? await Task.sleep(for: .milliseconds(100))
            }
            return true
        }
        if exited == true {
            self.cleanUp()
            throw NATSServerError(
                .exited, "the local nats-server exited unexpectedly (status \(self.server.terminationStatus))")
        }
        self.stop()
    }

    /// Stops nats-server (SIGTERM, then SIGKILL after 5 s) and removes its configuration.
    public func stop() {
        guard self.server.isRunning else {
            self.cleanUp()
            return
        }
        self.server.stop()
        self.cleanUp()
        self.logger.info("stopped the local nats-server")
    }

    /// Removes the configuration; nats-server's log stays for a look after the fact.
    private func cleanUp() {
        try? FileManager.default.removeItem(atPath: self.server.configPath)
    }
}
