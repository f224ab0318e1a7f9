import Foundation

/// A real nats-server, started from PATH with a given configuration on a loopback port and stopped
/// when released. Tests never mock NATS.
public final class NATSServerProcess: @unchecked Sendable {
    public let port: Int
    public let logPath: String
    private let configPath: String
    private let lock = NSLock()
    private var process = Process()

    /// Starts `nats-server -c CONFIG` and waits until it listens on `port`.
    public init(config: String, port: Int, directory: TemporaryDirectory) throws {
        self.port = port
        self.configPath = directory.appending("nats-\(port).conf")
        self.logPath = directory.appending("nats-\(port).log")
        try config.write(toFile: self.configPath, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: self.logPath, contents: nil)
        try self.start()
    }

    /// Starts nats-server again with the same configuration and port, after `kill` or `stop`.
    public func start() throws {
        let process = Process()
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: self.logPath))
        log.seekToEndOfFile()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["nats-server", "-c", self.configPath]
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.lock.withLock { self.process = process }
        guard Loopback.waitUntilListening(port: self.port) else {
            self.stop()
            throw NATSServerError(message: "nats-server did not start on port \(self.port): \(self.log)")
        }
    }

    /// What nats-server logged so far.
    public var log: String {
        (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
    }

    public func stop() {
        let process = self.lock.withLock { self.process }
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    /// Ends nats-server with SIGKILL, as a crash would: no lame duck, no goodbye to its clients.
    public func kill() {
        let process = self.lock.withLock { self.process }
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { self.stop() }
}

public struct NATSServerError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { self.message }
}
