import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOConcurrencyHelpers
import Testing
import WardenTestSupport
@testable import WardenProxy

/// The log writer: nothing lost, back-pressure past the high-water mark, everything on disk at stop.
struct DecisionLogTests {
    @Test func everySubmittedRecordReachesTheFileInOrder() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.appending("nested/decisions.jsonl")
        let log = try DecisionLog(path: path, logger: Logger(label: "test"))
        for index in 0..<10_000 { _ = log.submit(Array("{\"n\":\(index)}\n".utf8)) }
        await log.stop()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 10_000)
        #expect(lines.first == "{\"n\":0}" && lines.last == "{\"n\":9999}")
        #expect(try fileMode(path) == 0o640)
    }

    @Test func submitAsksForBackPressureOverTheHighWaterMarkAndResumesOnceDrained() async throws {
        let directory = try TemporaryDirectory()
        let log = try DecisionLog(path: directory.appending("d.jsonl"), highWater: 64, lowWater: 32, logger: Logger(label: "test"))
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 10_000) + [UInt8(ascii: "\n")]
        // A batch far over the mark must be reported unless the writer already took it; submit until it is.
        var pressured = false
        for _ in 0..<1000 where !pressured { pressured = !log.submit(big) }
        #expect(pressured)
        let resumed = NIOLockedValueBox(false)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        log.whenDrained(on: loop) { resumed.withLockedValue { $0 = true } }
        await log.flush()
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        while !resumed.withLockedValue({ $0 }) && clock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(resumed.withLockedValue { $0 })
        await log.stop()
    }

    /// The writer goes to sleep when a round finds nothing; a record submitted then must wake it, not
    /// wait for the next one. Each record here follows a pause long enough for the writer to be idle.
    @Test func aLoneRecordIsWrittenWithoutAnotherSubmitToPushIt() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.appending("d.jsonl")
        let log = try DecisionLog(path: path, interval: .milliseconds(1), logger: Logger(label: "test"))
        for index in 0..<5 {
            try await Task.sleep(for: .milliseconds(20))
            _ = log.submit(Array("{\"n\":\(index)}\n".utf8))
            let expected = (index + 1) * 8
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(10)
            while log.bytesWritten < expected && clock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
            #expect(log.bytesWritten == expected, "record \(index) was not written on its own")
        }
        await log.stop()
        #expect(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count == 5)
    }

    /// Several threads submitting in bursts with pauses between, so that the writer keeps moving
    /// between sleeping, gathering for an interval and being woken by a large backlog.
    @Test func burstsFromSeveralThreadsAreAllWritten() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.appending("d.jsonl")
        let log = try DecisionLog(path: path, interval: .milliseconds(1), wakeBytes: 4096, logger: Logger(label: "test"))
        let threads = 4, bursts = 50, perBurst = 40
        await withTaskGroup(of: Void.self) { group in
            for thread in 0..<threads {
                group.addTask {
                    for burst in 0..<bursts {
                        for index in 0..<perBurst { _ = log.submit(Array("{\"t\":\(thread),\"b\":\(burst),\"i\":\(index)}\n".utf8)) }
                        if burst % 3 == 0 { try? await Task.sleep(for: .milliseconds(Int.random(in: 0...3))) }
                    }
                }
            }
        }
        await log.flush()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == threads * bursts * perBurst)
        #expect(Set(lines).count == lines.count)
        await log.stop()
    }

    @Test func anUnwritablePathIsAClearError() throws {
        let directory = try TemporaryDirectory()
        let file = directory.appending("file")
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) { try DecisionLog(path: file + "/decisions.jsonl", logger: Logger(label: "test")) }
    }
}
