import PropertyBased
import Testing

@testable import WardenPolicy

/// The trie engine against a reference that knows nothing of tries: it enumerates every literal
/// subject of a small universe and matches token by token. Token "d" never appears in rules, so it
/// stands for "any other token"; subjects go one token longer than any pattern, enough for `>`.
@Suite struct PropertyTests {
    static let ruleTokens = ["a", "b", "c", "*", ">"]
    static let universe: [[String]] = {
        var all: [[String]] = [[]]
        var result: [[String]] = []
        for _ in 1...5 {
            all = all.flatMap { prefix in ["a", "b", "c", "d"].map { prefix + [$0] } }
            result += all
        }
        return result
    }()

    /// Turns random tokens into a valid pattern: anything after the first `>` is cut.
    static func pattern(_ indices: [Int]) -> String {
        var kept: [String] = []
        for token in indices.map({ self.ruleTokens[$0] }) {
            kept.append(token)
            if token == ">" { break }
        }
        return kept.joined(separator: ".")
    }

    /// Reference matcher: does `pattern` match the literal `subject`?
    static func matches(_ pattern: String, _ subject: [String]) -> Bool {
        let tokens = pattern.split(separator: ".").map(String.init)
        for (index, token) in tokens.enumerated() {
            if token == ">" { return subject.count > index }
            if index >= subject.count { return false }
            if token != "*" && token != subject[index] { return false }
        }
        return tokens.count == subject.count
    }

    static func literals(matching pattern: String) -> [[String]] {
        self.universe.filter { self.matches(pattern, $0) }
    }

    /// Patterns and literal subjects as token indices: into `ruleTokens`, and into "a", "b", "c", "d".
    static let patterns = Gen.int(in: 0...4).array(of: 1...4)
    static let literal = Gen.int(in: 0...3).array(of: 1...5)

    @Test func publishDecisionsMatchTheReference() async throws {
        await propertyCheck(
            count: 300, input: Self.patterns.array(of: 0...6), Self.patterns.array(of: 0...3), Self.literal
        ) {
            allowTokens, denyTokens, literalIndices in
            let subject = literalIndices.map { ["a", "b", "c", "d"][$0] }
            let allow = allowTokens.map(Self.pattern)
            let deny = denyTokens.map(Self.pattern)
            let policy = try! makePolicy(publishAllow: allow, publishDeny: deny)
            let decision = policy.decidePublish(subject: subject.joined(separator: "."))
            let firstDeny = deny.firstIndex { Self.matches($0, subject) }
            let firstAllow = allow.firstIndex { Self.matches($0, subject) }
            if let firstDeny {
                #expect(decision.verdict == .deny)
                #expect(decision.rule?.order == allow.count + firstDeny)
            } else if let firstAllow {
                #expect(decision.verdict == .allow)
                #expect(decision.rule?.order == firstAllow)
            } else {
                #expect(decision.reason == .defaultDeny)
            }
        }
    }

    @Test func subscribeDecisionsMatchTheReference() async throws {
        await propertyCheck(
            count: 300, input: Self.patterns.array(of: 0...5), Self.patterns.array(of: 0...3), Self.patterns
        ) {
            allowTokens, denyTokens, subscriptionTokens in
            let allow = allowTokens.map(Self.pattern)
            let deny = denyTokens.map(Self.pattern)
            let subscription = Self.pattern(subscriptionTokens)
            let policy = try! makePolicy(subscribeAllow: allow, subscribeDeny: deny)
            let result = policy.decideSubscribe(subject: subscription)
            let covered = Self.literals(matching: subscription)
            let contains = { (rule: String) in covered.allSatisfy { Self.matches(rule, $0) } }
            let overlaps = { (rule: String) in covered.contains { Self.matches(rule, $0) } }
            if deny.contains(where: contains) {
                #expect(result.decision.verdict == .deny)
            } else if allow.contains(where: contains) {
                #expect(result.decision.verdict == .allow)
                #expect(result.deliveryFilter.map(\.pattern).sorted() == deny.filter(overlaps).sorted())
            } else {
                #expect(result.decision.reason == .defaultDeny)
            }
        }
    }

    /// When a wildcard subscription is allowed, every literal subject it can receive is one the
    /// service could subscribe to on its own, unless the delivery filter drops it.
    @Test func allowedSubscriptionsOnlyReceiveAllowedSubjects() async throws {
        await propertyCheck(
            count: 300, input: Self.patterns.array(of: 1...5), Self.patterns.array(of: 0...3), Self.patterns
        ) {
            allowTokens, denyTokens, subscriptionTokens in
            let policy = try! makePolicy(
                subscribeAllow: allowTokens.map(Self.pattern), subscribeDeny: denyTokens.map(Self.pattern))
            let result = policy.decideSubscribe(subject: Self.pattern(subscriptionTokens))
            guard result.decision.verdict == .allow else { return }
            for literal in Self.literals(matching: Self.pattern(subscriptionTokens)) {
                let subject = literal.joined(separator: ".")
                let alone = policy.decideSubscribe(subject: subject).decision.verdict
                let dropped = policy.decideDelivery(subject: subject, filter: result.deliveryFilter) != nil
                #expect(alone == .allow || dropped, "\(subject) reachable through \(Self.pattern(subscriptionTokens))")
                #expect(!(alone == .allow && dropped), "\(subject) allowed alone but dropped at delivery")
            }
        }
    }
}
