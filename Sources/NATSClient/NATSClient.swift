import CNATS
import Foundation

/// An ordinary NATS client on nats.c (libnats), the way a service would connect: Warden's tools and
/// tests use it to talk to Warden and to nats-server exactly as any other client does.
///
/// Sendable because nats.c connections and subscriptions are safe to use from several threads.
public final class NATSClient: @unchecked Sendable {
    public struct Options: Sendable {
        /// The server, or the servers of a cluster comma-separated (`tls://a:4222,tls://b:4222`).
        public var url: String
        /// CA bundle to verify the server with; setting it makes the connection TLS.
        public var caFile: String?
        public var certificateFile: String?
        public var keyFile: String?
        public var name: String?
        /// Prefix for reply inboxes, e.g. `_INBOX.orders` (see the README on per-service inboxes).
        public var inboxPrefix: String?
        public var timeoutMilliseconds: Int64 = 2000
        /// Receive this connection's own publishes on its matching subscriptions (NATS `echo`).
        public var echo = true
        /// Write each publish to the socket at once (nats.c `SendAsap`) instead of leaving it to
        /// nats.c's flusher thread, which waits about a millisecond to gather more: for measuring
        /// latency, where that wait would hide everything behind it.
        public var sendAsap = false
        /// Keep the connection for good, the way a long-running publisher needs it: connecting does
        /// not wait for the server (a first failure is retried in the background), and a lost
        /// connection is re-established every second, forever. Publishes made meanwhile wait in
        /// nats.c's buffer (8 MiB) and fail once it is full.
        public var persistent = false
        /// The name the server's certificate must carry. nats.c checks none without it.
        public var expectedHostname: String?
        /// Called on nats.c's threads when a persistent connection comes up late, goes down, or comes back.
        public var onConnectionEvent: (@Sendable (ConnectionEvent) -> Void)?

        public init(
            url: String, caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil,
            name: String? = nil, inboxPrefix: String? = nil
        ) {
            self.url = url
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.name = name
            self.inboxPrefix = inboxPrefix
        }
    }

    /// What happened to a persistent connection.
    public enum ConnectionEvent: Sendable, Hashable {
        /// Connected after the first attempt failed.
        case connected
        case disconnected
        case reconnected
        /// The server said (INFO `ldm`) that it is in lame duck mode: it will close the connection soon.
        case lameDuck
    }

    /// A message received on a subscription.
    public struct Message: Sendable {
        public let subject: String
        public let reply: String?
        public let payload: [UInt8]
        /// Header values by key (first value of each), empty for a message without headers.
        public let headers: [String: String]
        public var text: String { String(decoding: self.payload, as: UTF8.self) }
    }

    let connection: OpaquePointer
    private let callbacks: Callbacks

    /// Errors the server reported asynchronously (`-ERR` that keeps the connection open, such as a
    /// permissions violation), oldest first.
    public var asyncErrors: [String] { self.callbacks.errors }

    public init(_ options: Options) throws(Failure) {
        let callbacks = Callbacks()
        callbacks.onEvent = options.onConnectionEvent
        let opts = try Self.makeOptions(options, callbacks: callbacks)
        defer { natsOptions_Destroy(opts) }
        self.connection = try Self.connect(opts, callbacks: callbacks)
        self.callbacks = callbacks
    }

    private init(connection: OpaquePointer, callbacks: Callbacks) {
        self.connection = connection
        self.callbacks = callbacks
    }

    /// Opens `count` connections with the same options, reading the certificate files once instead
    /// of once per connection (with OpenSSL 3 that is most of the cost of a connection). The
    /// connections share one `asyncErrors` log and `onConnectionEvent` handler.
    public static func connect(_ options: Options, count: Int) throws(Failure) -> [NATSClient] {
        let callbacks = Callbacks()
        callbacks.onEvent = options.onConnectionEvent
        let opts = try Self.makeOptions(options, callbacks: callbacks)
        defer { natsOptions_Destroy(opts) }
        var clients: [NATSClient] = []
        clients.reserveCapacity(count)
        for _ in 0..<count {
            clients.append(NATSClient(connection: try Self.connect(opts, callbacks: callbacks), callbacks: callbacks))
        }
        return clients
    }

    /// Calls `body` with C strings of `strings`, valid during the call.
    private static func withCStrings<R>(
        _ strings: [String], _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>) throws(Failure) -> R
    ) throws(Failure) -> R {
        let copies = strings.map { strdup($0) }
        defer { for copy in copies { free(copy) } }
        var pointers = copies.map { UnsafePointer($0) }
        return try pointers.withUnsafeMutableBufferPointer { (buffer) throws(Failure) -> R in
            try body(buffer.baseAddress!)
        }
    }

    private static func makeOptions(_ options: Options, callbacks: Callbacks) throws(Failure) -> OpaquePointer {
        var created: OpaquePointer?
        try Self.check(natsOptions_Create(&created))
        guard let opts = created else {
            throw Failure(code: .other, status: "natsOptions_Create returned no options", detail: nil)
        }
        do {
            // nats.c takes a list of servers only through SetServers: SetURL would read it as one URL.
            let servers = options.url.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if servers.count > 1 {
                try Self.withCStrings(servers) { (pointers) throws(Failure) in
                    try Self.check(natsOptions_SetServers(opts, pointers, Int32(servers.count)))
                }
            } else {
                try Self.check(natsOptions_SetURL(opts, options.url))
            }
            try Self.check(natsOptions_SetTimeout(opts, options.timeoutMilliseconds))
            if options.persistent {
                try Self.check(natsOptions_SetAllowReconnect(opts, true))
                try Self.check(natsOptions_SetMaxReconnect(opts, -1))
                try Self.check(natsOptions_SetReconnectWait(opts, 1000))
                try Self.check(natsOptions_SetReconnectBufSize(opts, 8 << 20))
                let context = Unmanaged.passUnretained(callbacks).toOpaque()
                try Self.check(
                    natsOptions_SetRetryOnFailedConnect(
                        opts, true,
                        { _, closure in
                            closure.map { Unmanaged<Callbacks>.fromOpaque($0).takeUnretainedValue().event(.connected) }
                        }, context))
                try Self.check(
                    natsOptions_SetDisconnectedCB(
                        opts,
                        { _, closure in
                            closure.map {
                                Unmanaged<Callbacks>.fromOpaque($0).takeUnretainedValue().event(.disconnected)
                            }
                        }, context))
                try Self.check(
                    natsOptions_SetReconnectedCB(
                        opts,
                        { _, closure in
                            closure.map {
                                Unmanaged<Callbacks>.fromOpaque($0).takeUnretainedValue().event(.reconnected)
                            }
                        }, context))
            } else {
                try Self.check(natsOptions_SetAllowReconnect(opts, false))
            }
            if options.onConnectionEvent != nil {
                let context = Unmanaged.passUnretained(callbacks).toOpaque()
                try Self.check(
                    natsOptions_SetLameDuckModeCB(
                        opts,
                        { _, closure in
                            closure.map { Unmanaged<Callbacks>.fromOpaque($0).takeUnretainedValue().event(.lameDuck) }
                        }, context))
            }
            if let name = options.name { try Self.check(natsOptions_SetName(opts, name)) }
            if !options.echo { try Self.check(natsOptions_SetNoEcho(opts, true)) }
            if options.sendAsap { try Self.check(natsOptions_SetSendAsap(opts, true)) }
            // Lets go of what `connect` held for the connection: nats.c runs no callback after this one.
            try Self.check(
                natsOptions_SetClosedCB(
                    opts, { _, closure in closure.map { Unmanaged<Callbacks>.fromOpaque($0).release() } },
                    Unmanaged.passUnretained(callbacks).toOpaque()))
            try Self.check(
                natsOptions_SetErrorHandler(
                    opts,
                    { connection, _, _, closure in
                        guard let closure else { return }
                        var text: UnsafePointer<CChar>?
                        _ = natsConnection_GetLastError(connection, &text)
                        let log = Unmanaged<Callbacks>.fromOpaque(closure).takeUnretainedValue()
                        log.append(text.map { String(cString: $0) } ?? "unknown error")
                    }, Unmanaged.passUnretained(callbacks).toOpaque()))
            if let prefix = options.inboxPrefix { try Self.check(natsOptions_SetCustomInboxPrefix(opts, prefix)) }
            if let caFile = options.caFile {
                try Self.check(natsOptions_SetSecure(opts, true))
                try Self.check(natsOptions_LoadCATrustedCertificates(opts, caFile))
            }
            if let host = options.expectedHostname { try Self.check(natsOptions_SetExpectedHostname(opts, host)) }
            if let certificate = options.certificateFile, let key = options.keyFile {
                try Self.check(natsOptions_LoadCertificatesChain(opts, certificate, key))
            }
        } catch {
            natsOptions_Destroy(opts)
            throw error
        }
        return opts
    }

    /// Connects with `opts`, whose callbacks reach `callbacks`. nats.c runs callbacks on a thread of its
    /// own, and may still run one (a disconnect, the close) after the connection was destroyed: each
    /// connection holds `callbacks` until its closed callback, the last one nats.c runs for it.
    private static func connect(_ opts: OpaquePointer, callbacks: Callbacks) throws(Failure) -> OpaquePointer {
        var connection: OpaquePointer?
        let held = Unmanaged.passRetained(callbacks)
        let status = natsConnection_Connect(&connection, opts)
        // A persistent connection that could not connect yet keeps trying in the background.
        guard status == NATS_OK || status == NATS_NOT_YET_CONNECTED, let connection else {
            // No connection, so no closed callback: nothing else will let go of it.
            held.release()
            throw Failure(status, detail: Self.threadError())
        }
        return connection
    }

    deinit {
        natsConnection_Destroy(self.connection)
    }

    public func close() {
        natsConnection_Close(self.connection)
    }

    public var isClosed: Bool { natsConnection_IsClosed(self.connection) }

    /// The servers nats.c learnt from INFO `connect_urls`, as URLs (`nats://HOST:PORT`).
    public var discoveredServers: [String] {
        var servers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        var count: Int32 = 0
        guard natsConnection_GetDiscoveredServers(self.connection, &servers, &count) == NATS_OK, let servers else {
            return []
        }
        defer {
            for index in 0..<Int(count) { free(servers[index]) }
            free(servers)
        }
        return (0..<Int(count)).compactMap { servers[$0].map { String(cString: $0) } }
    }

    /// The URL of the server connected to now, or nil while disconnected.
    public var connectedURL: String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard natsConnection_GetConnectedUrl(self.connection, &buffer, buffer.count) == NATS_OK, buffer[0] != 0 else {
            return nil
        }
        return String(cString: buffer)
    }

    /// Whether the connection is up now (not connecting, reconnecting or closed).
    public var isConnected: Bool { natsConnection_Status(self.connection) == NATS_CONN_STATUS_CONNECTED }

    public func publish(_ subject: String, _ payload: [UInt8], reply: String? = nil) throws(Failure) {
        let status = payload.withUnsafeBytes { buffer in
            if let reply {
                natsConnection_PublishRequest(self.connection, subject, reply, buffer.baseAddress, Int32(buffer.count))
            } else {
                natsConnection_Publish(self.connection, subject, buffer.baseAddress, Int32(buffer.count))
            }
        }
        try self.check(status)
    }

    public func publish(_ subject: String, _ text: String, reply: String? = nil) throws(Failure) {
        try self.publish(subject, Array(text.utf8), reply: reply)
    }

    /// Publishes with headers (HPUB).
    public func publish(_ subject: String, _ text: String, headers: [(String, String)], reply: String? = nil)
        throws(Failure)
    {
        try self.publish(subject, Array(text.utf8), headers: headers, reply: reply)
    }

    /// Publishes bytes with headers (HPUB).
    public func publish(_ subject: String, _ bytes: [UInt8], headers: [(String, String)], reply: String? = nil)
        throws(Failure)
    {
        var message: OpaquePointer?
        try self.check(
            bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) {
                    natsMsg_Create(&message, subject, reply, $0.baseAddress, Int32($0.count))
                }
            })
        defer { natsMsg_Destroy(message) }
        for (key, value) in headers { try self.check(natsMsgHeader_Set(message, key, value)) }
        try self.check(natsConnection_PublishMsg(self.connection, message))
    }

    /// Sends PING and waits for PONG: every operation sent before has been processed by the server.
    public func flush(timeoutMilliseconds: Int64 = 2000) throws(Failure) {
        try self.check(natsConnection_FlushTimeout(self.connection, timeoutMilliseconds))
    }

    public func subscribe(_ subject: String, queue: String? = nil) throws(Failure) -> Subscription {
        var subscription: OpaquePointer?
        let status =
            if let queue {
                natsConnection_QueueSubscribeSync(&subscription, self.connection, subject, queue)
            } else {
                natsConnection_SubscribeSync(&subscription, self.connection, subject)
            }
        try self.check(status)
        return Subscription(subscription!, connection: self)
    }

    /// Sends a request and waits for one reply.
    public func request(_ subject: String, _ text: String, timeoutMilliseconds: Int64 = 2000) throws(Failure) -> Message
    {
        var reply: OpaquePointer?
        let bytes = Array(text.utf8)
        let status = bytes.withUnsafeBytes { buffer in
            natsConnection_Request(
                &reply, self.connection, subject, buffer.baseAddress, Int32(buffer.count), timeoutMilliseconds)
        }
        try self.check(status)
        defer { natsMsg_Destroy(reply) }
        return Message(reply!)
    }

    /// Sends a request with headers (HPUB) and waits for one reply.
    public func request(
        _ subject: String, _ text: String, headers: [(String, String)], timeoutMilliseconds: Int64 = 2000
    ) throws(Failure) -> Message {
        var message: OpaquePointer?
        let bytes = Array(text.utf8)
        try self.check(
            bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) {
                    natsMsg_Create(&message, subject, nil, $0.baseAddress, Int32($0.count))
                }
            })
        defer { natsMsg_Destroy(message) }
        for (key, value) in headers { try self.check(natsMsgHeader_Set(message, key, value)) }
        var reply: OpaquePointer?
        try self.check(natsConnection_RequestMsg(&reply, self.connection, message, timeoutMilliseconds))
        defer { natsMsg_Destroy(reply) }
        return Message(reply!)
    }

    /// The last error the server reported on this connection (e.g. a permissions violation), if any.
    public var lastError: String? {
        var text: UnsafePointer<CChar>?
        let status = natsConnection_GetLastError(self.connection, &text)
        guard status != NATS_OK, let text else { return nil }
        return String(cString: text)
    }

    func check(_ status: natsStatus) throws(Failure) {
        guard status == NATS_OK else {
            throw Failure(status, detail: self.lastError ?? Self.threadError())
        }
    }

    static func check(_ status: natsStatus) throws(Failure) {
        guard status == NATS_OK else {
            throw Failure(status, detail: Self.threadError())
        }
    }

    static func threadError() -> String? {
        guard let text = nats_GetLastError(nil) else { return nil }
        let message = String(cString: text)
        return message.isEmpty ? nil : message
    }
}
