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
            A publish with --reply is a request: its answer is published on the reply subject, so that
            subject must be one the service may direct answers to (its own inbox _INBOX.SERVICE.>, a
            subject it may both publish and subscribe to, or a `replies` entry).
            """
    )

    enum Op: String, ExpressibleByArgument, CaseIterable {
        case pub, sub
    }

    @Argument(help: "The service, as enrolled.") var service: String
    @Argument(help: "pub or sub.") var op: Op
    @Argument(help: "The subject (a subscription may use * and >).") var subject: String
    @Option(help: "Queue group of the subscription.") var queue: String?
    @Option(help: "Reply subject of the publish (a request).") var reply: String?
    @OptionGroup var acls: ACLOptions
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        if self.queue != nil && self.op == .pub {
            throw ValidationError("--queue applies only to sub")
        }
        if self.reply != nil && self.op == .sub {
            throw ValidationError("--reply applies only to pub")
        }
    }

    func run() throws {
        let snapshot: PolicySnapshot
        do {
            snapshot = try ACLLoader.load(directory: self.acls.directory)
        } catch {
            ErrorHints.report(error)
            throw ExitCode(1)
        }
        var filter: [Rule] = []
        var decision: PolicyDecision
        var responses: ResponsePermission?
        var reply: PolicyDecision?
        if let policy = snapshot.policy(for: self.service) {
            switch self.op {
            case .pub:
                decision = policy.decidePublish(subject: self.subject)
                // A publish no rule allows may still answer a request delivered to the service.
                responses = decision.reason == .defaultDeny ? policy.allowResponses : nil
                if let subject = self.reply {
                    reply = policy.decideReply(subject)
                    if decision.verdict == .allow, reply?.verdict == .deny { decision = reply! }
                }
            case .sub:
                let result = policy.decideSubscribe(subject: self.subject, queue: self.queue)
                decision = result.decision
                filter = result.deliveryFilter
            }
        } else {
            decision = PolicySnapshot.unknownServiceDecision
        }
        if self.json {
            print(try self.jsonText(decision, filter: filter, responses: responses, reply: reply))
        } else {
            print(self.text(decision, filter: filter, responses: responses, reply: reply))
        }
    }

    private func text(
        _ decision: PolicyDecision, filter: [Rule], responses: ResponsePermission?, reply: PolicyDecision?
    ) -> String {
        var lines: [String] = []
        let verdict = decision.verdict.rawValue
        if decision.mode == .audit && decision.verdict == .deny {
            lines.append("\(verdict) (audit mode: recorded but not enforced)")
        } else {
            lines.append(verdict)
        }
        let queue = self.queue.map { " (queue \($0))" } ?? ""
        let replyText = self.reply.map { " reply \($0)" } ?? ""
        lines.append(
            "  \(self.service) \(self.op.rawValue) \(self.subject)\(queue)\(replyText), mode \(decision.mode.rawValue)")
        lines.append("  rule: \(decision.ruleDescription)")
        if let reply, let subject = self.reply {
            lines.append("  reply \(subject): \(reply.verdict.rawValue), \(reply.ruleDescription)")
        }
        for rule in filter {
            lines.append("  dropped at delivery: messages matching \(rule.pattern) (\(rule))")
        }
        if let responses {
            lines.append(
                "  unless it answers a request delivered to it: allow_responses (\(responses.source)), "
                    + "up to \(responses.maxMessages) per request within \(DurationParser.format(responses.expires))")
        }
        return lines.joined(separator: "\n")
    }

    private func jsonText(
        _ decision: PolicyDecision, filter: [Rule], responses: ResponsePermission?, reply: PolicyDecision?
    ) throws -> String {
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
        if let reply, let subject = self.reply {
            object["reply"] = ["subject": subject, "decision": reply.verdict.rawValue, "rule": reply.ruleDescription]
        }
        if let responses {
            object["allow_responses"] = [
                "rule": responses.ruleDescription, "max": responses.maxMessages,
                "expires": DurationParser.format(responses.expires),
            ]
        }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}
