public import Foundation
public import WardenPolicy

/// One line of the decision log, read back: the schema `RecordEncoder` writes, defined once for
/// everything that reads the log (`warden denials`, the tests).
public struct DecisionLogEntry: Decodable, Hashable, Sendable {
    public var ts: String
    public var decision: PolicyDecision.Verdict
    public var op: DecisionRecord.Op
    /// Nil for a connection refused before it was identified.
    public var service: String?
    public var conn: UInt64
    public var peer: String
    public var mode: PolicyMode
    public var rule: String
    public var subject: String?
    public var queue: String?
    public var reply: String?
    public var size: Int?
    public var sid: String?
    public var reason: String?
    public var identity: String?
    public var serial: String?
    /// Whether `subject`, `reply` or `sid` came in bytes that are not UTF-8, and are written escaped
    /// (`\xHH` for each such byte, a backslash doubled): the record then reads exactly those bytes.
    public var subjectEscaped = false
    public var replyEscaped = false
    public var sidEscaped = false

    /// Decodes one line (without its newline); throws when it is not a decision record.
    public init(line: some DataProtocol) throws {
        self = try JSONDecoder().decode(Self.self, from: Data(line))
    }

    private enum CodingKeys: String, CodingKey {
        case ts, decision, op, service, conn, peer, mode, rule, subject, queue, reply, size, sid, reason, identity,
            serial
        case subjectEscaped = "subject_escaped"
        case replyEscaped = "reply_escaped"
        case sidEscaped = "sid_escaped"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // Every record has a service, null when the client was not identified: absent is not null.
        guard container.contains(.service) else {
            throw DecodingError.keyNotFound(CodingKeys.service, .init(codingPath: [], debugDescription: "no service"))
        }
        self.ts = try container.decode(String.self, forKey: .ts)
        self.decision = try container.decode(PolicyDecision.Verdict.self, forKey: .decision)
        self.op = try container.decode(DecisionRecord.Op.self, forKey: .op)
        self.service = try container.decodeIfPresent(String.self, forKey: .service)
        self.conn = try container.decode(UInt64.self, forKey: .conn)
        self.peer = try container.decode(String.self, forKey: .peer)
        self.mode = try container.decode(PolicyMode.self, forKey: .mode)
        self.rule = try container.decode(String.self, forKey: .rule)
        self.subject = try container.decodeIfPresent(String.self, forKey: .subject)
        self.queue = try container.decodeIfPresent(String.self, forKey: .queue)
        self.reply = try container.decodeIfPresent(String.self, forKey: .reply)
        self.size = try container.decodeIfPresent(Int.self, forKey: .size)
        self.sid = try container.decodeIfPresent(String.self, forKey: .sid)
        self.reason = try container.decodeIfPresent(String.self, forKey: .reason)
        self.identity = try container.decodeIfPresent(String.self, forKey: .identity)
        self.serial = try container.decodeIfPresent(String.self, forKey: .serial)
        self.subjectEscaped = try container.decodeIfPresent(Bool.self, forKey: .subjectEscaped) ?? false
        self.replyEscaped = try container.decodeIfPresent(Bool.self, forKey: .replyEscaped) ?? false
        self.sidEscaped = try container.decodeIfPresent(Bool.self, forKey: .sidEscaped) ?? false
    }

    /// What the record is about: its subject (with the queue group), or for a connection the reason.
    public var target: String {
        if let subject { return self.queue.map { "\(subject) (queue \($0))" } ?? subject }
        return self.reason ?? "-"
    }

    private static let allowPrefix = Array(#"{"ts":""#.utf8)
    private static let allowField = Array(#"","decision":"allow","#.utf8)

    /// Whether `line` is an allow record, told without decoding it, since nearly every record is
    /// one: `RecordEncoder` writes `ts` first (a fixed-width RFC 3339 time) and `decision` second.
    public static func isAllow(_ line: UnsafeRawBufferPointer) -> Bool {
        let fieldAt = Self.allowPrefix.count + RFC3339.width
        guard line.count > fieldAt + Self.allowField.count, line.starts(with: Self.allowPrefix) else { return false }
        return line[fieldAt..<(fieldAt + Self.allowField.count)].elementsEqual(Self.allowField)
    }
}

extension PolicyDecision.Verdict: Decodable {}
extension PolicyMode: Decodable {}
extension DecisionRecord.Op: Decodable {}
