import CNATS

extension NATSClient {
    /// How many servers this connection knows of: those it was given and those the server named in INFO
    /// `connect_urls` (its cluster's).
    public var knownServerCount: Int {
        var servers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        var count: Int32 = 0
        guard natsConnection_GetServers(self.connection, &servers, &count) == NATS_OK, let servers else { return 1 }
        for index in 0..<Int(count) { free(servers[index]) }
        free(servers)
        return max(1, Int(count))
    }

    /// The replicas a JetStream stream or bucket of Warden's gets, "as the cluster allows": three on a
    /// cluster of three or more servers, else one.
    public var clusterReplicas: Int { self.knownServerCount >= 3 ? 3 : 1 }
}
