import ArgumentParser
import Foundation
import NATSClient
import WardenAudit

struct DenialsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "denials",
        abstract: "Summarise denied operations from the decision log, most frequent first.",
        discussion: """
            With --follow, then prints each new denial as it is logged, until interrupted. With --nats, \
            summarises the stream WARDEN_AUDIT instead (every Warden run with --audit-stream): one summary \
            across the fleet, read with Warden's identity from the certs folder.
            """
    )

    @Option(name: .customLong("decision-log"), help: "The decision log written by `warden serve`.")
    var decisionLog: String = "logs/decisions.jsonl"
    @Flag(help: "Keep watching the log and print each new denial.") var follow = false
    @OptionGroup var certs: CertsOptions
    @OptionGroup var nats: NATSOptions

    func validate() throws {
        if self.nats.nats != nil, self.follow {
            throw ValidationError("--follow reads the decision log; it does not go with --nats")
        }
    }

    func run() throws {
        if let connection = self.nats.connection(certs: self.certs) {
            try Self.summariseStream(connection)
            return
        }
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

    /// The summary of the stream `WARDEN_AUDIT`, across every Warden that ships to it.
    private static func summariseStream(_ connection: WardenConnection) throws {
        let options = connection.oneShotOptions(name: "warden-denials")
        var summary = DenialSummary()
        var instances: Set<String> = []
        do {
            let client = try NATSClient(options)
            defer { client.close() }
            try AuditStreamReader.read(client) { record in
                record.withUnsafeBytes { summary.add(line: $0) }
                if let object = try? JSONSerialization.jsonObject(with: Data(record)) as? [String: Any],
                    let instance = object["instance"] as? String
                {
                    instances.insert(instance)
                }
            }
        } catch {
            printError("error: cannot read the stream \(AuditStreamFormat.stream): \(error)")
            printError("hint: check --nats, and that a Warden runs with --audit-stream")
            throw ExitCode(1)
        }
        print(summary.render(path: "the stream \(AuditStreamFormat.stream)"))
        if !instances.isEmpty {
            print("from \(instances.count) Warden(s): \(instances.sorted().joined(separator: ", "))")
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
