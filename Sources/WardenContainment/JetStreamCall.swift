/// A publish to the JetStream API (`$JS.API.…`, or `$JS.<domain>.API.…`, which nats-server maps onto
/// it), told apart by its subject. Only the calls whose body or subject makes nats-server read or
/// publish on the caller's behalf are inspected; every other call is decided by the publish ACL on
/// its subject alone.
public struct JetStreamCall: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        case streamCreate
        case streamUpdate
        /// `CONSUMER.CREATE.<stream>[.<name>[.<filter>]]`
        case consumerCreate
        /// `CONSUMER.DURABLE.CREATE.<stream>.<durable>`
        case durableCreate
        /// `STREAM.MSG.GET.<stream>`: the stored message comes back in the JSON answer.
        case messageGet
        /// `DIRECT.GET.<stream>[.<subject>]`: the stored message comes back as the answer.
        case directGet
        /// `STREAM.SNAPSHOT.<stream>`, `STREAM.RESTORE.<stream>`: a whole stream's data as one archive.
        case snapshot
        case restore
        /// `STREAM.INFO.<stream>`: with `subjects_filter`, the subjects stored and their message counts.
        case streamInfo
    }

    public var kind: Kind
    public var stream: String
    /// The subject part after the call's fixed tokens: a consumer's filter (`CONSUMER.CREATE.S.C.<filter>`,
    /// nats.go's form since 1.31), or a direct get's subject (`DIRECT.GET.S.<subject>`).
    public var subject: String?

    /// The type nats-server's answer to this call carries (`io.nats.jetstream.api.v1.…`); nil for
    /// a direct get, which answers with a status header instead of JSON.
    public var responseType: String? {
        let name: String
        switch self.kind {
        case .streamCreate: name = "stream_create_response"
        case .streamUpdate: name = "stream_update_response"
        case .consumerCreate, .durableCreate: name = "consumer_create_response"
        case .messageGet: name = "stream_msg_get_response"
        case .directGet: return nil
        case .snapshot: name = "stream_snapshot_response"
        case .restore: name = "stream_restore_response"
        case .streamInfo: name = "stream_info_response"
        }
        return "io.nats.jetstream.api.v1." + name
    }

    /// Whether `subject` (UTF-8 bytes) is under a JetStream API prefix, `$JS.API.` or `$JS.<domain>.API.`:
    /// the cheap test the publish path makes first, which acks (`$JS.ACK.…`) mostly fail at once.
    public static func isAPISubject(_ subject: UnsafeBufferPointer<UInt8>) -> Bool {
        guard subject.count > 8, subject[0] == UInt8(ascii: "$"), subject[1] == UInt8(ascii: "J"),
            subject[2] == UInt8(ascii: "S"), subject[3] == UInt8(ascii: ".")
        else { return false }
        var start = 4
        if !Self.isAPI(subject, at: start) {
            // `$JS.<domain>.API.`: skip one token.
            guard let dot = subject[start...].firstIndex(of: UInt8(ascii: ".")) else { return false }
            start = dot + 1
        }
        return Self.isAPI(subject, at: start)
    }

    private static func isAPI(_ subject: UnsafeBufferPointer<UInt8>, at start: Int) -> Bool {
        start + 4 <= subject.count && subject[start] == UInt8(ascii: "A") && subject[start + 1] == UInt8(ascii: "P")
            && subject[start + 2] == UInt8(ascii: "I") && subject[start + 3] == UInt8(ascii: ".")
    }

    /// The call a publish to `subject` makes, or nil when it is none that Warden inspects.
    public init?(subject: String) {
        var tokens = subject.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard tokens.count >= 2, tokens[0] == "$JS" else { return nil }
        // `$JS.<domain>.API.…` reaches the same API when nats-server has a JetStream domain.
        if tokens[1] != "API" {
            guard tokens.count >= 3, tokens[2] == "API" else { return nil }
            tokens.remove(at: 1)
        }
        let api = Array(tokens.dropFirst(2))
        func rest(from index: Int) -> String? {
            api.count > index ? api[index...].joined(separator: ".") : nil
        }
        switch (api.first, api.count > 1 ? api[1] : nil) {
        case ("STREAM", "CREATE") where api.count == 3: self.init(.streamCreate, api[2])
        case ("STREAM", "UPDATE") where api.count == 3: self.init(.streamUpdate, api[2])
        case ("STREAM", "SNAPSHOT") where api.count == 3: self.init(.snapshot, api[2])
        case ("STREAM", "RESTORE") where api.count == 3: self.init(.restore, api[2])
        case ("STREAM", "INFO") where api.count == 3: self.init(.streamInfo, api[2])
        case ("STREAM", "MSG") where api.count == 4 && api[2] == "GET": self.init(.messageGet, api[3])
        case ("DIRECT", "GET") where api.count >= 3: self.init(.directGet, api[2], subject: rest(from: 3))
        case ("CONSUMER", "CREATE") where api.count >= 3: self.init(.consumerCreate, api[2], subject: rest(from: 4))
        case ("CONSUMER", "DURABLE") where api.count >= 4 && api[2] == "CREATE":
            self.init(.durableCreate, api[3])
        default: return nil
        }
    }

    private init(_ kind: Kind, _ stream: String, subject: String? = nil) {
        self.kind = kind
        self.stream = stream
        self.subject = subject
    }

    /// How many tokens of a call's subject are fixed before the part that may hold wildcards: the
    /// subject part of `CONSUMER.CREATE.S.C.<filter>` and `DIRECT.GET.S.<subject>` is a subject of its
    /// own, not a wildcard publish. Nil when a wildcard anywhere makes the publish a wildcard publish.
    public static func literalPrefixTokens(subject: String) -> Int? {
        guard let call = JetStreamCall(subject: subject), call.subject != nil else { return nil }
        let domain = subject.hasPrefix("$JS.API.") ? 0 : 1
        switch call.kind {
        case .consumerCreate: return 6 + domain
        case .directGet: return 5 + domain
        default: return nil
        }
    }
}
