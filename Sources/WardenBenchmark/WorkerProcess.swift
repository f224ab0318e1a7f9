import Foundation
import Histogram
import NATSClient

/// A `LoadWorker` process, asked for its counts over its standard input and output.
final class WorkerProcess {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffered = Data()

    init(_ executable: String, _ arguments: [String]) throws {
        self.process.executableURL = URL(fileURLWithPath: executable)
        self.process.arguments = arguments
        self.process.standardInput = self.input
        self.process.standardOutput = self.output
        try self.process.run()
    }

    func status() throws -> LoadClient.Counts {
        guard self.process.isRunning else {
            throw BenchmarkError("a load worker exited with status \(self.process.terminationStatus)")
        }
        self.input.fileHandleForWriting.write(Data("status\n".utf8))
        while !self.buffered.contains(UInt8(ascii: "\n")) {
            let chunk = self.output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw BenchmarkError("a load worker closed its output") }
            self.buffered += chunk
        }
        let end = self.buffered.firstIndex(of: UInt8(ascii: "\n"))!
        let fields = String(decoding: self.buffered[..<end], as: UTF8.self).split(separator: " ").compactMap {
            Int($0)
        }
        self.buffered.removeSubrange(...end)
        guard fields.count == 4 else { throw BenchmarkError("a load worker's status is unreadable") }
        return LoadClient.Counts(subscribed: fields[0], reconnected: fields[1], delivered: fields[2], errors: fields[3])
    }

    /// Asks it to close its clients and exit; kills it if it has not within 10 s.
    func quit() {
        guard self.process.isRunning else { return }
        self.input.fileHandleForWriting.write(Data("quit\n".utf8))
        let deadline = Date().addingTimeInterval(10)
        while self.process.isRunning && Date() < deadline { usleep(50_000) }
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
    }
}

/// Request/reply in a loop on a thread of its own while something else happens: latencies of the
/// answered requests, and how many went unanswered within a second.
final class StormRequests: @unchecked Sendable {
    private let requester: NATSClient
    private let lock = NSLock()
    private var latencies = Histogram<UInt64>(
        highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    private var failed = 0
    private let stopping = Counter()
    private let finished = DispatchSemaphore(value: 0)

    init(_ requester: NATSClient) { self.requester = requester }

    func start() {
        Thread {
            while self.stopping.value == 0 {
                let start = ContinuousClock.now
                let answered = (try? self.requester.request("bench.rpc", "ping", timeoutMilliseconds: 1000)) != nil
                let nanoseconds = UInt64(ProxyBenchmark.seconds(ContinuousClock.now - start) * 1e9)
                self.lock.withLock {
                    if answered { _ = self.latencies.record(nanoseconds) } else { self.failed += 1 }
                }
                if !answered { usleep(10_000) }
            }
            self.finished.signal()
        }.start()
    }

    func stop() -> (Histogram<UInt64>, Int) {
        self.stopping.add(1)
        self.finished.wait()
        return self.lock.withLock { (self.latencies, self.failed) }
    }
}
