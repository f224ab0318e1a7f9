/// Every service's compiled policy at one moment. Immutable: a reload builds a new snapshot and
/// swaps it in whole, so a decision never sees half of an old policy and half of a new one.
public struct PolicySnapshot: Sendable {
    public let services: [String: ServicePolicy]

    public init(services: [ServicePolicy]) {
        self.services = Dictionary(services.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func policy(for service: String) -> ServicePolicy? {
        self.services[service]
    }

    /// Every rule of every service, for tools that list or count them.
    public var ruleCount: Int { self.services.values.reduce(0) { $0 + $1.rules.count } }

    /// The decision for any operation by a service that no ACL file defines: denied, enforced.
    public static let unknownServiceDecision = PolicyDecision(.deny, .unknownService, mode: .enforce)
}
