import ArgumentParser
import Foundation
import WardenFleet
import WardenPKI

struct FleetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract:
            "Keep a fleet of Wardens on one state: signed ACLs and inventory in the JetStream KeyValue bucket WARDEN.",
        subcommands: [FleetPushCommand.self, FleetStatusCommand.self]
    )
}

struct FleetPushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract:
            "Validate the ACL files and the inventory, sign them with the CA key and write them to the bucket WARDEN.",
        discussion: """
            The ACL files are checked as `warden check` does; nothing is written when one has an error. The \
            bundle gets the next version number; every `warden serve --fleet` puts it in force within about a \
            second. The bucket is created when missing, with three replicas where the cluster has three servers.
            """
    )

    @OptionGroup var acls: ACLOptions
    @OptionGroup var certs: CertsOptions
    @OptionGroup var nats: NATSOptions

    func validate() throws {
        guard self.nats.nats != nil else { throw ValidationError("--nats URL[,URL] is required") }
    }

    func run() throws {
        let files: [FleetBundle.ACLFile]
        do {
            files = try FleetBundle.aclFiles(in: self.acls.directory)
        } catch {
            ErrorHints.report(error)
            throw ExitCode(1)
        }
        let authority = try runPKI { () throws(PKIError) in try CertificateAuthority.load(layout: self.certs.layout) }
        let inventory = try runPKI { () throws(PKIError) in try Inventory.load(from: self.certs.layout.inventory) }
        let publisher = FleetPublisher(
            authority: authority, connection: self.nats.connection(certs: self.certs)!,
            host: ProcessInfo.processInfo.hostName)
        let pushed: FleetPublisher.Pushed
        do {
            pushed = try publisher.push(acls: files, inventory: inventory)
        } catch {
            ErrorHints.report(error)
            throw ExitCode(1)
        }
        if let refusal = pushed.replacedRefusal {
            printError("warning: the bucket held a value that is not the CA's fleet state (\(refusal)); it is replaced")
        }
        print(
            """
            pushed fleet state version \(pushed.bundle.version) to the bucket \(FleetBundle.bucket) (revision \(pushed.revision))
              sha256 \(pushed.bundle.sha256)
              \(files.count) ACL file(s), \(pushed.bundle.inventory.certificates.count) certificate(s), \(pushed.bundle.inventory.certificates.filter(\.revoked).count) revoked
            """)
    }
}

extension FleetPublisher {
    /// After `warden revoke` or `warden enroll` changed the inventory file: the same change in the
    /// bucket's bundle, as its next version. Reports and exits 1 when it cannot be written; the file
    /// keeps the change either way.
    static func amend(
        what: String, certs: CertsOptions, nats: NATSOptions, _ change: @escaping (inout Inventory) -> Void
    ) throws {
        guard let connection = nats.connection(certs: certs) else { return }
        let authority = try runPKI { () throws(PKIError) in try CertificateAuthority.load(layout: certs.layout) }
        let publisher = FleetPublisher(
            authority: authority, connection: connection, host: ProcessInfo.processInfo.hostName)
        do {
            let pushed = try publisher.amend(change)
            print("\(what) in the fleet's bucket too: state version \(pushed.bundle.version)")
        } catch {
            printError("error: \(what) in \(certs.layout.inventory), but not in the fleet's bucket")
            ErrorHints.report(error)
            throw ExitCode(1)
        }
    }
}
