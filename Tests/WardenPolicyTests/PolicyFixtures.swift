@testable import WardenPolicy

/// Builds a service policy from compact rule lists, the way the ACL loader would.
func makePolicy(
    publishAllow: [String] = [],
    publishDeny: [String] = [],
    subscribeAllow: [String] = [],
    subscribeDeny: [String] = [],
    mode: PolicyMode = .enforce,
    allowResponses: ResponsePermission? = nil
) throws -> ServicePolicy {
    var rules: [Rule] = []
    func add(_ entries: [String], _ operation: Operation, _ effect: Effect) throws {
        for entry in entries {
            let parts = entry.split(separator: " ")
            rules.append(
                try Rule(
                    order: rules.count, operation: operation, effect: effect, pattern: String(parts[0]),
                    queue: parts.count > 1 ? String(parts[1]) : nil,
                    source: SourceLocation(file: "test.yaml", line: rules.count + 1)))
        }
    }
    try add(publishAllow, .publish, .allow)
    try add(publishDeny, .publish, .deny)
    try add(subscribeAllow, .subscribe, .allow)
    try add(subscribeDeny, .subscribe, .deny)
    return ServicePolicy(name: "svc", mode: mode, rules: rules, allowResponses: allowResponses)
}
