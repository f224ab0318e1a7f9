import ArgumentParser
import WardenFleet
import WardenPKI
import WardenPolicy

struct EnrollCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Issue a service credential into DIR/services/SERVICE/ (cert.pem, key.pem, ca.pem).",
        discussion: """
            Enrolling a service again rotates its credential: a new key and certificate. With --nats, the new \
            certificate is also written to the fleet's bucket WARDEN, so that every Warden started with --fleet \
            admits it.
            """
    )

    @Argument(help: "Service name: letters, digits, '-' and '_'.") var service: String
    @OptionGroup var certs: CertsOptions
    @OptionGroup var nats: NATSOptions
    @Option(help: "Lifetime of the credential, e.g. 90d, 24h, 30m.")
    var ttl: String = DurationParser.format(CertificateAuthority.defaultServiceLifetime)

    func run() throws {
        let lifetime: Duration
        do {
            lifetime = try DurationParser.parse(self.ttl)
        } catch {
            throw ValidationError("--ttl: \(error.message)")
        }
        let entry = try runPKI { () throws(PKIError) in
            try CertificateAuthority.load(layout: self.certs.layout).enroll(service: self.service, lifetime: lifetime)
        }
        let directory = self.certs.layout.serviceDirectory(self.service)
        print(
            """
            enrolled \(self.service): serial \(entry.serial), valid until \(entry.notAfter)
              \(directory)/cert.pem
              \(directory)/key.pem (mode 0600)
              \(directory)/ca.pem
            """)
        try FleetPublisher.amend(what: "enrolled \(self.service)", certs: self.certs, nats: self.nats) { inventory in
            inventory.record(entry)
        }
    }
}
