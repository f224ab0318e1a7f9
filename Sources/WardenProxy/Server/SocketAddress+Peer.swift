import NIOCore

extension SocketAddress {
    /// `ip:port`, with IPv6 addresses in brackets, for the decision log's `peer`.
    var peerDescription: String {
        guard let ip = self.ipAddress, let port = self.port else { return "unknown" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
