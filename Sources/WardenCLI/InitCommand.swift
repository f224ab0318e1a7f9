import ArgumentParser
import WardenPKI

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the CA and Warden's own server and upstream-client certificates."
    )

    @OptionGroup var certs: CertsOptions
    @Option(help: "Trust domain of every identity (spiffe://TRUST-DOMAIN/...).")
    var trustDomain: String = CertificateAuthority.defaultTrustDomain
    @Option(
        name: .customLong("san"),
        help:
            "DNS name or IP address for Warden's listener certificate (repeatable; default localhost, 127.0.0.1 and ::1)."
    )
    var sans: [String] = []
    @Option(help: "Give this Warden instance its own upstream identity, spiffe://TRUST-DOMAIN/warden/NAME.")
    var instance: String?
    @Flag(help: "Replace an existing CA. Every credential it issued stops working.")
    var force = false

    func run() throws {
        let sans = self.sans.isEmpty ? CertificateAuthority.defaultListenerNames : self.sans
        let authority = try runPKI { () throws(PKIError) in
            try CertificateAuthority.initialize(
                layout: self.certs.layout, trustDomain: self.trustDomain, sans: sans, instance: self.instance,
                force: self.force)
        }
        let layout = authority.layout
        print(
            """
            created the CA for trust domain \(authority.trustDomain) in \(layout.root)
              CA certificate:          \(layout.caCertificate)
              listener certificate:    \(layout.serverCertificate) (for \(sans.joined(separator: ", ")))
              upstream identity:       \(layout.upstreamCertificate) (spiffe://\(authority.trustDomain)/warden\(self.instance.map { "/\($0)" } ?? ""))
            next: `warden enroll SERVICE` for each service, `warden nats-config --listen HOST:PORT` for NATS
            """)
    }
}
