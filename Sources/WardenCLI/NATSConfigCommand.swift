import ArgumentParser
import WardenPKI
import WardenPolicy
import WardenProxy

struct NATSConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nats-config",
        abstract: "Issue nats-server's certificate and print a nats-server config that accepts only Warden.",
        discussion: """
            Save the output, e.g. `warden nats-config --listen 127.0.0.1:4222 > nats.conf`, and run \
            `nats-server -c nats.conf`. For a cluster, run it once per server with that server's --listen, \
            --cluster-listen, --server-name and the other servers' --routes: every server gets the same \
            certificate, which names every host given (add the others with --san) and is kept while it \
            names them all; copy certs/nats/ to each server's machine. Routes are TLS both ways and admit \
            only nats-server's own identity.
            """
    )

    @OptionGroup var certs: CertsOptions
    @Option(help: "Where nats-server listens for Warden, HOST:PORT.") var listen: String
    @Option(name: .customLong("store-dir"), help: "Where JetStream keeps its data (jetstream { store_dir }).")
    var storeDirectory = "jetstream"
    @Flag(name: .customLong("no-jetstream"), help: "Leave JetStream out of the configuration.") var noJetStream = false
    @Option(name: .customLong("cluster-listen"), help: "Where this server listens for routes, HOST:PORT (a cluster).")
    var clusterListen: String?
    @Option(help: "The other servers' route URLs, comma-separated: tls://HOST:PORT,tls://HOST:PORT.")
    var routes: String?
    @Option(name: .customLong("server-name"), help: "This server's name, unique in the cluster.")
    var serverName: String?
    @Option(name: .customLong("cluster-name"), help: "The cluster's name, the same on every server.")
    var clusterName = "warden"
    @Option(help: "Another DNS name or IP address the certificate must carry (repeatable).")
    var san: [String] = []
    @Flag(
        name: .customLong("trusted-proxy"),
        help: """
            Make Warden nats-server's trusted proxy (nats-server 2.12+): Warden signs every upstream CONNECT \
            with certs/warden/proxy.nk (made if missing), and its user is admitted only with that signature.
            """)
    var trustedProxy = false
    @Option(
        name: .customLong("max-pending"),
        help: """
            What nats-server holds for a client that reads nothing before closing it as a slow consumer \
            (max_pending; nats-server's default 64MB), e.g. 8MB. Warden closes the client then.
            """)
    var maxPending: String?
    @Option(
        name: .customLong("write-deadline"),
        help: "How long nats-server waits on a client that reads nothing (write_deadline; default 10s), e.g. 2s.")
    var writeDeadline: String?

    func validate() throws {
        guard let (_, port) = parseHostPort(Substring(self.listen)), port != 0 else {
            throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:4222")
        }
        if let clusterListen, parseHostPort(Substring(clusterListen)).map({ $0.1 != 0 }) != true {
            throw ValidationError("--cluster-listen must be HOST:PORT, e.g. 127.0.0.1:6222")
        }
        if self.clusterListen == nil, self.routes != nil || self.serverName != nil {
            throw ValidationError("--routes and --server-name configure a cluster: give --cluster-listen too")
        }
        if let maxPending = self.maxPending, ByteSize.parse(maxPending) == nil {
            throw ValidationError("--max-pending must be a size in bytes, KB, MB or GB, e.g. 8MB")
        }
        if let writeDeadline = self.writeDeadline, (try? DurationParser.parse(writeDeadline)) == nil {
            throw ValidationError("--write-deadline must be a duration like 10s or 500ms")
        }
        if let routes, self.routeList(routes) == nil {
            throw ValidationError(
                "--routes must be tls://HOST:PORT, comma-separated, e.g. tls://nats-2:6222,tls://nats-3:6222")
        }
    }

    private func routeList(_ text: String) -> [ProxyConfiguration.Upstream]? {
        ProxyConfiguration.Upstream.list(text)
    }

    func run() throws {
        let (host, port) = parseHostPort(Substring(self.listen))!
        var hosts = [host, "localhost", "127.0.0.1"] + self.san
        var cluster: NATSServerConfig.Cluster?
        if let clusterListen {
            let (routeHost, routePort) = parseHostPort(Substring(clusterListen))!
            let routes = self.routes.flatMap(self.routeList) ?? []
            hosts += [routeHost] + routes.map(\.host)
            cluster = NATSServerConfig.Cluster(
                name: self.clusterName, serverName: self.serverName ?? "nats-\(port)", host: routeHost, port: routePort,
                routes: routes.map(\.description))
        }
        let names = Array(Set(hosts.filter { $0 != "0.0.0.0" && $0 != "::" })).sorted()
        let config = try runPKI { () throws(PKIError) in
            let authority = try CertificateAuthority.load(layout: self.certs.layout)
            if !authority.natsServerCertificateCovers(hosts: names) {
                try authority.issueNATSServerCertificate(hosts: names)
            }
            let proxy = self.trustedProxy ? try ProxyKey.loadOrCreate(layout: self.certs.layout) : nil
            return NATSServerConfig.render(
                authority: authority, host: host, port: port,
                jetStreamStore: self.noJetStream ? nil : self.storeDirectory, cluster: cluster,
                trustedProxy: proxy?.publicKey,
                limits: NATSServerConfig.SlowConsumerLimits(
                    maxPending: self.maxPending?.uppercased(), writeDeadline: self.writeDeadline))
        }
        print(config, terminator: "")
    }
}
