import ArgumentParser
import Foundation
import WardenAudit

struct DenialsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "denials",
        abstract: "Summarise denied operations from the decision log, most frequent first.",
        discussion: "With --follow, then prints each new denial as it is logged, until interrupted."
    )

    @Option(name: .customLong("decision-log"), help: "The decision log written by `warden serve`.")
    var decisionLog: String = "logs/decisions.jsonl"
    @Flag(help: "Keep watching the log and print each new denial.") var follow = false

    func run() throws {
        var summary = DenialSummary()
        var lines = LogLines(path: self.decisionLog)
        if let lines {
            // Read in chunks, never the whole log at once: a production log runs to gigabytes.
            lines.read { summary.add(line: $0) }
            summary.malformed += lines.overlong
        } else if !self.follow {
            printError(
                "error: cannot read the decision log \(self.decisionLog): does it exist? (see `warden serve --decision-log`)"
            )
            throw ExitCode(1)
        }
        print(summary.render(path: self.decisionLog))
        if summary.malformed > 0 {
            printError("warning: skipped \(summary.malformed) line(s) that are not decision records")
        }
        guard self.follow else { return }
        print("following \(self.decisionLog) (Ctrl-C to stop)")
        fflush(nil)
        // A record being written right now is a partial line: it is printed once whole.
        while true {
            if lines == nil { lines = LogLines(path: self.decisionLog) }
            if let open = lines {
                open.read(Self.printDenial)
                switch open.change(path: self.decisionLog) {
                case .none:
                    break
                case .truncated:
                    open.rewind()
                case .replaced:
                    // Rotated: the old file's last records first, then the new file from its start.
                    open.read(Self.printDenial)
                    lines = LogLines(path: self.decisionLog)
                    continue
                }
                fflush(nil)
            }
            usleep(200_000)
        }
    }

    private static func printDenial(_ line: UnsafeRawBufferPointer) {
        guard !DecisionLogEntry.isAllow(line), let record = try? DecisionLogEntry(line: line), record.decision == .deny
        else {
            return
        }
        print(record.followLine)
    }
}

/// A decision log's whole lines, read in chunks: from the start, then whatever was appended since.
///
/// A class: it owns an open file, closed when the last reference goes, and a 1 MiB read buffer that
/// a copy of a struct would duplicate at its next read.
final class LogLines {
    enum Change {
        case none
        /// The file is shorter than what was read of it (a copy-and-truncate rotation).
        case truncated
        /// The path names another file now (the log was moved away, and Warden writes a new one).
        case replaced
    }

    /// Longer lines are no decision records (those are a few KiB at most): skipped, and counted.
    static let maxLine = 1 << 20

    private let descriptor: Int32
    private var chunk = [UInt8](repeating: 0, count: 1 << 20)
    /// Bytes read after the last whole line.
    private var partial: [UInt8] = []
    /// Whether the bytes up to the next newline are skipped, as part of a line over `maxLine`.
    private var skipping = false
    /// Lines skipped for being over `maxLine`.
    private(set) var overlong = 0
    /// Bytes read from the file so far.
    private var offset = 0

    /// nil when the file cannot be opened.
    init?(path: String) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        self.descriptor = descriptor
    }

    /// Reads to the end of the file as it is now, calling `body` with each whole line (without its
    /// newline) as it goes.
    func read(_ body: (UnsafeRawBufferPointer) -> Void) {
        while true {
            let count = self.chunk.withUnsafeMutableBytes { Glibc.read(self.descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            self.offset += count
            self.partial.append(contentsOf: self.chunk[0..<count])
            let consumed = self.partial.withUnsafeBytes { bytes -> Int in
                var start = 0
                while start < bytes.count, let newline = memchr(bytes.baseAddress! + start, 0x0A, bytes.count - start) {
                    let end = bytes.baseAddress!.distance(to: UnsafeRawPointer(newline))
                    if self.skipping {
                        self.skipping = false
                    } else {
                        body(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
                    }
                    start = end + 1
                }
                return start
            }
            self.partial.removeFirst(consumed)
            if self.partial.count > Self.maxLine || (self.skipping && !self.partial.isEmpty) {
                if !self.skipping { self.overlong += 1 }
                self.skipping = true
                self.partial.removeAll(keepingCapacity: true)
            }
        }
    }

    /// What happened to the file at `path` since it was opened.
    func change(path: String) -> Change {
        var open = stat()
        var named = stat()
        guard fstat(self.descriptor, &open) == 0 else { return .none }
        if stat(path, &named) == 0 && (named.st_ino != open.st_ino || named.st_dev != open.st_dev) { return .replaced }
        return Int(open.st_size) < self.offset ? .truncated : .none
    }

    /// Starts again from the beginning of the file.
    func rewind() {
        lseek(self.descriptor, 0, SEEK_SET)
        self.offset = 0
        self.partial.removeAll()
        self.skipping = false
    }

    deinit {
        close(self.descriptor)
    }
}

extension DecisionLogEntry {
    /// How `--follow` prints a denial.
    var followLine: String {
        let audit = self.mode == .audit ? " [audit: let through]" : ""
        // Why, when the record says more than the rule: a subscription removed at an ACL reload.
        let why = self.subject != nil ? self.reason.map { " [\($0)]" } ?? "" : ""
        return
            "\(self.ts)  \(self.service ?? "(unidentified)")  \(self.op.rawValue)  \(self.target)  \(self.rule)\(why)\(audit)"
    }
}

/// Denied operations counted by service, op and subject.
struct DenialSummary {
    struct Key: Hashable {
        var service: String
        var op: String
        var target: String
    }

    private(set) var counts: [Key: (count: Int, last: String, rule: String)] = [:]
    private(set) var decisions = 0
    var malformed = 0

    mutating func add(line: UnsafeRawBufferPointer) {
        guard !line.isEmpty else { return }
        if DecisionLogEntry.isAllow(line) {
            self.decisions += 1
            return
        }
        guard let record = try? DecisionLogEntry(line: line) else {
            self.malformed += 1
            return
        }
        self.decisions += 1
        guard record.decision == .deny else { return }
        let key = Key(service: record.service ?? "(unidentified)", op: record.op.rawValue, target: record.target)
        var entry = self.counts[key] ?? (0, "", record.rule)
        entry.count += 1
        entry.last = max(entry.last, record.ts)
        entry.rule = record.rule
        self.counts[key] = entry
    }

    func render(path: String) -> String {
        let denied = self.counts.values.reduce(0) { $0 + $1.count }
        guard denied > 0 else { return "no denied operations in \(path) (\(self.decisions) decisions)" }
        let rows = self.counts.sorted {
            if $0.value.count != $1.value.count { return $0.value.count > $1.value.count }
            return ($0.key.service, $0.key.op, $0.key.target) < ($1.key.service, $1.key.op, $1.key.target)
        }
        var table = [["COUNT", "SERVICE", "OP", "SUBJECT / REASON", "LAST", "RULE"]]
        for (key, value) in rows {
            table.append(["\(value.count)", key.service, key.op, key.target, value.last, value.rule])
        }
        let widths = (0..<5).map { column in table.map { $0[column].count }.max() ?? 0 }
        var lines = ["\(denied) denied of \(self.decisions) decisions in \(path)"]
        for row in table {
            let padded = (0..<5).map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
            lines.append((padded + [row[5]]).joined(separator: "  "))
        }
        return lines.joined(separator: "\n")
    }
}
