/// Why a Warden did not take a bundle from the bucket (or from `--state-dir`): the state in force stays.
public enum FleetRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    /// Not an envelope of a payload and a signature.
    case notABundle
    /// The signature is not the CA's over the payload: written by someone else, or changed since.
    case notSigned
    /// Signed, but not usable: `reason` says why.
    case corrupt(String)
    /// Older than the version in force: a replay of an earlier bundle, or a rollback.
    case stale(version: UInt64, inForce: UInt64)
    /// Signed, but its ACLs do not compile (each problem as `file:line: message`).
    case invalidACLs([String])

    /// The label of `warden_fleet_bundles_refused_total`.
    public var reason: String {
        switch self {
        case .notABundle: "not_a_bundle"
        case .notSigned: "bad_signature"
        case .corrupt: "corrupt"
        case .stale: "stale"
        case .invalidACLs: "invalid_acls"
        }
    }

    public var description: String {
        switch self {
        case .notABundle: "it is not a signed fleet state bundle"
        case .notSigned: "its signature is not the CA's: it was not pushed with `warden fleet push`, or changed since"
        case .corrupt(let reason): "it is signed but unusable: \(reason)"
        case .stale(let version, let inForce): "its version \(version) is older than version \(inForce) in force"
        case .invalidACLs(let problems): "its ACLs do not compile: \(problems.joined(separator: "; "))"
        }
    }
}
