/// NATS subject syntax: dot-separated tokens, `*` for one token and `>` for one or more trailing tokens.
///
/// Validation follows nats-server: an empty token (leading, trailing or doubled dot) is invalid, and so
/// is a token containing space, tab, CR, LF or FF. Wildcards only count as whole tokens: `foo.b*` is a
/// literal token.
public enum Subject {
    /// The wildcard that matches exactly one token.
    public static let singleWildcard: Substring = "*"
    /// The wildcard that matches one or more trailing tokens.
    public static let fullWildcard: Substring = ">"

    /// The tokens of `subject`, or nil when it is not a valid subject.
    ///
    /// - Parameter allowWildcards: when false, `*` and `>` tokens make the subject invalid (publish
    ///   subjects must be literal).
    @inlinable
    public static func tokens(_ subject: String, allowWildcards: Bool = true) -> [Substring]? {
        guard !subject.isEmpty else { return nil }
        var tokens: [Substring] = []
        tokens.reserveCapacity(8)
        var start = subject.utf8.startIndex
        var index = start
        let end = subject.utf8.endIndex
        while true {
            if index == end || subject.utf8[index] == UInt8(ascii: ".") {
                if index == start { return nil }
                let token = Substring(subject.utf8[start..<index])
                if !allowWildcards && Self.isWildcard(token) { return nil }
                if let last = tokens.last, Self.isFullWildcard(last) { return nil }
                tokens.append(token)
                if index == end { break }
                index = subject.utf8.index(after: index)
                start = index
                continue
            }
            switch subject.utf8[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"), 0x0C:
                return nil
            default:
                index = subject.utf8.index(after: index)
            }
        }
        return tokens
    }

    /// Whether `subject` is a valid subject, wildcards allowed.
    public static func isValid(_ subject: String) -> Bool {
        self.tokens(subject, allowWildcards: true) != nil
    }

    /// Whether `subject` is a valid subject without wildcards, as a publish subject must be.
    public static func isValidLiteral(_ subject: String) -> Bool {
        self.tokens(subject, allowWildcards: false) != nil
    }

    /// Whether a subject token is a wildcard.
    @inlinable
    public static func isWildcard(_ token: Substring) -> Bool {
        self.isSingleWildcard(token) || self.isFullWildcard(token)
    }

    /// Whether a token is `*`, compared as bytes.
    @inlinable
    public static func isSingleWildcard(_ token: Substring) -> Bool {
        let bytes = token.utf8
        return bytes.count == 1 && bytes.first == UInt8(ascii: "*")
    }

    /// Whether a token is `>`, compared as bytes.
    @inlinable
    public static func isFullWildcard(_ token: Substring) -> Bool {
        let bytes = token.utf8
        return bytes.count == 1 && bytes.first == UInt8(ascii: ">")
    }
}
