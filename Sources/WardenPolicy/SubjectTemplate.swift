/// ACL entries may use `{{service}}`, which expands to the name of the service the rule applies to.
public enum SubjectTemplate {
    public static let variables: Set<Substring> = ["service"]

    /// The entry with every `{{service}}` replaced by `service`.
    public static func expand(_ entry: String, service: String) throws(PolicyError) -> String {
        guard entry.contains("{{") else { return entry }
        var output = ""
        var rest = entry[...]
        while let open = rest.range(of: "{{") {
            output += rest[..<open.lowerBound]
            let afterOpen = rest[open.upperBound...]
            guard let close = afterOpen.range(of: "}}") else {
                throw PolicyError(.invalidTemplate, "unclosed \"{{\" in \"\(entry)\": write {{service}}")
            }
            let name = afterOpen[..<close.lowerBound].trimmingSpaces()
            guard Self.variables.contains(name) else {
                throw PolicyError(
                    .invalidTemplate,
                    "unknown template variable \"\(name)\" in \"\(entry)\": the only variable is {{service}}"
                )
            }
            output += service
            rest = afterOpen[close.upperBound...]
        }
        output += rest
        return output
    }
}

extension Substring {
    func range(of needle: String) -> Range<Index>? {
        guard let first = needle.first else { return nil }
        var index = self.startIndex
        while index < self.endIndex {
            if self[index] == first && self[index...].hasPrefix(needle) {
                return index..<self.index(index, offsetBy: needle.count)
            }
            index = self.index(after: index)
        }
        return nil
    }

    func trimmingSpaces() -> Substring {
        var view = self
        while view.first == " " { view.removeFirst() }
        while view.last == " " { view.removeLast() }
        return view
    }
}
