import Logging
import NIOConcurrencyHelpers
import NIOCore
import WardenPKI

/// What every connection attempt on one listener shares: the listener's TLS and the credentials it
/// admits by, the limits of admission, where its records go, Warden's INFO, and where an admitted
/// client goes next (its session).
struct AdmissionContext: Sendable {
    /// The limits of admission, from Warden's configuration.
    struct Settings: Sendable {
        /// How long the listener waits for a ClientHello before it sends INFO in plain text.
        var handshakeFirstWindow: TimeAmount
        /// How long a client has from accept to a verified TLS session.
        var handshakeTimeout: TimeAmount
        /// How many clients may be connected at once.
        var maxConnections: Int
    }

    let settings: Settings
    let tls: TLSContextStore
    let credentials: CredentialStore
    let registry: ConnectionRegistry
    let sink: DecisionSink
    let info: InfoSource
    let sessions: SessionFactory
    let logger: Logger
    private let lastConnectionID = NIOLockedValueBox<UInt64>(0)

    init(
        settings: Settings, tls: TLSContextStore, credentials: CredentialStore, registry: ConnectionRegistry,
        sink: DecisionSink, info: InfoSource, sessions: SessionFactory, logger: Logger
    ) {
        self.settings = settings
        self.tls = tls
        self.credentials = credentials
        self.registry = registry
        self.sink = sink
        self.info = info
        self.sessions = sessions
        self.logger = logger
    }

    /// The number of the next connection, for the log and the INFO `client_id`: 1, 2, 3, ...
    func newConnectionID() -> UInt64 {
        self.lastConnectionID.withLockedValue {
            $0 += 1
            return $0
        }
    }
}
