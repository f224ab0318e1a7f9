import ArgumentParser
import Foundation
import WardenACL
import WardenPolicy

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show whether a service may publish or subscribe to a subject, and which rule decides.",
        discussion: """
            Exits 0 when the question was answered (allow or deny), 1 when the ACL files are invalid.
            A subscription needs every subject it can match to be allowed by one allow entry.
            """
    )

    enum Op: String, ExpressibleByArgument, CaseIterable {
        case pub, sub
    }

    @Argument(help: "The service, as enrolled.") var service: String
    @Argument(help: "pub or sub.") var op: Op
    @Argument(help: "The subject (a subscription may use * and >).") var subject: String
    @Option(help: "Queue group of the subscription.") var queue: String?
    @OptionGroup var acls: ACLOptions
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        if self.queue != nil && self.op == .pub {
            throw ValidationError("--queue applies only to sub")
        }
    }

    func run() throws {
        let snapshot: PolicySnapshot
        do {
            snapshot = try ACLLoader.load(directory: self.acls.directory)
        } catch {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            throw ExitCode(1)
        }
        var filter: [Rule] = []
        let decision: PolicyDecision
        var responses: ResponsePermission?
        if let policy = snapshot.policy(for: self.service) {
            switch self.op {
            case .pub:
                decision = policy.decidePublish(subject: self.subject)
                // A publish no rule allows may still answer a request delivered to the service.
                responses = decision.reason == .defaultDeny ? policy.allowResponses : nil
            case .sub:
                let result = policy.decideSubscribe(subject: self.subject, queue: self.queue)
                decision = result.decision
                filter = result.deliveryFilter
            }
        } else {
            decision = PolicySnapshot.unknownServiceDecision
        }
        if self.json {
            print(try self.jsonText(decision, filter: filter, responses: responses))
        } else {
            print(self.text(decision, filter: filter, responses: responses))
        }
    }

    private func text(_ decision: PolicyDecision, filter: [Rule], responses: ResponsePermission?) -> String {
        var lines: [String] = []
        let verdict = decision.verdict.rawValue
        if decision.mode == .audit && decision.verdict == .deny {
            lines.append("\(verdict) (audit mode: recorded but not enforced)")
        } else {
            lines.append(verdict)
        }
        let queue = self.queue.map { " (queue \($0))" } ?? ""
        lines.append("  \(self.service) \(self.op.rawValue) \(self.subject)\(queue), mode \(decision.mode.rawValue)")
        lines.append("  rule: \(decision.ruleDescription)")
        for rule in filter {
            lines.append("  dropped at delivery: messages matching \(rule.pattern) (\(rule))")
        }
        if let responses {
            lines.append("  unless it answers a request delivered to it: allow_responses (\(responses.source)), "
                + "up to \(responses.maxMessages) per request within \(DurationParser.format(responses.expires))")
        }
        return lines.joined(separator: "\n")
    }

    private func jsonText(_ decision: PolicyDecision, filter: [Rule], responses: ResponsePermission?) throws -> String {
        var object: [String: Any] = [
            "decision": decision.verdict.rawValue,
            "rule": decision.ruleDescription,
            "mode": decision.mode.rawValue,
            "enforced": decision.mode == .enforce,
            "service": self.service,
            "op": self.op.rawValue,
            "subject": self.subject,
        ]
        if let queue = self.queue { object["queue"] = queue }
        if let rule = decision.rule {
            object["file"] = rule.source.file
            object["line"] = rule.source.line
            object["pattern"] = rule.pattern
        }
        if !filter.isEmpty {
            object["delivery_filter"] = filter.map(\.description)
        }
        if let responses {
            object["allow_responses"] = ["rule": responses.ruleDescription, "max": responses.maxMessages,
                                         "expires": DurationParser.format(responses.expires)]
        }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}
