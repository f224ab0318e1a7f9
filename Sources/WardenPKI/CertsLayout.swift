/// Where `warden init` and `warden enroll` keep things inside the certs folder.
public struct CertsLayout: Sendable {
    public let root: String

    public init(root: String) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    public var caDirectory: String { "\(self.root)/ca" }
    public var caCertificate: String { "\(self.caDirectory)/ca.pem" }
    public var caKey: String { "\(self.caDirectory)/key.pem" }

    public var wardenDirectory: String { "\(self.root)/warden" }
    /// Warden's certificate for its client-facing TLS listener.
    public var serverCertificate: String { "\(self.wardenDirectory)/server.pem" }
    public var serverKey: String { "\(self.wardenDirectory)/server-key.pem" }
    /// Warden's own client identity for its connections to NATS.
    public var upstreamCertificate: String { "\(self.wardenDirectory)/client.pem" }
    public var upstreamKey: String { "\(self.wardenDirectory)/client-key.pem" }
    /// Warden's trusted-proxy key for nats-server, an nkey seed (`ProxyKey`).
    public var proxyKey: String { "\(self.wardenDirectory)/proxy.nk" }

    public var natsDirectory: String { "\(self.root)/nats" }
    public var natsCertificate: String { "\(self.natsDirectory)/server.pem" }
    public var natsKey: String { "\(self.natsDirectory)/server-key.pem" }

    public var servicesDirectory: String { "\(self.root)/services" }
    public func serviceDirectory(_ service: String) -> String { "\(self.servicesDirectory)/\(service)" }

    /// Every certificate issued, with its revocation state. A running Warden watches this file.
    public var inventory: String { "\(self.root)/inventory.json" }
}
