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

    func run() throws {
        let sans = self.sans.isEmpty ? nil : self.sans
        let renewed = try runPKI { () throws(PKIError) in
            try CertificateAuthority.load(layout: self.certs.layout).renewWardenCertificates(sans: sans)
        }
        let layout = self.certs.layout
        print(
            """
            renewed Warden's certificates, valid until \(renewed.listener.notAfter)
              listener certificate:    \(layout.serverCertificate) (for \(renewed.names.joined(separator: ", ")))
                                       serial \(renewed.listener.serial)
              upstream identity:       \(layout.upstreamCertificate)
                                       serial \(renewed.upstream.serial)
            next: send `warden serve` a SIGHUP (kill -HUP "$(pidof warden)") so that new connections use them
            """)
    }
}
