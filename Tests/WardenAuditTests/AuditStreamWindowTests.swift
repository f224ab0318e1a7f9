import Foundation
import Testing
import WardenAudit
import WardenTestSupport

/// The cursor of the audit stream into the decision log: it moves only past records the stream
/// acknowledged, in log order, and anything refused or overdue is sent again from it.
@Suite struct AuditStreamWindowTests {
    @Test func theCursorMovesOnlyPastAContiguousAcknowledgedPrefix() {
        var window = AuditStreamWindow(committed: 0)
        let first = window.sent(end: 100, now: 0)
        #expect(window.skipped(end: 150) == .none)  // an allow record behind one in flight waits for it
        let second = window.sent(end: 200, now: 0)
        let third = window.sent(end: 300, now: 0)
        #expect(window.acknowledged(second) == .none)
        #expect(window.committed == 0)
        #expect(window.acknowledged(first) == .commit(offset: 200))
        #expect(window.acknowledged(third) == .commit(offset: 300))
        #expect(window.inFlight == 0)
        #expect(window.skipped(end: 350) == .commit(offset: 350))
        #expect(window.acknowledged(third) == .none)  // a late duplicate acknowledgement changes nothing
    }

    @Test func aRefusalOrAnOverdueAcknowledgementSendsEverythingAgainFromTheCursor() {
        var window = AuditStreamWindow(committed: 10, timeout: 1000)
        let first = window.sent(end: 100, now: 0)
        let second = window.sent(end: 200, now: 0)
        #expect(window.acknowledged(first) == .commit(offset: 100))
        #expect(window.refused(second) == .resend(from: 100))
        #expect(window.inFlight == 0)
        // Acknowledgements of what was in flight before the resend are ignored.
        #expect(window.acknowledged(second) == .none)
        _ = window.sent(end: 200, now: 5000)
        #expect(window.tick(now: 5500) == .none)
        #expect(window.tick(now: 6001) == .resend(from: 100))
    }

    /// After NATS comes back, what it acknowledged just before is sent again: a crashed nats-server may
    /// have lost it; the stream stores the rest once more only as duplicates, which it drops.
    @Test func aRewindGoesBackBeforeTheCursorButNeverForward() {
        var window = AuditStreamWindow(committed: 0)
        let token = window.sent(end: 500, now: 0)
        #expect(window.acknowledged(token) == .commit(offset: 500))
        _ = window.sent(end: 600, now: 0)
        #expect(window.rewind(to: 200) == .resend(from: 200))
        #expect(window.committed == 200 && window.inFlight == 0)
        #expect(window.rewind(to: 900) == .resend(from: 200))
    }

    @Test func theWindowFillsUpToItsCapacity() {
        var window = AuditStreamWindow(committed: 0, capacity: 2)
        _ = window.sent(end: 1, now: 0)
        #expect(!window.isFull)
        _ = window.sent(end: 2, now: 0)
        #expect(window.isFull)
    }

    @Test func onlyAnAcknowledgementOfTheStreamCountsAsStored() {
        for (answer, stored) in [
            (#"{"stream":"WARDEN_AUDIT","seq":7}"#, true),
            (#"{"stream":"WARDEN_AUDIT", "seq":7,"duplicate": true}"#, true),
            (#"{"stream":"OTHER","seq":7}"#, false),
            (#"{"error":{"code":503,"description":"no suitable peers"},"stream":"WARDEN_AUDIT","seq":0}"#, false),
            ("", false),  // no responders: no stream takes the subject
        ] {
            #expect(AuditStreamFormat.isStored(acknowledgement: Array(answer.utf8)) == stored, "\(answer)")
        }
    }

    @Test func aStreamRecordIsTheLogLineWithItsInstanceFirst() {
        let line = #"{"ts":"2026-12-03T10:00:00.000000Z","decision":"deny"}"#
        let message = Array(line.utf8).withUnsafeBytes { AuditStreamFormat.message(line: $0, instance: "a\"b") }
        #expect(
            String(decoding: message, as: UTF8.self)
                == #"{"instance":"a\"b","ts":"2026-12-03T10:00:00.000000Z","decision":"deny"}"#)
        #expect(
            AuditStreamFormat.subject(instance: "host.example.com:4443") == "warden.audit.record.host_example_com:4443")
    }

    @Test func logLinesSayWhereEachLineEndsAndGoOnFromThere() throws {
        let directory = try TemporaryDirectory()
        let path = directory.appending("log.jsonl")
        try "one\ntwo\nthree\npart".write(toFile: path, atomically: true, encoding: .utf8)
        let lines = try #require(LogLines(path: path))
        var seen: [(String, Int)] = []
        let given = lines.read(upTo: 2) { line, end in
            seen.append((String(decoding: line, as: UTF8.self), end))
            return true
        }
        #expect(given == 2)
        lines.read { line, end in seen.append((String(decoding: line, as: UTF8.self), end)) }
        #expect(seen.map(\.0) == ["one", "two", "three"])
        #expect(seen.map(\.1) == [4, 8, 14])
        // From an offset, as after a restart at the cursor; the partial last line is not given.
        let resumed = try #require(LogLines(path: path, from: 8))
        var rest: [String] = []
        resumed.read { line in rest.append(String(decoding: line, as: UTF8.self)) }
        #expect(rest == ["three"])
    }
}
