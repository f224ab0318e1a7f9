import ArgumentParser
import WardenAudit
import WardenProxy

/// `--nats URL[,URL]`: the NATS servers the fleet's commands reach, as Warden itself does, with Warden's
/// upstream identity from the certs folder.
struct NATSOptions: ParsableArguments {
    @Option(help: "NATS servers of the fleet, tls://HOST:PORT, comma-separated for a cluster.")
    var nats: String?
    @Option(
        name: .customLong("nats-ca"),
        help: "PEM file of the CA that signed nats-server's certificate (default: Warden's CA).")
    var natsCA: String?

    func validate() throws {
        if let nats, ProxyConfiguration.Upstream.list(nats) == nil {
            throw ValidationError("--nats must be tls://HOST:PORT or a comma-separated list of them")
        }
    }

    /// How to reach `--nats` as Warden, with the certificates in `certs`; nil without `--nats`.
    func connection(certs: CertsOptions) -> WardenConnection? {
        guard let nats, let servers = ProxyConfiguration.Upstream.list(nats) else { return nil }
        return WardenConnection(upstreams: servers, upstreamCAFile: self.natsCA, certs: certs.layout)
    }
}
