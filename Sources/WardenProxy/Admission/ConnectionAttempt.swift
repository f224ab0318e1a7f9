import Logging
import NIOCore
import WardenAudit
import WardenPKI
import WardenPolicy

/// One accepted TCP connection on its way to becoming a verified client: the state machine that decides
/// (`AdmissionStateMachine`), shared by the handlers that take the connection through TLS, and what
/// carries out its actions. Used on the connection's event loop only.
final class ConnectionAttempt {
    let context: AdmissionContext
    let conn: UInt64
    let peer: String
    let clientIP: String?
    var logger: Logger
    private(set) var machine = AdmissionStateMachine()
    var deadline: Scheduled<Void>?

    init(context: AdmissionContext, channel: any Channel) {
        self.context = context
        self.conn = context.newConnectionID()
        self.peer = channel.remoteAddress?.peerDescription ?? "unknown"
        self.clientIP = channel.remoteAddress?.ipAddress
        var logger = context.logger
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
            self.context.sink.takeAlone(
                DecisionRecord(
                    decision: .deny, op: .connect, service: nil, conn: self.conn, peer: self.peer, mode: .enforce,
                    rule: "mtls", reason: reason))
            if let wireText {
                channel.writeAndFlush(ByteBuffer(string: "-ERR '\(wireText)'\r\n"), promise: nil)
            }
            channel.close(promise: nil)
        case .admit(let service, let admission, _):
            self.deadline?.cancel()
            let mode = self.context.registry.policy.policy(for: service)?.mode ?? .enforce
            self.context.sink.takeAlone(
                DecisionRecord(
                    decision: .allow, op: .connect, service: service, conn: self.conn, peer: self.peer, mode: mode,
                    rule: "mtls", identity: admission.identity.uri(trustDomain: self.context.credentials.trustDomain),
                    serial: admission.serial))
        }
        return action
    }

    /// The TLS verification callback checked the client's certificate (on the connection's event loop).
    func certificateChecked(_ result: Result<CredentialStore.Admission, AdmissionStateMachine.Refusal>) {
        self.machine.certificateChecked(result)
    }

    func infoLine() -> ByteBuffer {
        let info = self.context.info
        return info.line(clientID: self.conn, clientIP: self.clientIP, connectURLs: info.clientConnectURLs)
    }
}
