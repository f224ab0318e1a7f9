import ArgumentParser
import Foundation

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
        var offset: UInt64 = 0
        if let handle = FileHandle(forReadingAtPath: self.decisionLog) {
            let data = handle.readDataToEndOfFile()
            try? handle.close()
            // Only whole lines: a record being written right now is read by --follow.
            let end = data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? data.startIndex
            offset = UInt64(end - data.startIndex)
            for line in data[data.startIndex..<end].split(separator: UInt8(ascii: "\n")) { summary.add(line: line) }
        } else if !self.follow {
            printError("error: cannot read the decision log \(self.decisionLog): does it exist? (see `warden serve --decision-log`)")
            throw ExitCode(1)
        }
        print(summary.render(path: self.decisionLog))
        if summary.malformed > 0 { printError("warning: skipped \(summary.malformed) line(s) that are not decision records") }
        guard self.follow else { return }
        print("following \(self.decisionLog) (Ctrl-C to stop)")
        fflush(nil)
        self.followLog(from: offset)
    }

    private func followLog(from start: UInt64) {
        var offset = start
        var partial = Data()
        while true {
            if let handle = FileHandle(forReadingAtPath: self.decisionLog) {
                let size = (try? handle.seekToEnd()) ?? 0
                if size < offset {
                    // Rotated or truncated: start again from the beginning.
                    offset = 0
                    partial.removeAll()
                }
                if size > offset {
                    try? handle.seek(toOffset: offset)
                    let data = handle.readData(ofLength: Int(size - offset))
                    offset += UInt64(data.count)
                    partial.append(data)
                    while let newline = partial.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = partial[partial.startIndex..<newline]
                        if let record = DecisionLine(line), record.decision == "deny" {
                            print(record.followLine)
                        }
                        partial.removeSubrange(partial.startIndex...newline)
                    }
                    fflush(nil)
                }
                try? handle.close()
            }
            usleep(200_000)
        }
    }
}

/// The fields of a decision record that `denials` shows.
struct DecisionLine {
    var ts: String
    var decision: String
    var op: String
    var service: String?
    var subject: String?
    var queue: String?
    var reason: String?
    var rule: String
    var mode: String

    init?(_ line: some DataProtocol) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
            let decision = object["decision"] as? String, let op = object["op"] as? String
        else { return nil }
        self.ts = object["ts"] as? String ?? ""
        self.decision = decision
        self.op = op
        self.service = object["service"] as? String
        self.subject = object["subject"] as? String
        self.queue = object["queue"] as? String
        self.reason = object["reason"] as? String
        self.rule = object["rule"] as? String ?? ""
        self.mode = object["mode"] as? String ?? ""
    }

    /// What was denied: the subject (with its queue), or for a refused connection the reason.
    var target: String {
        if let subject { return self.queue.map { "\(subject) (queue \($0))" } ?? subject }
        return self.reason ?? "-"
    }

    var followLine: String {
        let audit = self.mode == "audit" ? " [audit: let through]" : ""
        // Why, when the record says more than the rule: a subscription removed at an ACL reload.
        let why = self.subject != nil ? self.reason.map { " [\($0)]" } ?? "" : ""
        return "\(self.ts)  \(self.service ?? "(unidentified)")  \(self.op)  \(self.target)  \(self.rule)\(why)\(audit)"
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
    private(set) var malformed = 0

    mutating func add(line: some DataProtocol) {
        guard !line.isEmpty else { return }
        guard let record = DecisionLine(line) else {
            self.malformed += 1
            return
        }
        self.decisions += 1
        guard record.decision == "deny" else { return }
        let key = Key(service: record.service ?? "(unidentified)", op: record.op, target: record.target)
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
