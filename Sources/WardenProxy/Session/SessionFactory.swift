import Logging
import NIOCore
import WardenPolicy

/// Makes the session of each admitted client, with the collaborators every session shares: the upstream
/// connector, the decision sink, the registry, Warden's INFO, and the limits sessions enforce.
struct SessionFactory: Sendable {
    /// The limits and names a session needs of Warden's configuration.
    struct Settings: Sendable {
        var maxPayload: Int
        /// How many subscriptions a client may have; 0 is no limit.
        var maxSubscriptions: Int
        /// How long a client may take nothing before it is closed as a slow consumer.
        var writeDeadline: TimeAmount
        /// For the identities named in records.
        var trustDomain: String
    }

    let upstream: UpstreamConnector
    let sink: DecisionSink
    let registry: ConnectionRegistry
    let info: InfoSource
    let settings: Settings

    /// The session of a client admitted as `service` on `channel`, decided by `policy`. Called on the
    /// channel's event loop, whose record batch and batch buffers the session shares.
    func makeSession(
        service: String, policy: ServicePolicy?, conn: UInt64, peer: String, channel: any Channel, logger: Logger
    ) -> ProxySession {
        ProxySession(
            clientChannel: channel, logger: logger,
            machine: ProxyStateMachine(
                service: service, policy: policy, conn: conn, peer: peer,
                maxSubscriptions: self.settings.maxSubscriptions),
            upstream: self.upstream, sink: self.sink, registry: self.registry, info: self.info,
            settings: self.settings, records: .current, buffers: .current)
    }
}
