import ArgumentParser
import Foundation
import WardenFleet
import WardenPKI

struct RevokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke every credential issued to SERVICE; a running Warden closes its connections within 5 s.",
        discussion: """
            With --nats, the revocation is also written to the fleet's bucket WARDEN, as the next version of its \
            state: every Warden started with --fleet closes the service's connections within 5 s.
            """
    )

    @Argument(help: "The service to revoke.") var service: String
    @OptionGroup var certs: CertsOptions
    @OptionGroup var nats: NATSOptions

    func run() throws {
        let revoked = try runPKI { () throws(PKIError) in
            try CertificateAuthority.load(layout: self.certs.layout).revoke(service: self.service)
        }
        if revoked.isEmpty {
            print("every credential of \(self.service) was already revoked")
        } else {
            print(
                "revoked \(revoked.count) credential(s) of \(self.service): \(revoked.map(\.serial).joined(separator: ", "))"
            )
            print("enroll it again to issue a new credential")
        }
        let service = self.service
        try FleetPublisher.amend(what: "revoked \(service)", certs: self.certs, nats: self.nats) { inventory in
            inventory.revoke(service: service)
        }
    }
}
