/// Durations as people write them in ACL files and on the command line: `90s`, `2m`, `1h30m`, `500ms`,
/// `30d`. A bare number is refused, since its unit would be a guess.
public enum DurationParser {
    public static func parse(_ text: String) throws(PolicyError) -> Duration {
        let units: [(String, Duration)] = [
            ("ms", .milliseconds(1)), ("s", .seconds(1)), ("m", .seconds(60)),
            ("h", .seconds(3600)), ("d", .seconds(86400)),
        ]
        func failure() -> PolicyError {
            PolicyError(
                .invalidDuration,
                "invalid duration \"\(text)\": use a number and a unit (ms, s, m, h, d), e.g. 90s, 2m, 1h30m")
        }
        var rest = Substring(text.trimmingWhitespace())
        guard !rest.isEmpty else { throw failure() }
        var total: Duration = .zero
        while !rest.isEmpty {
            let digits = rest.prefix(while: { $0.isASCII && $0.isNumber })
            guard !digits.isEmpty, digits.count <= 9, let value = Int(digits) else { throw failure() }
            rest = rest.dropFirst(digits.count)
            let unitText = rest.prefix(while: { $0.isLetter })
            guard let unit = units.first(where: { $0.0 == unitText })?.1 else { throw failure() }
            rest = rest.dropFirst(unitText.count)
            total += unit * value
        }
        guard total > .zero else {
            throw PolicyError(.invalidDuration, "invalid duration \"\(text)\": must be greater than zero")
        }
        return total
    }

    /// `1h30m`-style text for a duration, the form `parse` reads back.
    public static func format(_ duration: Duration) -> String {
        var seconds = duration.components.seconds
        let millis = duration.components.attoseconds / 1_000_000_000_000_000
        if seconds == 0 { return "\(millis)ms" }
        var text = ""
        for (unit, size) in [("d", Int64(86400)), ("h", 3600), ("m", 60), ("s", 1)] where seconds >= size {
            text += "\(seconds / size)\(unit)"
            seconds %= size
        }
        return text
    }
}

extension String {
    func trimmingWhitespace() -> Substring {
        var view = self[...]
        while let first = view.first, first.isWhitespace { view.removeFirst() }
        while let last = view.last, last.isWhitespace { view.removeLast() }
        return view
    }
}
