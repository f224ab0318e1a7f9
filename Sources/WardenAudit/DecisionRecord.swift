public import NATSProtocol
import NIOCore
public import WardenPolicy

/// One line of the decision log: who did what, allowed or denied, and which rule said so.
///
/// Records are encoded by hand into bytes (`encode(into:)`): one is written for every operation a
/// client sends, so this stays off Foundation's `JSONEncoder`.
public struct DecisionRecord: Sendable {
    /// What the client tried to do.
    public enum Op: String, Sendable {
        case connect
        case pub
        case sub
        case deliver
    }

    public var decision: PolicyDecision.Verdict
    public var op: Op
    /// The service, or nil when the client could not be identified.
    public var service: String?
    public var conn: UInt64
    public var peer: String
    public var mode: PolicyMode
    /// The rule that decided with its `file:line`, or what decided instead (`default deny`, `mtls`).
    public var rule: String
    /// Subject, reply and sid are the bytes the client or nats-server sent (see `WireString`).
    public var subject: WireString?
    public var queue: String?
    public var reply: WireString?
    /// Payload bytes of a publish (headers excluded).
    public var size: Int?
    /// Why a connection was refused.
    public var reason: String?
    /// The subscription id a dropped delivery was addressed to.
    public var sid: WireString?
    /// The verified identity (URI SAN) and certificate serial of an admitted connection.
    public var identity: String?
    public var serial: String?

    public init(
        decision: PolicyDecision.Verdict, op: Op, service: String?, conn: UInt64, peer: String, mode: PolicyMode,
        rule: String, subject: WireString? = nil, queue: String? = nil, reply: WireString? = nil, size: Int? = nil,
        reason: String? = nil, sid: WireString? = nil, identity: String? = nil, serial: String? = nil
    ) {
        self.decision = decision
        self.op = op
        self.service = service
        self.conn = conn
        self.peer = peer
        self.mode = mode
        self.rule = rule
        self.subject = subject
        self.queue = queue
        self.reply = reply
        self.size = size
        self.reason = reason
        self.sid = sid
        self.identity = identity
        self.serial = serial
    }

    /// Appends the record as one JSON object and a newline, stamped with `microseconds` since the epoch.
    public func encode(into bytes: inout [UInt8], microseconds: Int64) {
        var encoder = RecordEncoder()
        encoder.encode(self, connection: self.connectionFields, microseconds: microseconds)
        encoder.bytes.withUnsafeReadableBytes { bytes.append(contentsOf: $0) }
    }

    /// The record's service, conn and peer, encoded.
    package var connectionFields: ConnectionFields {
        ConnectionFields(service: self.service, conn: self.conn, peer: self.peer)
    }
}
