import ArgumentParser
import WardenPKI
import WardenProxy

struct NATSConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nats-config",
        abstract: "Issue nats-server's certificate and print a nats-server config that accepts only Warden.",
        discussion:
            "Save the output, e.g. `warden nats-config --listen 127.0.0.1:4222 > nats.conf`, and run `nats-server -c nats.conf`."
    )

    @OptionGroup var certs: CertsOptions
    @Option(help: "Where nats-server listens, HOST:PORT.") var listen: String
    @Option(name: .customLong("store-dir"), help: "Where JetStream keeps its data (jetstream { store_dir }).")
    var storeDirectory = "jetstream"
    @Flag(name: .customLong("no-jetstream"), help: "Leave JetStream out of the configuration.") var noJetStream = false

    func run() throws {
        guard let (host, port) = parseHostPort(Substring(self.listen)), port != 0 else {
            throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:4222")
        }
        let hosts = Array(Set([host, "localhost", "127.0.0.1"].filter { $0 != "0.0.0.0" && $0 != "::" })).sorted()
        let config = try runPKI { () throws(PKIError) in
            let authority = try CertificateAuthority.load(layout: self.certs.layout)
            try authority.issueNATSServerCertificate(hosts: hosts)
            return NATSServerConfig.render(
                authority: authority, host: host, port: port,
                jetStreamStore: self.noJetStream ? nil : self.storeDirectory)
        }
        print(config, terminator: "")
    }
}
