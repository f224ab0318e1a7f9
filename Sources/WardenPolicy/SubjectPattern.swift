/// A subscription's subject, kept to tell whether a delivered message's subject is one it matches.
///
/// nats-server delivers a core NATS message on a subject the subscription matches. JetStream does not:
/// a consumer's messages arrive on the deliver (or inbox) subscription carrying the subject they were
/// stored on. A delivery whose subject the pattern does not match is therefore data from elsewhere,
/// and is checked on its own subject. Matching is byte for byte and allocates nothing.
public struct SubjectPattern: Sendable, Hashable {
    private let bytes: [UInt8]
    /// Where each token starts and ends (exclusive) in `bytes`; empty for a literal pattern, which is
    /// compared whole.
    private let tokens: [Range<Int>]

    /// Nil when `subject` is not a valid subject.
    public init?(_ subject: String) {
        let bytes = Array(subject.utf8)
        let shape = bytes.withUnsafeBufferPointer { SubjectBytes.scan($0) }
        guard shape.isValid else { return nil }
        self.bytes = bytes
        guard shape.hasWildcards else {
            self.tokens = []
            return
        }
        var tokens: [Range<Int>] = []
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == SubjectBytes.dot {
            tokens.append(start..<index)
            start = index + 1
        }
        tokens.append(start..<bytes.count)
        self.tokens = tokens
    }

    /// Whether the pattern has `*` or `>` tokens.
    public var hasWildcards: Bool { !self.tokens.isEmpty }

    /// Whether the literal subject in `subject` (UTF-8 bytes) is one the pattern matches.
    public func matches(literal subject: UnsafeBufferPointer<UInt8>) -> Bool {
        self.bytes.withUnsafeBufferPointer { pattern in
            guard !self.tokens.isEmpty else { return SubjectBytes.equal(pattern, subject) }
            var start = 0
            for token in self.tokens {
                guard start <= subject.count else { return false }
                if SubjectBytes.isByte(pattern, token.lowerBound, token.upperBound, SubjectBytes.greater) {
                    return true
                }
                let end = SubjectBytes.tokenEnd(subject, from: start)
                if !SubjectBytes.isByte(pattern, token.lowerBound, token.upperBound, SubjectBytes.star)
                    && !SubjectBytes.equal(
                        UnsafeBufferPointer(rebasing: pattern[token]),
                        UnsafeBufferPointer(rebasing: subject[start..<end]))
                {
                    return false
                }
                start = end + 1
            }
            return start > subject.count
        }
    }

    /// `matches(literal:)` for a subject given as a `String`.
    public func matches(_ subject: String) -> Bool {
        SubjectBytes.withBytes(subject) { self.matches(literal: $0) }
    }
}
