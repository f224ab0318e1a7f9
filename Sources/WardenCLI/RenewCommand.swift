import ArgumentParser
import WardenPKI

struct RenewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "renew",
        abstract: "Issue Warden's own listener and upstream certificates again, with new keys, from the existing CA.",
        discussion: """
            Services' credentials and the CA stay as they are, and so does what nats-server accepts (Warden's \
            identity is unchanged). The listener keeps its names unless --san is given. A running `warden serve` \
            uses the new certificates for connections made after it gets a SIGHUP.
            """
    )

    @OptionGroup var certs: CertsOptions
    @Option(
        name: .customLong("san"),
        help: "DNS name or IP address for Warden's listener certificate (repeatable; default: the names it has now).")
    var sans: [String] = []
    @Option(
        help: """
            Issue the upstream identity of one Warden instance, spiffe://TRUST-DOMAIN/warden/NAME (then run \
            `warden nats-config` again, so nats-server admits it, and copy certs/warden/ to that instance).
            """)
    var instance: String?

    func run() throws {
        let sans = self.sans.isEmpty ? nil : self.sans
        let (renewed, trustDomain) = try runPKI { () throws(PKIError) in
            let authority = try CertificateAuthority.load(layout: self.certs.layout)
            return (try authority.renewWardenCertificates(sans: sans, instance: self.instance), authority.trustDomain)
        }
        let layout = self.certs.layout
        print(
            """
            renewed Warden's certificates, valid until \(renewed.listener.notAfter)
              listener certificate:    \(layout.serverCertificate) (for \(renewed.names.joined(separator: ", ")))
                                       serial \(renewed.listener.serial)
              upstream identity:       \(layout.upstreamCertificate) (spiffe://\(trustDomain)/warden\(self.instance.map { "/\($0)" } ?? ""))
                                       serial \(renewed.upstream.serial)
            next: send `warden serve` a SIGHUP (kill -HUP "$(pidof warden)") so that new connections use them
            """)
    }
}
