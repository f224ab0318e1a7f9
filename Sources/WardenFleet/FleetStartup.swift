public import Logging
import NATSClient
public import WardenAudit

/// What `warden serve --fleet` puts in force before it accepts a client: the bucket's bundle, or, when
/// NATS is unreachable or its bundle is refused, the last verified copy in `--state-dir`. Never nothing:
/// with neither, Warden does not start.
public enum FleetStartup {
    /// Where the state in force came from.
    public enum Source: Sendable, Hashable {
        case bucket
        /// The copy in `--state-dir`, and why not the bucket's.
        case stateDirectory(because: String)
    }

    /// Puts the first state in force in `gate` and returns it.
    public static func load(
        connection: WardenConnection, gate: inout FleetGate, stateDirectory: StateDirectory, logger: Logger
    ) throws(FleetError) -> (FleetState, Source) {
        if let stored = stateDirectory.load() {
            if case .refuse(let refusal) = gate.offer(stored) {
                logger.error(
                    "fleet: the copy in the state folder is refused: \(refusal)",
                    metadata: ["file": "\(stateDirectory.bundleFile)"])
            }
        }
        let why: String
        do {
            let client = try NATSClient(connection.oneShotOptions(name: "warden-fleet-start"))
            defer { client.close() }
            let bucket = try KeyValueBucket(client, name: FleetBundle.bucket)
            if let entry = try bucket.get(FleetBundle.key) {
                switch gate.offer(entry.value) {
                case .apply(let state):
                    Self.keep(state, in: stateDirectory, logger: logger)
                    return (state, .bucket)
                case .unchanged:
                    return (gate.inForce!, .bucket)
                case .refuse(let refusal):
                    logger.error(
                        "fleet: the bundle in the bucket is refused: \(refusal)",
                        metadata: ["bucket": "\(FleetBundle.bucket)", "revision": "\(entry.revision)"])
                    why = "the bucket's bundle is refused (\(refusal))"
                }
            } else {
                why = "the bucket \(FleetBundle.bucket) holds no bundle"
            }
        } catch {
            why =
                error.code == .notFound
                ? "the bucket \(FleetBundle.bucket) does not exist" : "NATS is unreachable (\(error))"
        }
        guard let stored = gate.inForce else {
            throw FleetError(
                .noState,
                "no fleet state to serve: \(why), and \(stateDirectory.bundleFile) holds no verified copy"
            )
        }
        return (stored, .stateDirectory(because: why))
    }

    /// Keeps `state` in the state folder; a failure is logged, never fatal: the state is in force anyway.
    static func keep(_ state: FleetState, in stateDirectory: StateDirectory, logger: Logger) {
        do {
            try stateDirectory.save(state.signed)
        } catch {
            logger.error(
                "fleet: cannot keep the state in force in the state folder; a start while NATS is down will use an older one",
                metadata: ["error": "\(error)"])
        }
    }
}
