import NIOCore

extension ProxyServer {
    /// Lame duck mode, as nats-server's (`nats-server --signal ldm`), for taking one Warden out of a fleet
    /// without its clients noticing more than a reconnect: stops accepting (new connections are refused,
    /// and clients try the next URL they know), tells every client with an INFO carrying `ldm: true`
    /// that it is about to be closed, and closes them over `duration`, spread out so that they do not all
    /// reconnect elsewhere at once. Returns once every client is closed, their last records handed to the
    /// log; what stops then is the caller's (`warden serve` exits 0).
    public func enterLameDuckMode(duration: Duration) async {
        let listener = self.serverChannel.withLockedValue { channel in
            defer { channel = nil }
            return channel
        }
        try? await listener?.close()
        let connections = self.registry.remove { _ in () }.map(\.entry)
        self.logger.info(
            "lame duck mode: no longer accepting; closing the clients over the lame duck duration",
            metadata: ["clients": "\(connections.count)", "duration": "\(duration)"])
        for connection in connections {
            let session = connection.session
            session.eventLoop.execute { session.value.lameDuck() }
        }
        // Spread over the duration, a batch at most every 10 ms.
        let ticks = max(1, min(connections.count, Int(duration / .milliseconds(10))))
        let perTick = (connections.count + ticks - 1) / ticks
        let interval = duration / ticks
        var start = 0
        while start < connections.count {
            try? await Task.sleep(for: interval)
            for connection in connections[start..<min(start + perTick, connections.count)] {
                let session = connection.session
                session.eventLoop.execute { session.value.close(reason: "lame duck mode") }
            }
            start += perTick
        }
        for connection in connections { try? await connection.channel.closeFuture.get() }
        self.logger.info("lame duck mode: every client is closed", metadata: ["closed": "\(connections.count)"])
    }
}
