public import WardenPolicy
public import X509

/// A verified bundle ready to be put in force: the bundle, the envelope it came in (what `--state-dir`
/// keeps), and its ACLs compiled.
public struct FleetState: Sendable {
    public let bundle: FleetBundle
    public let signed: SignedBundle
    public let policy: PolicySnapshot
}

/// Decides, free of I/O, whether a Warden takes a bundle offered by the bucket or by `--state-dir`: only
/// one the CA signed, whole, for this trust domain, whose ACLs compile, and newer than the one in force.
/// Anything else is refused and the state in force stays.
public struct FleetGate: Sendable {
    public enum Verdict: Sendable {
        /// Put it in force.
        case apply(FleetState)
        /// The bundle in force, offered again (the watch's first value, a restart): nothing to do.
        case unchanged
        case refuse(FleetRefusal)
    }

    private let ca: Certificate
    private let trustDomain: String
    /// The state in force; nil until the first bundle is taken.
    public private(set) var inForce: FleetState?

    public init(ca: Certificate, trustDomain: String) {
        self.ca = ca
        self.trustDomain = trustDomain
    }

    /// The version in force, 0 before any.
    public var version: UInt64 { self.inForce?.bundle.version ?? 0 }

    public mutating func offer(_ bytes: [UInt8]) -> Verdict {
        guard let signed = SignedBundle(encoded: bytes) else { return .refuse(.notABundle) }
        return self.offer(signed)
    }

    public mutating func offer(_ signed: SignedBundle) -> Verdict {
        let bundle: FleetBundle
        switch signed.verified(ca: self.ca, trustDomain: self.trustDomain) {
        case .failure(let refusal): return .refuse(refusal)
        case .success(let verified): bundle = verified
        }
        if let inForce = self.inForce {
            if bundle.version == inForce.bundle.version, bundle.sha256 == inForce.bundle.sha256 { return .unchanged }
            // The same version with other contents is no newer than the one in force either.
            guard bundle.version > inForce.bundle.version else {
                return .refuse(.stale(version: bundle.version, inForce: inForce.bundle.version))
            }
        }
        let policy: PolicySnapshot
        do {
            policy = try bundle.policy()
        } catch {
            return .refuse(.invalidACLs(error.diagnostics.map(\.description)))
        }
        let state = FleetState(bundle: bundle, signed: signed, policy: policy)
        self.inForce = state
        return .apply(state)
    }
}
