import Logging
import NATSProtocol
import NIOCore
import NIOSSL
import NIOTLS
import WardenAudit
import WardenPKI
import WardenPolicy

/// One accepted TCP connection on its way to becoming a verified client: shared by the handlers that
/// take it through TLS, and the place that makes sure the attempt gets exactly one `connect` record.
final class ConnectionAttempt {
    let env: ProxyEnvironment
    let conn: UInt64
    let peer: String
    let clientIP: String?
    var logger: Logger
    /// INFO went out in plain text before the handshake (the usual NATS order).
    var infoSent = false
    var recorded = false
    /// Set by the TLS verification callback.
    var admission: CredentialStore.Admission?
    var failure: String?
    var deadline: Scheduled<Void>?

    init(env: ProxyEnvironment, channel: any Channel) {
        self.env = env
        self.conn = env.newConnectionID()
        self.peer = channel.remoteAddress?.peerDescription ?? "unknown"
        self.clientIP = channel.remoteAddress?.ipAddress
        var logger = env.logger
        logger[metadataKey: "conn"] = "\(self.conn)"
        logger[metadataKey: "peer"] = "\(self.peer)"
        self.logger = logger
    }

    func infoLine() -> ByteBuffer {
        ByteBuffer(
            string: ServerInfo.warden(
                serverID: self.env.serverID, clientID: self.conn, clientIP: self.clientIP,
                maxPayload: self.env.configuration.maxPayload, upstream: self.env.upstreamInfo))
    }

    /// Records the refusal (once) and closes the connection.
    func refuse(_ reason: String, channel: any Channel, service: String? = nil) {
        self.deadline?.cancel()
        if !self.recorded {
            self.recorded = true
            self.logger.info("connection refused", metadata: ["reason": "\(reason)"])
            self.env.sink.takeAlone(
                DecisionRecord(
                    decision: .deny, op: .connect, service: service, conn: self.conn, peer: self.peer, mode: .enforce,
                    rule: "mtls", reason: reason))
        }
        channel.close(promise: nil)
    }

    /// Records the admission (once).
    func admit(service: String, admission: CredentialStore.Admission, mode: PolicyMode) {
        self.deadline?.cancel()
        guard !self.recorded else { return }
        self.recorded = true
        self.env.sink.takeAlone(
            DecisionRecord(
                decision: .allow, op: .connect, service: service, conn: self.conn, peer: self.peer, mode: mode,
                rule: "mtls", identity: admission.identity.uri(trustDomain: self.env.credentials.trustDomain),
                serial: admission.serial))
    }
}
