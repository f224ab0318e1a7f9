import Logging
import ServiceLifecycle
import UnixSignals
import WardenAudit
import WardenPeers

/// What an operator asks of a running Warden by signal, as of nats-server (`nats-server --signal`):
/// SIGHUP reloads the ACL files (`ProxyServer.reloadACLs`) and Warden's own certificates
/// (`ProxyServer.reloadCertificates`, after `warden renew`), SIGUSR1 reopens the decision log, SIGUSR2
/// enters lame duck mode (`ProxyServer.enterLameDuckMode`), after which this service returns and Warden
/// stops.
struct OperatorSignals: Service {
    let signals: UnixSignalsSequence
    let server: ProxyServer
    let peers: PeerBeacon?
    let log: DecisionLog
    /// The ACL files' folder; nil when the ACLs come from the fleet's bucket, which SIGHUP does not read.
    let aclDirectory: String?
    let lameDuckDuration: Duration
    let logger: Logger

    func run() async throws {
        for await signal in self.signals.cancelOnGracefulShutdown() {
            switch signal {
            case .sighup:
                if let directory = self.aclDirectory {
                    self.logger.info(
                        "SIGHUP: reloading the ACLs and Warden's certificates", metadata: ["directory": "\(directory)"])
                    await self.server.reloadACLs(directory: directory)
                } else {
                    self.logger.info(
                        "SIGHUP: reloading Warden's certificates; the ACLs come from the fleet's bucket (`warden fleet push`)"
                    )
                }
                self.server.reloadCertificates()
            case .sigusr1:
                self.logger.info("SIGUSR1: reopening the decision log", metadata: ["path": "\(self.log.path)"])
                self.log.reopen()
            case .sigusr2:
                self.logger.info("SIGUSR2: entering lame duck mode")
                // The other Wardens stop naming this one to their clients, which move there.
                self.peers?.leave()
                // A SIGTERM meanwhile ends the spreading out: the rest are closed at once.
                await cancelWhenGracefulShutdown {
                    await self.server.enterLameDuckMode(duration: self.lameDuckDuration)
                }
                return
            default:
                break
            }
        }
    }
}
