import Foundation
public import WardenPolicy

/// The JetStream stream of the fleet's deny records (`warden serve --audit-stream`): its name, its
/// configuration, its subjects, and how a decision log line becomes one of its messages.
public enum AuditStreamFormat {
    public static let stream = "WARDEN_AUDIT"
    /// Each Warden publishes its records to `warden.audit.record.INSTANCE`: under the audit subjects, which
    /// no service may publish to, so that none can forge a record.
    public static let subjectPrefix = "\(auditSubjectPrefix).record"
    /// How long the stream remembers a `Nats-Msg-Id`, to store a record sent again only once.
    public static let duplicateWindowSeconds = 120

    /// The stream's configuration: every record kept (limits retention, no limits), none deleted or
    /// purged through the API, records sent again within the window stored once.
    public static func configuration(replicas: Int) -> [UInt8] {
        Array(
            """
            {"name":"\(stream)","subjects":["\(subjectPrefix).>"],"retention":"limits","storage":"file",\
            "num_replicas":\(replicas),"deny_delete":true,"deny_purge":true,"discard":"old",\
            "duplicate_window":\(duplicateWindowSeconds * 1_000_000_000)}
            """.utf8)
    }

    /// The subject of `instance`'s records: its name as one subject token (`.`, `*`, `>` and spaces as `_`).
    public static func subject(instance: String) -> String {
        let token = String(
            instance.map { $0 == "." || $0 == "*" || $0 == ">" || $0.isWhitespace || !$0.isASCII ? "_" : $0 })
        return "\(subjectPrefix).\(token.isEmpty ? "_" : token)"
    }

    /// The record's `Nats-Msg-Id`: the instance, the log file (inode) and where in it the record ends,
    /// unique per instance and record.
    public static func messageID(instance: String, inode: UInt64, end: Int) -> String {
        "\(instance):\(inode):\(end)"
    }

    /// The stream's message for a decision log line: the record with `"instance"` first.
    public static func message(line: UnsafeRawBufferPointer, instance: String) -> [UInt8] {
        var message = Array("{\"instance\":".utf8)
        message += Self.quoted(instance)
        if line.count > 2 {
            message.append(UInt8(ascii: ","))
            message += line[1...]
        } else {
            message.append(UInt8(ascii: "}"))
        }
        return message
    }

    /// Whether a publish acknowledgement says the record is stored (or was, a duplicate); false for an
    /// error, or an empty answer (nats-server's "no responders": no stream takes the subject). Read as
    /// bytes, not parsed: one comes back for every record of a flood.
    public static func isStored(acknowledgement payload: [UInt8]) -> Bool {
        payload.first == UInt8(ascii: "{") && Self.contains(payload, Self.streamField)
            && Self.contains(payload, Self.sequenceField) && !Self.contains(payload, Self.errorField)
    }

    private static let streamField = Array("\"stream\":\"\(stream)\"".utf8)
    private static let sequenceField = Array("\"seq\":".utf8)
    private static let errorField = Array("\"error\"".utf8)

    private static func contains(_ bytes: [UInt8], _ needle: [UInt8]) -> Bool {
        guard bytes.count >= needle.count else { return false }
        return (0...(bytes.count - needle.count)).contains { start in
            bytes[start] == needle[0] && bytes[start..<(start + needle.count)].elementsEqual(needle)
        }
    }

    private static func quoted(_ text: String) -> [UInt8] {
        (try? JSONEncoder().encode(text)).map { Array($0) } ?? Array("\"\"".utf8)
    }
}
