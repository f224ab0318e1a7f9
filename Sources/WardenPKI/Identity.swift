import WardenPolicy

/// Who a certificate speaks for, from its URI SAN: `spiffe://TRUST-DOMAIN/service/NAME` for a service,
/// `spiffe://TRUST-DOMAIN/warden` for Warden itself.
public enum Identity: Hashable, Sendable {
    case service(String)
    case warden
    /// One Warden instance's own upstream identity (`warden init/renew --instance NAME`), so that
    /// nats-server tells the instances apart and each can be withdrawn alone.
    case wardenInstance(String)
    /// nats-server's own certificate (`warden nats-config`): the identity its cluster routes are mapped
    /// to, so that no other credential of Warden's CA can join the cluster as a route.
    case natsServer

    public func uri(trustDomain: String) -> String {
        switch self {
        case .service(let name): return "spiffe://\(trustDomain)/service/\(name)"
        case .warden: return "spiffe://\(trustDomain)/warden"
        case .natsServer: return "spiffe://\(trustDomain)/nats-server"
        case .wardenInstance(let name): return "spiffe://\(trustDomain)/warden/\(name)"
        }
    }

    /// The identity a URI names within `trustDomain`, or nil when it names none.
    public init?(uri: String, trustDomain: String) {
        let prefix = "spiffe://\(trustDomain)/"
        guard uri.hasPrefix(prefix) else { return nil }
        let path = uri.dropFirst(prefix.count)
        if path == "warden" {
            self = .warden
            return
        }
        if path == "nats-server" {
            self = .natsServer
            return
        }
        let instancePrefix = "warden/"
        if path.hasPrefix(instancePrefix) {
            let name = String(path.dropFirst(instancePrefix.count))
            guard (try? ServiceName.validate(name)) != nil else { return nil }
            self = .wardenInstance(name)
            return
        }
        let servicePrefix = "service/"
        guard path.hasPrefix(servicePrefix) else { return nil }
        let name = String(path.dropFirst(servicePrefix.count))
        guard (try? ServiceName.validate(name)) != nil else { return nil }
        self = .service(name)
    }
}
