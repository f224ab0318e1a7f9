import Foundation
import Logging
import NATSClient

/// Makes sure the stream `WARDEN_AUDIT` exists, through JetStream's API as Warden's identity: created when
/// missing, with three replicas on a cluster of three or more servers (`NATSClient.clusterReplicas`), else one.
enum AuditStreamSetup {
    /// Whether the stream exists now; logs why not.
    static func ensureStream(_ client: NATSClient, logger: Logger) -> Bool {
        let stream = AuditStreamFormat.stream
        guard let info = JetStreamAPI.request(client, "$JS.API.STREAM.INFO.\(stream)", "") else {
            logger.warning("audit stream: JetStream does not answer yet; retrying", metadata: ["stream": "\(stream)"])
            return false
        }
        if info["error"] == nil { return true }
        guard JetStreamAPI.errorCode(info) == 10059 else {
            logger.error("audit stream: JetStream refused the stream's info: \(info["error"] ?? "")")
            return false
        }
        var replicas = client.clusterReplicas
        while true {
            let configuration = String(decoding: AuditStreamFormat.configuration(replicas: replicas), as: UTF8.self)
            guard let created = JetStreamAPI.request(client, "$JS.API.STREAM.CREATE.\(stream)", configuration) else {
                return false
            }
            if created["error"] == nil || JetStreamAPI.errorCode(created) == 10058 {
                logger.info(
                    "audit stream: created the stream", metadata: ["stream": "\(stream)", "replicas": "\(replicas)"])
                return true
            }
            // Replicas > 1 on a server that is not clustered: one. Anything else (a cluster still
            // placing its peers) is asked again by the caller.
            guard JetStreamAPI.errorCode(created) == 10074, replicas > 1 else {
                logger.error("audit stream: JetStream refused to create the stream: \(created["error"] ?? "")")
                return false
            }
            replicas = 1
        }
    }
}
