import ArgumentParser
import Logging
import WardenACL
import WardenAudit
import WardenFleet
import WardenPKI
import WardenPolicy

extension ServeCommand {
    /// The ACLs and the credentials' inventory `warden serve` starts with: the files', or with `--fleet`
    /// the bucket's (or, when NATS is unreachable, the last verified copy in `--state-dir`). Reports what
    /// is wrong and exits 1 when there is nothing to serve.
    func loadState(connection: WardenConnection?, logger: Logger) throws -> (
        PolicySnapshot, CredentialStore, (gate: FleetGate, stateDirectory: StateDirectory)?
    ) {
        guard self.fleet else {
            do {
                let policy = try ACLLoader.load(directory: self.acls.directory)
                return (
                    policy, try runPKI { () throws(PKIError) in try CredentialStore(layout: self.certs.layout) }, nil
                )
            } catch let error as ACLLoadError {
                ErrorHints.report(error)
                throw ExitCode(1)
            }
        }
        guard let connection else {
            printError("error: --fleet needs --upstream: the fleet's bucket is on the NATS cluster the Wardens share")
            throw ExitCode(1)
        }
        let ca = try runPKI { () throws(PKIError) in try FleetSignature.caCertificate(layout: self.certs.layout) }
        guard let trustDomain = FleetSignature.trustDomain(of: ca) else {
            printError("error: \(self.certs.layout.caCertificate) names no trust domain: it is not Warden's CA")
            throw ExitCode(1)
        }
        var gate = FleetGate(ca: ca, trustDomain: trustDomain)
        let stateDirectory = StateDirectory(path: self.stateDirectory)
        let state: FleetState
        do {
            let (loaded, source) = try FleetStartup.load(
                connection: connection, gate: &gate, stateDirectory: stateDirectory, logger: logger)
            state = loaded
            switch source {
            case .bucket:
                logger.info(
                    "fleet: serving state version \(state.bundle.version) from the bucket \(FleetBundle.bucket)",
                    metadata: ["sha256": "\(state.bundle.sha256)", "pushed_from": "\(state.bundle.host)"])
            case .stateDirectory(let why):
                logger.warning(
                    "fleet: serving the last verified state, version \(state.bundle.version), from \(stateDirectory.bundleFile): \(why); following the bucket once it can be read",
                    metadata: ["sha256": "\(state.bundle.sha256)"])
            }
        } catch {
            ErrorHints.report(error)
            throw ExitCode(1)
        }
        let credentials = try runPKI { () throws(PKIError) in
            try CredentialStore(layout: self.certs.layout, inventory: state.bundle.inventory)
        }
        return (state.policy, credentials, (gate, stateDirectory))
    }
}
