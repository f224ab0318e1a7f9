import Foundation

/// A real nats-server, started from PATH with a given configuration on a loopback port and stopped
/// when released. Tests never mock NATS.
public final class NATSServerProcess: @unchecked Sendable {
    public let port: Int
    public let logPath: String
    private let process = Process()

    /// Starts `nats-server -c CONFIG` and waits until it listens on `port`.
    public init(config: String, port: Int, directory: TemporaryDirectory) throws {
        self.port = port
        let configPath = directory.appending("nats-\(port).conf")
        self.logPath = directory.appending("nats-\(port).log")
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: self.logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: self.logPath))
        self.process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        self.process.arguments = ["nats-server", "-c", configPath]
        self.process.standardOutput = log
        self.process.standardError = log
        try self.process.run()
        guard Loopback.waitUntilListening(port: port) else {
            self.stop()
            throw NATSServerError(message: "nats-server did not start on port \(port): \(self.log)")
        }
    }

    /// What nats-server logged so far.
    public var log: String {
        (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
    }

    public func stop() {
        guard self.process.isRunning else { return }
        self.process.terminate()
        self.process.waitUntilExit()
    }

    deinit { self.stop() }
}

public struct NATSServerError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { self.message }
}
