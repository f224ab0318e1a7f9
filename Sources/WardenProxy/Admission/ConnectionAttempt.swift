import Logging
import NIOCore
import WardenAudit
import WardenPKI
import WardenPolicy

/// One accepted TCP connection on its way to becoming a verified client: the state machine that decides
/// (`AdmissionStateMachine`), shared by the handlers that take the connection through TLS, and what
/// carries out its actions. Used on the connection's event loop only.
final class ConnectionAttempt {
    let env: ProxyEnvironment
    let conn: UInt64
    let peer: String
    let clientIP: String?
    var logger: Logger
    private(set) var machine = AdmissionStateMachine()
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

    /// Feeds the machine an event and carries out what it returns, except `startTLS` and `admit`,
    /// which the handler that fed it carries out (it returns them).
    @discardableResult
    func handle(
        _ event: (inout AdmissionStateMachine) -> AdmissionStateMachine.Action, channel: any Channel
    ) -> AdmissionStateMachine.Action {
        let action = event(&self.machine)
        switch action {
        case .none, .startTLS:
            break
        case .sendInfo:
            channel.writeAndFlush(self.infoLine(), promise: nil)
        case .refuse(let reason, let wireText):
            self.deadline?.cancel()
            self.logger.info("connection refused", metadata: ["reason": "\(reason)"])
            self.env.sink.takeAlone(
                DecisionRecord(
                    decision: .deny, op: .connect, service: nil, conn: self.conn, peer: self.peer, mode: .enforce,
                    rule: "mtls", reason: reason))
            if let wireText {
                channel.writeAndFlush(ByteBuffer(string: "-ERR '\(wireText)'\r\n"), promise: nil)
            }
            channel.close(promise: nil)
        case .admit(let service, let admission, _):
            self.deadline?.cancel()
            let mode = self.env.registry.policy.policy(for: service)?.mode ?? .enforce
            self.env.sink.takeAlone(
                DecisionRecord(
                    decision: .allow, op: .connect, service: service, conn: self.conn, peer: self.peer, mode: mode,
                    rule: "mtls", identity: admission.identity.uri(trustDomain: self.env.credentials.trustDomain),
                    serial: admission.serial))
        }
        return action
    }

    /// The TLS verification callback checked the client's certificate (on the connection's event loop).
    func certificateChecked(_ result: Result<CredentialStore.Admission, AdmissionStateMachine.Refusal>) {
        self.machine.certificateChecked(result)
    }

    func infoLine() -> ByteBuffer {
        self.env.infoLine(clientID: self.conn, clientIP: self.clientIP, connectURLs: self.env.clientConnectURLs)
    }
}
