public import NATSClient

/// Where and as whom Warden's own NATS connections connect (audit events, heartbeats between Wardens):
/// Warden's upstream servers, with its upstream identity and the CA that signed nats-server's certificate.
public struct WardenConnection: Sendable {
    /// The servers, comma-separated URLs, as nats.c takes them.
    public var url: String
    /// The name (or address) nats-server's certificate must carry: nats.c checks one for every server.
    public var expectedHostname: String
    public var caFile: String
    public var certificateFile: String
    public var keyFile: String

    public init(url: String, expectedHostname: String, caFile: String, certificateFile: String, keyFile: String) {
        self.url = url
        self.expectedHostname = expectedHostname
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }

    /// nats.c options for a connection named `name` that is made in the background and re-made for good,
    /// so that nats-server need not be up yet.
    public func clientOptions(name: String) -> NATSClient.Options {
        var options = NATSClient.Options(
            url: self.url, caFile: self.caFile, certificateFile: self.certificateFile, keyFile: self.keyFile,
            name: name)
        options.persistent = true
        options.expectedHostname = self.expectedHostname
        return options
    }

    /// nats.c options for a connection named `name` that a command makes for one task and closes: it
    /// connects now or fails (within 5 s a server), and is not made again when lost.
    public func oneShotOptions(name: String) -> NATSClient.Options {
        var options = self.clientOptions(name: name)
        options.persistent = false
        options.timeoutMilliseconds = 5000
        return options
    }
}
