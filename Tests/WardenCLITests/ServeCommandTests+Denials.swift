import Foundation
import NIOConcurrencyHelpers
import NATSClient
import Testing
import WardenPKI
import WardenTestSupport

@testable import WardenAudit

/// `warden denials` over the log `warden serve` writes.
extension ServeCommandTests {
    @Test func denialsSummarisesByServiceOpAndSubjectAndFollowsNewDenials() async throws {
        let directory = try TemporaryDirectory()
        func line(_ decision: String, _ service: String?, _ op: String, _ subject: String?, reason: String? = nil)
            -> String
        {
            Self.line(decision, service, op, subject, reason: reason)
        }
        let path = directory.appending("d.jsonl")
        let initial =
            line("deny", "orders", "pub", "billing.x") + line("allow", "orders", "pub", "orders.a")
            + line("deny", "orders", "pub", "billing.x") + line("deny", "payments", "sub", "orders.>")
            + line("deny", nil, "connect", nil, reason: "no client certificate") + "not json\n"
        try initial.write(toFile: path, atomically: true, encoding: .utf8)

        let summary = try warden(["denials", "--decision-log", path])
        #expect(summary.status == 0)
        let rows = summary.stdout.split(separator: "\n")
        #expect(rows.first == "4 denied of 5 decisions in \(path)")
        #expect(rows.count == 5)
        #expect(rows[2].hasPrefix("2      orders          pub      billing.x"))
        #expect(summary.stdout.contains("(unidentified)  connect  no client certificate"))
        #expect(summary.stderr.contains("skipped 1 line"))

        let missing = try warden(["denials", "--decision-log", directory.appending("none.jsonl")])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("cannot read the decision log"))

        let (follower, stdout, _) = try Self.start(["denials", "--decision-log", path, "--follow"], in: directory)
        defer { if follower.isRunning { follower.terminate() } }
        _ = await eventually(timeout: .seconds(5), every: .milliseconds(20)) { Self.read(stdout).contains("following") }
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data(line("allow", "orders", "pub", "orders.b").utf8))
        handle.write(Data(line("deny", "payments", "sub", "orders.>", reason: "acl reload").utf8))
        handle.write(Data(line("deny", "inventory", "pub", "live.subject").utf8))
        try handle.close()
        _ = await eventually(timeout: .seconds(5), every: .milliseconds(20)) {
            Self.read(stdout).contains("live.subject")
        }
        let followed = Self.read(stdout)
        #expect(followed.contains("inventory  pub  live.subject  default deny\n"))
        #expect(followed.contains("payments  sub  orders.>  default deny [acl reload]\n"))
        #expect(!followed.contains("orders.b"))
        follower.terminate()
    }

    @Test func denialsReadsALogManyTimesItsReadChunkWithLinesAcrossChunks() throws {
        let directory = try TemporaryDirectory()
        let path = directory.appending("d.jsonl")
        var text = ""
        for index in 0..<30_000 {
            text += Self.line("allow", "orders", "pub", "orders.created.\(index)")
            if index % 30 == 0 { text += Self.line("deny", "orders", "pub", "billing.\(index % 4)") }
        }
        // A denial whose subject holds the allow field's text, escaped: it is still a denial.
        text += Self.line("deny", "payments", "pub", #"x"decision":"allow""#)
        // Not a decision record, and longer than any: skipped without being held whole.
        text += String(repeating: "x", count: 3 << 20) + "\n"
        text += Self.line("deny", "payments", "pub", "after.the.long.line")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(text.utf8.count > 4 << 20)
        let summary = try warden(["denials", "--decision-log", path])
        #expect(summary.status == 0)
        #expect(summary.stdout.hasPrefix("1002 denied of 31002 decisions in \(path)\n"), "\(summary.stdout)")
        #expect(summary.stdout.contains("after.the.long.line"))
        #expect(summary.stdout.contains(/\n500\s+orders\s+pub\s+billing\.0\s/))
        #expect(summary.stdout.contains(/\n500\s+orders\s+pub\s+billing\.2\s/))
        #expect(summary.stdout.contains(#"x"decision":"allow""#))
        #expect(summary.stderr.contains("skipped 1 line(s) that are not decision records"))
    }

    @Test func denialsFollowsTheLogAcrossRotationByMoveAndByTruncation() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.appending("d.jsonl")
        try Self.line("deny", "orders", "pub", "old.one").write(toFile: path, atomically: true, encoding: .utf8)
        let (follower, stdout, _) = try Self.start(["denials", "--decision-log", path, "--follow"], in: directory)
        defer { if follower.isRunning { follower.terminate() } }
        #expect(
            await eventually(timeout: .seconds(5), every: .milliseconds(20)) { Self.read(stdout).contains("following") }
        )
        func append(_ text: String, to file: String) throws {
            let handle = try #require(FileHandle(forWritingAtPath: file))
            handle.seekToEndOfFile()
            handle.write(Data(text.utf8))
            try handle.close()
        }
        try append(Self.line("deny", "orders", "pub", "before.move"), to: path)
        #expect(
            await eventually(timeout: .seconds(5), every: .milliseconds(20)) {
                Self.read(stdout).contains("before.move")
            })
        // Moved away; Warden writes a little more to it before it reopens the path (SIGUSR1).
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try append(Self.line("deny", "orders", "pub", "late.in.old"), to: path + ".1")
        try Self.line("deny", "orders", "pub", "first.in.new").write(toFile: path, atomically: false, encoding: .utf8)
        #expect(
            await eventually(timeout: .seconds(5), every: .milliseconds(20)) {
                Self.read(stdout).contains("first.in.new")
            })
        // Copied and truncated in place.
        try append(Self.line("deny", "orders", "pub", "second.in.new"), to: path)
        #expect(
            await eventually(timeout: .seconds(5), every: .milliseconds(20)) {
                Self.read(stdout).contains("second.in.new")
            })
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: 0)
        try handle.close()
        try await Task.sleep(for: .milliseconds(300))
        try append(Self.line("deny", "orders", "pub", "after.truncation"), to: path)
        #expect(
            await eventually(timeout: .seconds(5), every: .milliseconds(20)) {
                Self.read(stdout).contains("after.truncation")
            })
        let followed = Self.read(stdout).split(separator: "\n").drop { !$0.hasPrefix("following") }.dropFirst()
        let subjects = followed.compactMap { line in line.split(separator: "  ").dropFirst(3).first.map(String.init) }
        #expect(subjects == ["before.move", "late.in.old", "first.in.new", "second.in.new", "after.truncation"])
        follower.terminate()
    }
}
