/// A subject transform's destination (republish, stream and source transforms) as the pattern of every
/// subject it can produce, so that the ACL can be asked whether the caller may publish to all of them.
///
/// nats-server (server/subject_transform.go) reads a destination token as a function when it is `$N`
/// or `{{name(args)}}`. Functions that yield one token (`wildcard`, `partition`, `random`, `left`,
/// `right`, `$N`) become `*`; those that can split a token into several (`split`, `splitFromLeft`,
/// `splitFromRight`, `sliceFromLeft`, `sliceFromRight`) make the rest of the pattern `>`, which stands
/// for more subjects than they can produce, never fewer. An unknown function is refused.
enum TransformDestination {
    static func pattern(_ destination: String) throws(ContainmentRefusal) -> String {
        var tokens: [String] = []
        for token in destination.split(separator: ".", omittingEmptySubsequences: false) {
            switch try Self.kind(of: token) {
            case .literal: tokens.append(String(token))
            case .oneToken: tokens.append("*")
            case .severalTokens:
                tokens.append(">")
                return tokens.joined(separator: ".")
            }
        }
        return tokens.joined(separator: ".")
    }

    private enum Kind {
        case literal
        case oneToken
        case severalTokens
    }

    private static let oneToken: Set<String> = ["wildcard", "partition", "random", "left", "right"]
    private static let severalTokens: Set<String> = [
        "split", "splitfromleft", "splitfromright", "slicefromleft", "slicefromright",
    ]

    private static func kind(of token: Substring) throws(ContainmentRefusal) -> Kind {
        if token.count > 1, token.first == "$", Int(token.dropFirst()) != nil { return .oneToken }
        guard token.count > 4, token.hasPrefix("{{"), token.hasSuffix("}}") else { return .literal }
        let inside = token.dropFirst(2).dropLast(2).drop(while: { $0 == " " || $0 == "\t" })
        let name = inside.prefix(while: { $0.isLetter }).lowercased()
        if Self.oneToken.contains(name) { return .oneToken }
        if Self.severalTokens.contains(name) { return .severalTokens }
        throw ContainmentRefusal(
            .unknown,
            "the transform destination token \(JSONFields.quoted(String(token))) is not one Warden knows")
    }
}
