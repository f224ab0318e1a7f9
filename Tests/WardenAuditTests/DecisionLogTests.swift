import Foundation
import Logging
import NIOConcurrencyHelpers
import NATSProtocol
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing
import WardenTestSupport

@testable import WardenAudit

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

    /// A disk that refuses every write (/dev/full: ENOSPC) must not keep Warden from stopping: the
    /// writer retries for `shutdownTimeout`, then gives up, counts what it gave up on, and `run` fails.
    /// Rotation: the file is moved away, `reopen` makes the writer open the path again, and the
    /// records that follow go to a new file. Nothing is lost on the way.
    @Test func reopenAfterTheFileWasMovedAwayWritesTheRecordsThatFollowToANewFile() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.appending("decisions.jsonl")
        let rotated = directory.appending("decisions.jsonl.1")
        let log = try DecisionLog(path: path, logger: Logger(label: "test"))
        for index in 0..<100 { _ = log.submit(Array("{\"n\":\(index)}\n".utf8)) }
        await log.flush()
        try FileManager.default.moveItem(atPath: path, toPath: rotated)
        // Until the writer reopens, records follow the file it has open.
        for index in 100..<200 { _ = log.submit(Array("{\"n\":\(index)}\n".utf8)) }
        log.reopen()
        #expect(await eventually(timeout: .seconds(10)) { log.reopenStatus.count == 1 })
        #expect(log.reopenStatus.error == nil)
        for index in 200..<300 { _ = log.submit(Array("{\"n\":\(index)}\n".utf8)) }
        await log.stop()
        let old = try String(contentsOfFile: rotated, encoding: .utf8).split(separator: "\n")
        let new = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(old.count >= 200 && old.first == "{\"n\":0}")
        #expect(new.last == "{\"n\":299}")
        #expect((old + new).map(String.init) == (0..<300).map { "{\"n\":\($0)}" })
        #expect(try fileMode(path) == 0o640)
    }

    /// A path that cannot be opened again (here a folder took its place) is reported, and the records
    /// keep going to the file the writer has open.
    @Test func aReopenThatFailsIsReportedAndRecordsKeepGoingToTheOpenFile() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.appending("decisions.jsonl")
        let rotated = directory.appending("decisions.jsonl.1")
        let log = try DecisionLog(path: path, logger: Logger(label: "test"))
        _ = log.submit(Array("{\"n\":0}\n".utf8))
        await log.flush()
        try FileManager.default.moveItem(atPath: path, toPath: rotated)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        log.reopen()
        #expect(await eventually(timeout: .seconds(10)) { log.reopenStatus.count == 1 })
        let error = try #require(log.reopenStatus.error)
        #expect(error.contains("cannot open decision log \(path)"))
        _ = log.submit(Array("{\"n\":1}\n".utf8))
        await log.stop()
        #expect(try String(contentsOfFile: rotated, encoding: .utf8) == "{\"n\":0}\n{\"n\":1}\n")
    }

    @Test func stoppingGivesUpOnRecordsTheFileRefusesAfterTheShutdownTimeout() async throws {
        let log = try DecisionLog(path: "/dev/full", shutdownTimeout: .seconds(1), logger: Logger(label: "test"))
        let group = ServiceGroup(services: [log], logger: Logger(label: "test"))
        // Awaited through a box, so that a writer that never gives up fails this test instead of hanging it.
        let outcome = NIOLockedValueBox<(any Error)??>(nil)
        Task {
            do {
                try await group.run()
                outcome.withLockedValue { $0 = .some(nil) }
            } catch {
                outcome.withLockedValue { $0 = .some(error) }
            }
        }
        let record = Array("{\"n\":1}\n".utf8)
        for _ in 0..<3 { _ = log.submit(record) }
        try await Task.sleep(for: .milliseconds(50))  // the writer is now retrying its first batch
        for _ in 0..<2 { _ = log.submit(record) }
        await group.triggerGracefulShutdown()
        #expect(await eventually(timeout: .seconds(15)) { outcome.withLockedValue { $0 != nil } })
        let error = try #require(outcome.withLockedValue { $0 ?? nil } as? AuditError)
        #expect(error.code == .recordsLost)
        #expect(error.description.contains("\(5 * record.count) bytes of records could not be written to /dev/full"))
        #expect(log.lostBytes == 5 * record.count)
        #expect(log.bytesWritten == 0)
    }

    @Test func submitAsksForBackPressureOverTheHighWaterMarkAndResumesOnceDrained() async throws {
        let directory = try TemporaryDirectory()
        let log = try DecisionLog(
            path: directory.appending("d.jsonl"), highWater: 64, lowWater: 32, logger: Logger(label: "test"))
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 10_000) + [UInt8(ascii: "\n")]
        // A batch far over the mark must be reported unless the writer already took it; submit until it is.
        var pressured = false
        for _ in 0..<1000 where !pressured { pressured = !log.submit(big) }
        #expect(pressured)
        let resumed = NIOLockedValueBox(false)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        log.whenDrained(on: loop) { resumed.withLockedValue { $0 = true } }
        await log.flush()
        #expect(await eventually(timeout: .seconds(5), every: .milliseconds(5)) { resumed.withLockedValue { $0 } })
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
            _ = await eventually(timeout: .seconds(10), every: .milliseconds(1)) { log.bytesWritten >= expected }
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
        let log = try DecisionLog(
            path: path, interval: .milliseconds(1), wakeBytes: 4096, logger: Logger(label: "test"))
        let threads = 4
        let bursts = 50
        let perBurst = 40
        await withTaskGroup(of: Void.self) { group in
            for thread in 0..<threads {
                group.addTask {
                    for burst in 0..<bursts {
                        for index in 0..<perBurst {
                            _ = log.submit(Array("{\"t\":\(thread),\"b\":\(burst),\"i\":\(index)}\n".utf8))
                        }
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

    #if os(Linux)
    /// Warden never reads its log back, so the log must not fill the page cache: past a few windows,
    /// only the newest stay cached, and every record is still in the file, in order.
    @Test func onlyTheNewestWindowsOfTheLogStayInThePageCache() async throws {
        let directory = try droppableTemporaryDirectory()
        let path = directory.appending("d.jsonl")
        let window = 128 << 10
        let log = try DecisionLog(path: path, cacheWindow: window, logger: Logger(label: "test"))
        // 200-byte records, in rounds a window long, each written before the next is submitted.
        let filler = String(repeating: "x", count: 180)
        let perRound = window / 200 + 1
        let rounds = 24
        for round in 0..<rounds {
            for index in 0..<perRound {
                _ = log.submit(
                    Array("{\"n\":\(String(format: "%07d", round * perRound + index)),\"f\":\"\(filler)\"}\n".utf8))
            }
            await log.flush()
        }
        await log.stop()

        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(size >= rounds * window)
        let resident = try residentBytes(path)
        #expect(resident <= 4 * window, "\(resident) of \(size) bytes of the log are still cached")
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == rounds * perRound)
        #expect(lines.enumerated().allSatisfy { $0.element.hasPrefix("{\"n\":\(String(format: "%07d", $0.offset)),") })
    }
    #endif

    /// A log that is not a regular file (a FIFO here, like a container's stdout pipe) has no page cache
    /// to manage: records must still arrive, every one of them.
    @Test func aLogThatIsAPipeStillGetsEveryRecord() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.appending("fifo")
        try #require(mkfifo(path, 0o600) == 0)
        // The reader must be open before the log opens the FIFO for writing.
        let reader = open(path, O_RDONLY | O_NONBLOCK)
        try #require(reader >= 0)
        defer { close(reader) }
        let log = try DecisionLog(path: path, cacheWindow: 4096, logger: Logger(label: "test"))
        var received: [UInt8] = []
        let count = 2_000
        var buffer = [UInt8](repeating: 0, count: 65536)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(20)
        var submitted = 0
        while received.filter({ $0 == UInt8(ascii: "\n") }).count < count && clock.now < deadline {
            // A pipe holds 64 KiB: submit in steps and keep reading, so the writer never blocks for long.
            while submitted < count && submitted < received.count / 16 + 500 {
                _ = log.submit(Array("{\"n\":\(String(format: "%06d", submitted))}\n".utf8))
                submitted += 1
            }
            let got = buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
            if got > 0 { received += buffer[0..<got] } else { try await Task.sleep(for: .milliseconds(1)) }
        }
        await log.stop()
        let lines = String(decoding: received, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == count)
        #expect(lines.enumerated().allSatisfy { $0.element == "{\"n\":\(String(format: "%06d", $0.offset))}" })
    }

    @Test func anUnwritablePathIsAClearError() throws {
        let directory = try TemporaryDirectory()
        let file = directory.appending("file")
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(throws: (any Error).self) {
            try DecisionLog(path: file + "/decisions.jsonl", logger: Logger(label: "test"))
        }
    }
}

#if os(Linux)
/// Bytes of the file at `path` that are in the page cache (`mincore` over a mapping of it).
private func residentBytes(_ path: String) throws -> Int {
    let descriptor = open(path, O_RDONLY)
    try #require(descriptor >= 0)
    defer { close(descriptor) }
    var info = stat()
    try #require(fstat(descriptor, &info) == 0)
    let size = Int(info.st_size)
    let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
    let mapping = try #require(mmap(nil, size, PROT_READ, MAP_SHARED, descriptor, 0))
    try #require(mapping != MAP_FAILED)
    defer { munmap(mapping, size) }
    var pages = [UInt8](repeating: 0, count: (size + pageSize - 1) / pageSize)
    try #require(mincore(mapping, size, &pages) == 0)
    return pages.reduce(0) { $0 + Int($1 & 1) } * pageSize
}

/// A temporary folder on a file system whose cached pages can be dropped. tmpfs pages cannot (they
/// are the file), so when a probe file in the system's temporary folder stays cached after
/// `POSIX_FADV_DONTNEED`, the folder goes under the package's `.build` instead.
private func droppableTemporaryDirectory() throws -> TemporaryDirectory {
    let temporary = FileManager.default.temporaryDirectory.path
    let probe = temporary + "/warden-probe-\(UUID().uuidString)"
    defer { unlink(probe) }
    try Data(repeating: 0x78, count: 64 << 10).write(to: URL(fileURLWithPath: probe))
    let descriptor = open(probe, O_RDONLY)
    try #require(descriptor >= 0)
    defer { close(descriptor) }
    fsync(descriptor)
    posix_fadvise(descriptor, 0, 0, POSIX_FADV_DONTNEED)
    let droppable = try residentBytes(probe) == 0
    return try TemporaryDirectory(
        under: droppable ? temporary : FileManager.default.currentDirectoryPath + "/.build/test-tmp")
}
#endif

/// The log read back with its one schema: what `warden denials` and the tests read.
struct DecisionLogEntryTests {
    static func line(_ record: DecisionRecord, at microseconds: Int64 = 1_764_000_000_123_456) -> [UInt8] {
        var bytes: [UInt8] = []
        record.encode(into: &bytes, microseconds: microseconds)
        return Array(bytes.dropLast())
    }

    @Test func whatTheEncoderWritesReadsBack() throws {
        let record = DecisionRecord(
            decision: .deny, op: .pub, service: "orders", conn: 7, peer: "127.0.0.1:9", mode: .audit,
            rule: "default deny",
            subject: "a.b", reply: "_INBOX.orders.1", size: 3, reason: "why")
        let entry = try DecisionLogEntry(line: Self.line(record))
        #expect(entry.decision == .deny && entry.op == .pub && entry.service == "orders" && entry.conn == 7)
        #expect(entry.peer == "127.0.0.1:9" && entry.mode == .audit && entry.rule == "default deny")
        #expect(entry.subject == "a.b" && entry.reply == "_INBOX.orders.1" && entry.size == 3 && entry.reason == "why")
        #expect(entry.ts == "2025-11-24T16:00:00.123456Z")
        let unidentified = DecisionRecord(
            decision: .deny, op: .connect, service: nil, conn: 1, peer: "p", mode: .enforce, rule: "mtls")
        #expect(try DecisionLogEntry(line: Self.line(unidentified)).service == nil)
    }

    /// A subject is bytes, and a log that turned every byte it cannot read into U+FFFD would record
    /// `orders.\xff` and `orders.\xfe` alike. Bytes that are not UTF-8 are written escaped, and the
    /// record says so: no two subjects read the same.
    @Test func subjectsThatAreNotUTF8AreRecordedSoThatNoTwoReadTheSame() throws {
        func record(_ subject: [UInt8]) -> DecisionRecord {
            DecisionRecord(
                decision: .deny, op: .pub, service: "orders", conn: 1, peer: "p", mode: .enforce, rule: "r",
                subject: WireString(ByteBuffer(bytes: subject)), reply: WireString(ByteBuffer(bytes: [0x5f, 0xc3])),
                sid: WireString(ByteBuffer(bytes: [0x31, 0x80])))
        }
        let prefix = Array("orders.".utf8)
        let subjects: [[UInt8]] = [
            prefix + [0xff, 0xfe], prefix + [0xfe, 0xff], prefix + [0xff], prefix + Array("\u{FFFD}\u{FFFD}".utf8),
            prefix + Array("\\xff\\xfe".utf8), prefix + Array("\\".utf8) + [0xff], prefix + Array("é".utf8),
            prefix + [0xc3], prefix + [0xc3, 0x22], prefix + Array("\"".utf8),
        ]
        let lines = subjects.map { Self.line(record($0)) }
        #expect(Set(lines).count == subjects.count)
        let entries = try lines.map { try DecisionLogEntry(line: $0) }
        #expect(entries[0].subject == #"orders.\xff\xfe"# && entries[0].subjectEscaped)
        #expect(entries[3].subject == "orders.\u{FFFD}\u{FFFD}" && !entries[3].subjectEscaped)
        #expect(entries[4].subject == #"orders.\xff\xfe"# && !entries[4].subjectEscaped)
        #expect(entries[5].subject == #"orders.\\\xff"# && entries[5].subjectEscaped)
        #expect(entries[6].subject == "orders.é" && !entries[6].subjectEscaped)
        #expect(entries[8].subject == #"orders.\xc3""# && entries[8].subjectEscaped)
        #expect(entries.allSatisfy { $0.reply == #"_\xc3"# && $0.replyEscaped && $0.sid == #"1\x80"# && $0.sidEscaped })
    }

    @Test func allowRecordsAreToldWithoutDecoding() {
        let allow = DecisionRecord(
            decision: .allow, op: .pub, service: "s", conn: 1, peer: "p", mode: .enforce, rule: "r", subject: "x")
        let deny = DecisionRecord(
            decision: .deny, op: .pub, service: "s", conn: 1, peer: "p", mode: .enforce, rule: "r", subject: "x")
        #expect(Self.line(allow).withUnsafeBytes(DecisionLogEntry.isAllow))
        #expect(!Self.line(deny).withUnsafeBytes(DecisionLogEntry.isAllow))
        // A subject that spells the field does not make a deny an allow.
        let tricky = DecisionRecord(
            decision: .deny, op: .pub, service: "s", conn: 1, peer: "p", mode: .enforce, rule: "r",
            subject: #"","decision":"allow","#)
        #expect(!Self.line(tricky).withUnsafeBytes(DecisionLogEntry.isAllow))
    }

    @Test func aLineWithoutAServiceFieldIsNoDecisionRecord() {
        let line =
            #"{"ts":"2026-01-01T00:00:00.000000Z","decision":"deny","op":"pub","conn":1,"peer":"p","mode":"enforce","rule":"r"}"#
        #expect(throws: DecodingError.self) { try DecisionLogEntry(line: Array(line.utf8)) }
    }
}

/// `flush` is answered by the writer, not polled.
struct DecisionLogFlushTests {
    @Test func aFlushReturnsOnceWrittenAndAtOnceWhenNothingIsQueued() async throws {
        let folder = try TemporaryDirectory()
        let log = try DecisionLog(path: folder.appending("d.jsonl"), logger: Logger(label: "test"))
        await log.flush()
        var submitted = 0
        for index in 0..<100 {
            let line = Array("{\"n\":\(index)}\n".utf8)
            submitted += line.count
            _ = log.submit(line)
        }
        await log.flush()
        #expect(log.bytesWritten == submitted)
        #expect(log.backlog == 0)
        await log.stop()
    }

    @Test func aFlushWaitingOnRecordsTheFileRefusesReturnsWhenTheWriterGivesUp() async throws {
        let log = try DecisionLog(path: "/dev/full", shutdownTimeout: .seconds(1), logger: Logger(label: "test"))
        _ = log.submit(Array("{}\n".utf8))
        let flushed = NIOLockedValueBox(false)
        Task {
            await log.flush()
            flushed.withLockedValue { $0 = true }
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(!flushed.withLockedValue { $0 })
        await log.stop()
        #expect(await eventually(timeout: .seconds(10)) { flushed.withLockedValue { $0 } })
        #expect(log.lostBytes == 3)
    }
}
