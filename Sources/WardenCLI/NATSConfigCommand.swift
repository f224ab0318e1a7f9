import ArgumentParser
import WardenPKI

struct NATSConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nats-config",
        abstract: "Issue nats-server's certificate and print a nats-server config that accepts only Warden.",
        discussion: "Save the output, e.g. `warden nats-config --listen 127.0.0.1:4222 > nats.conf`, and run `nats-server -c nats.conf`."
    )

    @OptionGroup var certs: CertsOptions
    @Option(help: "Where nats-server listens, HOST:PORT.") var listen: String

    func run() throws {
        guard let colon = self.listen.lastIndex(of: ":"), let port = Int(self.listen[self.listen.index(after: colon)...]),
            (1...65535).contains(port)
        else {
            throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:4222")
        }
        var host = String(self.listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ValidationError("--listen must name a host, e.g. 127.0.0.1:4222") }
        let hosts = Array(Set([host, "localhost", "127.0.0.1"].filter { $0 != "0.0.0.0" && $0 != "::" })).sorted()
        let config = try runPKI { () throws(PKIError) in
            let authority = try CertificateAuthority.load(layout: self.certs.layout)
            try authority.issueNATSServerCertificate(hosts: hosts)
            return NATSServerConfig.render(authority: authority, host: host, port: port)
        }
        print(config, terminator: "")
    }
}
