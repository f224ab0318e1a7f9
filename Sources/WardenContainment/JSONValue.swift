/// A JSON document as Warden reads it to check a JetStream API request: every value, objects with
/// their members in order and repeated keys kept, so that nothing nats-server would read is lost.
public indirect enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    /// A number as written (its grammar checked): Warden never needs its value.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([Member])

    public struct Member: Hashable, Sendable {
        public var key: String
        public var value: JSONValue
    }

    var string: String? {
        if case .string(let text) = self { return text }
        return nil
    }
}

/// Why a body could not be read: a code to compare, and a message for the decision record and the client.
public struct JSONError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        /// Not JSON: a missing or unexpected character, an unterminated string or escape.
        public static let syntax = Code("syntax")
        /// Text JSON forbids, or that Go and Warden could read two ways: invalid UTF-8, a control
        /// character or a lone surrogate in a string.
        public static let text = Code("text")
        /// Nested deeper than `StrictJSONParser.maxDepth`.
        public static let depth = Code("depth")
        /// More than one value (Go's decoder would let the later override the earlier).
        public static let trailingValue = Code("trailingValue")
    }

    public let code: Code
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }

    public static func == (lhs: JSONError, rhs: JSONError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }
}

/// An RFC 8259 parser that is stricter than Go's `encoding/json`, which nats-server decodes requests
/// with, wherever the two could read one body two ways: it refuses invalid UTF-8, lone surrogates,
/// anything after the first value (nats-server decodes a stream of values, each one overriding the
/// fields of the one before), and nesting deeper than `maxDepth`. Whatever it accepts, Go reads the same.
struct StrictJSONParser {
    static let maxDepth = 32

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0

    private init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONError) -> JSONValue {
        var parser = StrictJSONParser(bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else {
            throw JSONError(.trailingValue, "more than one JSON value in the body (offset \(parser.index))")
        }
        return value
    }

    private mutating func value(depth: Int) throws(JSONError) -> JSONValue {
        guard depth < Self.maxDepth else { throw JSONError(.depth, "JSON nested deeper than \(Self.maxDepth) levels") }
        guard let byte = self.peek() else { throw JSONError(.syntax, "unexpected end of JSON") }
        switch byte {
        case UInt8(ascii: "{"): return try self.object(depth: depth)
        case UInt8(ascii: "["): return try self.array(depth: depth)
        case UInt8(ascii: "\""): return .string(try self.string())
        case UInt8(ascii: "t"):
            try self.literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try self.literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try self.literal("null")
            return .null
        default: return .number(try self.number())
        }
    }

    private mutating func object(depth: Int) throws(JSONError) -> JSONValue {
        self.index += 1
        var members: [JSONValue.Member] = []
        self.skipWhitespace()
        if self.peek() == UInt8(ascii: "}") {
            self.index += 1
            return .object(members)
        }
        while true {
            self.skipWhitespace()
            guard self.peek() == UInt8(ascii: "\"") else { throw self.unexpected("a member name") }
            let key = try self.string()
            self.skipWhitespace()
            guard self.peek() == UInt8(ascii: ":") else { throw self.unexpected("':'") }
            self.index += 1
            self.skipWhitespace()
            members.append(JSONValue.Member(key: key, value: try self.value(depth: depth + 1)))
            self.skipWhitespace()
            switch self.peek() {
            case UInt8(ascii: ","): self.index += 1
            case UInt8(ascii: "}"):
                self.index += 1
                return .object(members)
            default: throw self.unexpected("',' or '}'")
            }
        }
    }

    private mutating func array(depth: Int) throws(JSONError) -> JSONValue {
        self.index += 1
        var elements: [JSONValue] = []
        self.skipWhitespace()
        if self.peek() == UInt8(ascii: "]") {
            self.index += 1
            return .array(elements)
        }
        while true {
            self.skipWhitespace()
            elements.append(try self.value(depth: depth + 1))
            self.skipWhitespace()
            switch self.peek() {
            case UInt8(ascii: ","): self.index += 1
            case UInt8(ascii: "]"):
                self.index += 1
                return .array(elements)
            default: throw self.unexpected("',' or ']'")
            }
        }
    }

    private mutating func string() throws(JSONError) -> String {
        self.index += 1
        var scalars = String.UnicodeScalarView()
        while true {
            guard let byte = self.peek() else { throw JSONError(.syntax, "unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                self.index += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                self.index += 1
                scalars.append(try self.escape())
            case 0..<0x20:
                throw JSONError(.text, "control character in a string (offset \(self.index))")
            case 0..<0x80:
                scalars.append(Unicode.Scalar(byte))
                self.index += 1
            default:
                scalars.append(try self.utf8Scalar())
            }
        }
    }

    private mutating func escape() throws(JSONError) -> Unicode.Scalar {
        guard let byte = self.peek() else { throw JSONError(.syntax, "unterminated escape") }
        self.index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let unit = try self.hex4()
            if (0xD800..<0xDC00).contains(unit) {
                guard self.peek() == UInt8(ascii: "\\"), self.peek(1) == UInt8(ascii: "u") else {
                    throw JSONError(.text, "lone surrogate in a string")
                }
                self.index += 2
                let low = try self.hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw JSONError(.text, "lone surrogate in a string") }
                return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))!
            }
            guard let scalar = Unicode.Scalar(unit) else { throw JSONError(.text, "lone surrogate in a string") }
            return scalar
        default:
            throw JSONError(.syntax, "invalid escape in a string (offset \(self.index - 1))")
        }
    }

    private mutating func hex4() throws(JSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = self.peek() else { throw JSONError(.syntax, "unterminated \\u escape") }
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw JSONError(.syntax, "invalid \\u escape")
            }
            value = value << 4 | digit
            self.index += 1
        }
        return value
    }

    /// One multi-byte UTF-8 sequence, validated (shortest form, no surrogates, at most U+10FFFF).
    private mutating func utf8Scalar() throws(JSONError) -> Unicode.Scalar {
        let lead = self.bytes[self.index]
        let (length, minimum, initial): (Int, UInt32, UInt32)
        switch lead {
        case 0xC2...0xDF: (length, minimum, initial) = (2, 0x80, UInt32(lead & 0x1F))
        case 0xE0...0xEF: (length, minimum, initial) = (3, 0x800, UInt32(lead & 0x0F))
        case 0xF0...0xF4: (length, minimum, initial) = (4, 0x10000, UInt32(lead & 0x07))
        default: throw JSONError(.text, "invalid UTF-8 (offset \(self.index))")
        }
        guard self.index + length <= self.bytes.count else {
            throw JSONError(.text, "invalid UTF-8 (offset \(self.index))")
        }
        var value = initial
        for offset in 1..<length {
            let byte = self.bytes[self.index + offset]
            guard byte & 0xC0 == 0x80 else { throw JSONError(.text, "invalid UTF-8 (offset \(self.index))") }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        guard value >= minimum, let scalar = Unicode.Scalar(value) else {
            throw JSONError(.text, "invalid UTF-8 (offset \(self.index))")
        }
        self.index += length
        return scalar
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func number() throws(JSONError) -> String {
        let start = self.index
        if self.peek() == UInt8(ascii: "-") { self.index += 1 }
        guard let first = self.peek(), Self.isDigit(first) else { throw self.unexpected("a value") }
        self.index += 1
        if first != UInt8(ascii: "0") { self.digits() }
        if self.peek() == UInt8(ascii: ".") {
            self.index += 1
            guard let digit = self.peek(), Self.isDigit(digit) else { throw self.unexpected("a digit") }
            self.digits()
        }
        if self.peek() == UInt8(ascii: "e") || self.peek() == UInt8(ascii: "E") {
            self.index += 1
            if self.peek() == UInt8(ascii: "+") || self.peek() == UInt8(ascii: "-") { self.index += 1 }
            guard let digit = self.peek(), Self.isDigit(digit) else { throw self.unexpected("a digit") }
            self.digits()
        }
        return String(decoding: UnsafeBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self)
    }

    private mutating func digits() {
        while let byte = self.peek(), Self.isDigit(byte) { self.index += 1 }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private mutating func literal(_ word: StaticString) throws(JSONError) {
        let count = word.utf8CodeUnitCount
        guard self.index + count <= self.bytes.count else { throw self.unexpected("a value") }
        for offset in 0..<count where self.bytes[self.index + offset] != word.utf8Start[offset] {
            throw self.unexpected("a value")
        }
        self.index += count
    }

    private mutating func skipWhitespace() {
        while let byte = self.peek(),
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
                || byte == UInt8(ascii: "\r")
        {
            self.index += 1
        }
    }

    private func peek(_ ahead: Int = 0) -> UInt8? {
        self.index + ahead < self.bytes.count ? self.bytes[self.index + ahead] : nil
    }

    private func unexpected(_ expected: String) -> JSONError {
        guard self.index < self.bytes.count else {
            return JSONError(.syntax, "unexpected end of JSON: expected \(expected)")
        }
        return JSONError(.syntax, "invalid JSON at offset \(self.index): expected \(expected)")
    }
}
