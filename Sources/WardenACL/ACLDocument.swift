import WardenPolicy
import Yams

/// The merged content of all ACL files, before templates are expanded and rules compiled.
struct ACLDocument {
    /// An entry as written: text (maybe with `{{service}}`), and where.
    struct Entry {
        var text: String
        var source: SourceLocation
    }

    /// The rule lists and settings of one section (`defaults` or one service).
    struct Section {
        var entries: [(operation: Operation, effect: Effect, entry: Entry)] = []
        var mode: (PolicyMode, SourceLocation)?
        var allowResponses: (ResponsePermission?, SourceLocation)?
    }

    struct Service {
        var name: String
        var section: Section
        var source: SourceLocation
    }

    private(set) var defaults = Section()
    private(set) var services: [Service] = []
    private(set) var diagnostics: [ACLDiagnostic] = []

    private static let topLevelKeys = ["defaults", "services"]
    private static let sectionKeys = ["mode", "publish", "subscribe", "allow_responses", "replies"]
    private static let permissionKeys = ["allow", "deny"]
    private static let responseKeys = ["max", "expires"]

    mutating func parse(file: String, yaml: String) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            self.diagnostics.append(Self.diagnostic(for: error, file: file))
            return
        } catch {
            self.diagnostics.append(ACLDiagnostic(file: file, line: 1, message: "cannot parse YAML: \(error)"))
            return
        }
        guard let root else { return }  // an empty file defines nothing
        guard let mapping = root.mapping else {
            self.report(file, root, "expected a mapping with 'defaults' and/or 'services' at the top level")
            return
        }
        for (key, value) in mapping {
            switch self.key(file, key, allowed: Self.topLevelKeys) {
            case "defaults":
                var section = Section()
                self.parseSection(file, value, into: &section, context: "defaults")
                self.mergeDefaults(section, file: file)
            case "services":
                self.parseServices(file, value)
            default:
                break
            }
        }
    }

    // MARK: Sections

    private mutating func parseServices(_ file: String, _ node: Node) {
        if case .scalar = node, node.null != nil { return }
        guard let mapping = node.mapping else {
            self.report(file, node, "'services' must be a mapping of service name to its rules")
            return
        }
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                self.report(file, key, "a service name must be a plain string")
                continue
            }
            let source = self.location(file, key)
            do throws(PolicyError) {
                try ServiceName.validate(name)
            } catch {
                self.report(source, error.message)
                continue
            }
            if let existing = self.services.first(where: { $0.name == name }) {
                self.report(
                    source, "service \"\(name)\" is already defined at \(existing.source); define each service once")
                continue
            }
            var section = Section()
            self.parseSection(file, value, into: &section, context: "services.\(name)")
            self.services.append(Service(name: name, section: section, source: source))
        }
    }

    private mutating func parseSection(_ file: String, _ node: Node, into section: inout Section, context: String) {
        if case .scalar = node, node.null != nil { return }  // `orders:` with nothing: no permissions
        guard let mapping = node.mapping else {
            self.report(file, node, "'\(context)' must be a mapping with keys \(Self.list(Self.sectionKeys))")
            return
        }
        for (key, value) in mapping {
            switch self.key(file, key, allowed: Self.sectionKeys) {
            case "mode":
                guard let text = value.scalar?.string, let mode = PolicyMode(rawValue: text) else {
                    self.report(file, value, "'mode' must be enforce or audit")
                    continue
                }
                section.mode = (mode, self.location(file, value))
            case "publish":
                self.parsePermissions(file, value, operation: .publish, into: &section, context: "\(context).publish")
            case "subscribe":
                self.parsePermissions(
                    file, value, operation: .subscribe, into: &section, context: "\(context).subscribe")
            case "replies":
                self.parseEntries(
                    file, value, operation: .reply, effect: .allow, into: &section, context: "\(context).replies")
            case "allow_responses":
                if let permission = self.parseResponses(file, value) {
                    section.allowResponses = permission
                }
            default:
                break
            }
        }
    }

    /// `publish:` / `subscribe:` as a list (all allow) or as `{allow: [...], deny: [...]}`, like nats-server.
    private mutating func parsePermissions(
        _ file: String, _ node: Node, operation: Operation, into section: inout Section, context: String
    ) {
        switch node {
        case .sequence, .scalar:
            self.parseEntries(file, node, operation: operation, effect: .allow, into: &section, context: context)
        case .mapping(let mapping):
            for (key, value) in mapping {
                switch self.key(file, key, allowed: Self.permissionKeys) {
                case "allow":
                    self.parseEntries(
                        file, value, operation: operation, effect: .allow, into: &section, context: "\(context).allow")
                case "deny":
                    self.parseEntries(
                        file, value, operation: operation, effect: .deny, into: &section, context: "\(context).deny")
                default:
                    break
                }
            }
        case .alias:
            self.report(file, node, "'\(context)' cannot be a YAML alias")
        }
    }

    private mutating func parseEntries(
        _ file: String, _ node: Node, operation: Operation, effect: Effect, into section: inout Section, context: String
    ) {
        let items: [Node]
        switch node {
        case .sequence(let sequence): items = Array(sequence)
        case .scalar where node.null != nil: items = []
        case .scalar: items = [node]
        default:
            self.report(file, node, "'\(context)' must be a list of subjects")
            return
        }
        for item in items {
            guard case .scalar(let scalar) = item else {
                self.report(file, item, "each entry of '\(context)' must be a subject string like \"orders.>\"")
                continue
            }
            let entry = Entry(text: scalar.string, source: self.location(file, item))
            if self.validate(entry, operation: operation) {
                section.entries.append((operation, effect, entry))
            }
        }
    }

    private mutating func parseResponses(_ file: String, _ node: Node) -> (ResponsePermission?, SourceLocation)? {
        let source = self.location(file, node)
        if let scalar = node.scalar {
            switch scalar.string {
            case "true": return (ResponsePermission(source: source), source)
            case "false": return (nil, source)
            default: break
            }
        }
        guard let mapping = node.mapping else {
            self.report(file, node, "'allow_responses' must be true, false or {max: N, expires: DURATION}")
            return nil
        }
        var permission = ResponsePermission(source: source)
        var valid = true
        for (key, value) in mapping {
            switch self.key(file, key, allowed: Self.responseKeys) {
            case "max":
                guard let max = value.scalar.flatMap({ Int($0.string) }), max >= 1 else {
                    self.report(file, value, "'allow_responses.max' must be a whole number of at least 1")
                    valid = false
                    continue
                }
                permission.maxMessages = max
            case "expires":
                do throws(PolicyError) {
                    permission.expires = try DurationParser.parse(value.scalar?.string ?? "")
                } catch {
                    self.report(file, value, "'allow_responses.expires': \(error.message)")
                    valid = false
                }
            default:
                valid = false
            }
        }
        return valid ? (permission, source) : nil
    }

    /// Checks an entry's syntax and template once, at its own line, whatever services it applies to.
    private mutating func validate(_ entry: Entry, operation: Operation) -> Bool {
        do throws(PolicyError) {
            let expanded = try SubjectTemplate.expand(entry.text, service: "service")
            _ = try Self.rule(
                expanded, operation: operation, effect: .allow, order: 0, source: entry.source, fromDefaults: false)
            return true
        } catch {
            self.report(entry.source, error.message)
            return false
        }
    }

    private mutating func mergeDefaults(_ section: Section, file: String) {
        self.defaults.entries += section.entries
        if let mode = section.mode {
            if let existing = self.defaults.mode {
                self.report(mode.1, "defaults.mode is already set at \(existing.1)")
            } else {
                self.defaults.mode = mode
            }
        }
        if let responses = section.allowResponses {
            if let existing = self.defaults.allowResponses {
                self.report(responses.1, "defaults.allow_responses is already set at \(existing.1)")
            } else {
                self.defaults.allowResponses = responses
            }
        }
    }

    // MARK: Compiling

    func compile() throws(ACLLoadError) -> PolicySnapshot {
        guard self.diagnostics.isEmpty else { throw ACLLoadError(self.diagnostics) }
        var policies: [ServicePolicy] = []
        var diagnostics: [ACLDiagnostic] = []
        for service in self.services {
            var rules: [Rule] = []
            let all = self.defaults.entries.map { ($0, true) } + service.section.entries.map { ($0, false) }
            for ((operation, effect, entry), fromDefaults) in all {
                do throws(PolicyError) {
                    let expanded = try SubjectTemplate.expand(entry.text, service: service.name)
                    rules.append(
                        try Self.rule(
                            expanded, operation: operation, effect: effect, order: rules.count,
                            source: entry.source, fromDefaults: fromDefaults))
                } catch {
                    diagnostics.append(
                        ACLDiagnostic(
                            file: entry.source.file, line: entry.source.line,
                            message: "\(error.message) (for service \(service.name))"))
                }
            }
            let mode = service.section.mode?.0 ?? self.defaults.mode?.0 ?? .enforce
            let responses = service.section.allowResponses ?? self.defaults.allowResponses
            policies.append(ServicePolicy(name: service.name, mode: mode, rules: rules, allowResponses: responses?.0))
        }
        guard diagnostics.isEmpty else { throw ACLLoadError(diagnostics) }
        return PolicySnapshot(services: policies)
    }

    /// Splits `"subject [queue]"` and builds the rule.
    private static func rule(
        _ text: String, operation: Operation, effect: Effect, order: Int, source: SourceLocation, fromDefaults: Bool
    ) throws(PolicyError) -> Rule {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard let subject = parts.first else {
            throw PolicyError(.invalidSubject, "empty entry: write a subject like \"orders.>\"")
        }
        guard parts.count <= 2 else {
            throw PolicyError(
                .invalidSubject, "entry \"\(text)\" has \(parts.count) parts: write \"subject\" or \"subject queue\"")
        }
        return try Rule(
            order: order, operation: operation, effect: effect, pattern: String(subject),
            queue: parts.count == 2 ? String(parts[1]) : nil, source: source, fromDefaults: fromDefaults)
    }

    // MARK: Helpers

    /// The key's text when it is one of `allowed`; otherwise reports it and returns nil.
    private mutating func key(_ file: String, _ node: Node, allowed: [String]) -> String? {
        guard let text = node.scalar?.string else {
            self.report(file, node, "expected a key, one of \(Self.list(allowed))")
            return nil
        }
        guard allowed.contains(text) else {
            let hint = Self.closest(text, in: allowed).map { "did you mean '\($0)'? " } ?? ""
            self.report(file, node, "unknown key '\(text)': \(hint)expected one of \(Self.list(allowed))")
            return nil
        }
        return text
    }

    private func location(_ file: String, _ node: Node) -> SourceLocation {
        SourceLocation(file: file, line: node.mark?.line ?? 0)
    }

    private mutating func report(_ file: String, _ node: Node, _ message: String) {
        self.report(self.location(file, node), message)
    }

    private mutating func report(_ source: SourceLocation, _ message: String) {
        self.diagnostics.append(ACLDiagnostic(file: source.file, line: source.line, message: message))
    }

    private static func list(_ keys: [String]) -> String {
        keys.map { "'\($0)'" }.joined(separator: ", ")
    }

    /// A known key within two edits of a mistyped one, for the "did you mean" hint.
    private static func closest(_ text: String, in candidates: [String]) -> String? {
        candidates.map { ($0, Self.editDistance(text, $0)) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }?.0
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    private static func diagnostic(for error: YamlError, file: String) -> ACLDiagnostic {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return ACLDiagnostic(
                file: file, line: mark.line,
                message: "YAML syntax error: \(problem) (quote subjects that start with '*' or '>')")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return ACLDiagnostic(
                file: file, line: context.mark.line,
                message: "duplicate key \(keys) in one mapping: define each service and key once")
        case .reader(let problem, _, _, _):
            return ACLDiagnostic(file: file, line: 1, message: "cannot read YAML: \(problem)")
        default:
            return ACLDiagnostic(file: file, line: 1, message: "cannot parse YAML: \(error)")
        }
    }
}
