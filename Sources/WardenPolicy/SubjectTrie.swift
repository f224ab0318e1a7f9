/// Rules indexed by their subject pattern, one level per token, like nats-server's sublist.
///
/// A look-up walks the tokens of the subject being checked, so its cost depends on the subject's length
/// and the wildcards on its path, not on how many rules there are. Look-ups work on UTF-8 bytes of a
/// subject that `SubjectBytes.scan` has already validated, and allocate nothing.
struct SubjectTrie: Sendable {
    private final class Node: @unchecked Sendable {
        // Mutated only while the trie is built, before it is shared.
        /// Literal children by the fingerprint of their token; colliding tokens chain through `sibling`.
        var literals: [UInt64: Node] = [:]
        var single: Node?
        /// Rules whose pattern ends here.
        var terminal: [Rule] = []
        /// Rules whose pattern has `>` at this level.
        var fullWildcard: [Rule] = []
        /// The literal token leading to this node, and the next node whose token has the same fingerprint.
        let token: [UInt8]
        var sibling: Node?

        init(token: [UInt8] = []) { self.token = token }

        func child(_ token: UnsafeBufferPointer<UInt8>) -> Node? {
            var candidate = self.literals[SubjectBytes.fingerprint(token)]
            while let node = candidate {
                if node.token.withUnsafeBufferPointer({ SubjectBytes.equal($0, token) }) { return node }
                candidate = node.sibling
            }
            return nil
        }

        func childCreating(_ token: [UInt8]) -> Node {
            if let existing = token.withUnsafeBufferPointer({ self.child($0) }) { return existing }
            let node = Node(token: token)
            let fingerprint = token.withUnsafeBufferPointer(SubjectBytes.fingerprint)
            node.sibling = self.literals[fingerprint]
            self.literals[fingerprint] = node
            return node
        }

        var children: [Node] {
            var all: [Node] = []
            for first in self.literals.values {
                var node: Node? = first
                while let current = node {
                    all.append(current)
                    node = current.sibling
                }
            }
            if let single = self.single { all.append(single) }
            return all
        }
    }

    private let root = Node()

    init(_ rules: some Sequence<Rule>) {
        for rule in rules { self.insert(rule) }
    }

    private func insert(_ rule: Rule) {
        var node = self.root
        for token in rule.tokens {
            if Subject.isFullWildcard(token) {
                node.fullWildcard.append(rule)
                return
            }
            if Subject.isSingleWildcard(token) {
                if node.single == nil { node.single = Node() }
                node = node.single!
            } else {
                node = node.childCreating(Array(token.utf8))
            }
        }
        node.terminal.append(rule)
    }

    /// The first rule (lowest order) that contains `subject`: every literal subject that `subject` can
    /// match is matched by the rule. For a literal subject this is the first rule that matches it.
    ///
    /// - Parameter queue: rules limited to a queue group count only when it is this queue.
    func firstContaining(_ subject: UnsafeBufferPointer<UInt8>, queue: String? = nil) -> Rule? {
        var best: Rule?
        Self.containing(subject, from: 0, in: self.root, queue: queue, best: &best)
        return best
    }

    /// Every rule that overlaps `subject`: some literal subject is matched by both.
    func overlapping(_ subject: UnsafeBufferPointer<UInt8>, queue: String? = nil) -> [Rule] {
        var found: [Rule] = []
        Self.overlapping(subject, from: 0, in: self.root, queue: queue, into: &found)
        return found
    }

    @inline(__always)
    private static func admits(_ rule: Rule, queue: String?) -> Bool {
        guard let ruleQueue = rule.queue else { return true }
        return ruleQueue == queue
    }

    @inline(__always)
    private static func consider(_ rules: [Rule], queue: String?, best: inout Rule?) {
        for rule in rules where self.admits(rule, queue: queue) {
            if best == nil || rule.order < best!.order { best = rule }
        }
    }

    /// `start` is where the next token begins; past the end of `subject`, no tokens remain.
    private static func containing(
        _ subject: UnsafeBufferPointer<UInt8>, from start: Int, in node: Node, queue: String?, best: inout Rule?
    ) {
        if start > subject.count {
            self.consider(node.terminal, queue: queue, best: &best)
            return
        }
        // `>` in the rule takes the one or more tokens that remain, whatever they are.
        self.consider(node.fullWildcard, queue: queue, best: &best)
        let end = SubjectBytes.tokenEnd(subject, from: start)
        if SubjectBytes.isByte(subject, start, end, SubjectBytes.greater) { return }
        if let single = node.single {
            self.containing(subject, from: end + 1, in: single, queue: queue, best: &best)
        }
        if !SubjectBytes.isByte(subject, start, end, SubjectBytes.star), !node.literals.isEmpty,
            let literal = node.child(UnsafeBufferPointer(rebasing: subject[start..<end]))
        {
            self.containing(subject, from: end + 1, in: literal, queue: queue, best: &best)
        }
    }

    private static func overlapping(
        _ subject: UnsafeBufferPointer<UInt8>, from start: Int, in node: Node, queue: String?, into found: inout [Rule]
    ) {
        if start > subject.count {
            self.collect(node.terminal, queue: queue, into: &found)
            return
        }
        self.collect(node.fullWildcard, queue: queue, into: &found)
        let end = SubjectBytes.tokenEnd(subject, from: start)
        if SubjectBytes.isByte(subject, start, end, SubjectBytes.greater) {
            // Every rule deeper than here has one or more tokens left, which `>` matches.
            for child in node.children { self.collectSubtree(child, queue: queue, into: &found) }
            return
        }
        if SubjectBytes.isByte(subject, start, end, SubjectBytes.star) {
            for child in node.children {
                self.overlapping(subject, from: end + 1, in: child, queue: queue, into: &found)
            }
            return
        }
        if let single = node.single {
            self.overlapping(subject, from: end + 1, in: single, queue: queue, into: &found)
        }
        if let literal = node.child(UnsafeBufferPointer(rebasing: subject[start..<end])) {
            self.overlapping(subject, from: end + 1, in: literal, queue: queue, into: &found)
        }
    }

    private static func collect(_ rules: [Rule], queue: String?, into found: inout [Rule]) {
        for rule in rules where self.admits(rule, queue: queue) {
            found.append(rule)
        }
    }

    private static func collectSubtree(_ node: Node, queue: String?, into found: inout [Rule]) {
        self.collect(node.terminal, queue: queue, into: &found)
        self.collect(node.fullWildcard, queue: queue, into: &found)
        for child in node.children { self.collectSubtree(child, queue: queue, into: &found) }
    }
}
