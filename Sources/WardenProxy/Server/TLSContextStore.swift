import Foundation
import NIOConcurrencyHelpers
import NIOSSL

/// Warden's TLS contexts in use: the listener's and the upstream connections'. Replaced as a pair when
/// Warden's certificates are reloaded (`reload`); a connection keeps the context it started with.
final class TLSContextStore: Sendable {
    private let configuration: ProxyConfiguration
    private let contexts: NIOLockedValueBox<TLSContexts>

    /// Loads the contexts from the files of `configuration`; throws when they cannot be loaded.
    init(configuration: ProxyConfiguration) throws {
        self.configuration = configuration
        self.contexts = NIOLockedValueBox(try TLSContexts(configuration: configuration))
    }

    /// For the listener: Warden's server certificate, client certificates required.
    var listener: NIOSSLContext { self.contexts.withLockedValue { $0.listener } }

    /// For connections to nats-server: Warden's upstream identity, nats-server's certificate verified.
    var upstream: NIOSSLContext { self.contexts.withLockedValue { $0.upstream } }

    /// When the certificates in use expire: the listener's and the upstream identity's.
    var notAfter: (listener: Date, upstream: Date) {
        self.contexts.withLockedValue { ($0.listenerNotAfter, $0.upstreamNotAfter) }
    }

    /// Reads the certificates, keys and trust roots again, for the connections made from now on. Throws,
    /// and keeps the contexts in use, when they cannot be loaded.
    func reload() throws {
        let contexts = try TLSContexts(configuration: self.configuration)
        self.contexts.withLockedValue { $0 = contexts }
    }
}
