/// A JSON object read the way Go's `encoding/json` fills a struct from it, which is how nats-server
/// reads JetStream requests: a member sets the field whose name equals its key ignoring case, and of
/// several members for one field the last wins.
///
/// Warden refuses what it could read differently from nats-server instead of guessing: a key that is
/// not ASCII (Go folds Unicode case, so `deliver_ſubject` sets `deliver_subject`), two members for one
/// field, and a member for no field Warden knows (a field a later nats-server adds may name a subject).
struct JSONFields {
    private var fields: [String: JSONValue] = [:]

    /// - Parameters:
    ///   - known: the field names, lower case, as nats-server's struct tags spell them.
    ///   - context: how messages name the object (`consumer config`).
    init(_ value: JSONValue, known: Set<String>, context: String) throws(ContainmentRefusal) {
        guard case .object(let members) = value else {
            throw ContainmentRefusal(.malformed, "the \(context) must be a JSON object")
        }
        for member in members {
            guard member.key.utf8.allSatisfy({ $0 < 0x80 }) else {
                throw ContainmentRefusal(
                    .unreadable, "the \(context) has a non-ASCII field name \(Self.quoted(member.key))")
            }
            let name = member.key.lowercased()
            guard known.contains(name) else {
                throw ContainmentRefusal(
                    .unknown,
                    "the \(context) has the field \(Self.quoted(member.key)), which Warden does not know and so cannot check"
                )
            }
            guard self.fields[name] == nil else {
                throw ContainmentRefusal(
                    .malformed, "the \(context) sets the field \(Self.quoted(name)) more than once")
            }
            self.fields[name] = member.value
        }
    }

    /// The field's value; nil when absent or `null` (Go leaves the field as it was).
    subscript(name: String) -> JSONValue? {
        guard let value = self.fields[name], value != .null else { return nil }
        return value
    }

    /// A string field; nil when absent, null or empty (Go's zero value, which nats-server reads as unset).
    func string(_ name: String, context: String) throws(ContainmentRefusal) -> String? {
        guard let value = self[name] else { return nil }
        guard case .string(let text) = value else {
            throw ContainmentRefusal(.malformed, "\(context).\(name) must be a string")
        }
        return text.isEmpty ? nil : text
    }

    /// A list of strings; empty when absent or null.
    func strings(_ name: String, context: String) throws(ContainmentRefusal) -> [String] {
        guard let value = self[name] else { return [] }
        guard case .array(let elements) = value else {
            throw ContainmentRefusal(.malformed, "\(context).\(name) must be a list of strings")
        }
        var strings: [String] = []
        for element in elements {
            guard case .string(let text) = element else {
                throw ContainmentRefusal(.malformed, "\(context).\(name) must be a list of strings")
            }
            strings.append(text)
        }
        return strings
    }

    /// A nested object's fields; nil when absent or null.
    func object(_ name: String, known: Set<String>, context: String) throws(ContainmentRefusal) -> JSONFields? {
        guard let value = self[name] else { return nil }
        return try JSONFields(value, known: known, context: "\(context).\(name)")
    }

    /// A list of objects; empty when absent or null.
    func objects(_ name: String, known: Set<String>, context: String) throws(ContainmentRefusal) -> [JSONFields] {
        guard let value = self[name] else { return [] }
        guard case .array(let elements) = value else {
            throw ContainmentRefusal(.malformed, "\(context).\(name) must be a list")
        }
        var objects: [JSONFields] = []
        for element in elements where element != .null {
            objects.append(try JSONFields(element, known: known, context: "\(context).\(name)[]"))
        }
        return objects
    }

    /// Whether a boolean field is present and true.
    func isTrue(_ name: String) -> Bool {
        self[name] == .bool(true)
    }

    static func quoted(_ text: String) -> String {
        "\"" + String(text.unicodeScalars.prefix(64).map { $0.isASCII && $0.value >= 0x20 ? Character($0) : "?" })
            + "\""
    }
}

/// Why Warden refuses a request it inspected: a code to compare, and a message that says what was wrong.
public struct ContainmentRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        /// The body or header is not something Warden can read exactly as nats-server does.
        public static let unreadable = Code("unreadable")
        /// Readable, but not the shape nats-server's request or answer has.
        public static let malformed = Code("malformed")
        /// A field or token Warden does not know, and so cannot check.
        public static let unknown = Code("unknown")
        /// A feature whose effect Warden cannot check on a client's behalf (snapshots, restores, sources
        /// in another account or domain, fields that are nats-server's own): for administrators only.
        public static let uncheckable = Code("uncheckable")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }

    public static func == (lhs: ContainmentRefusal, rhs: ContainmentRefusal) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.message) }
}
