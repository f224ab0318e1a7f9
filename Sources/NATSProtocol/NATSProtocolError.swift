/// A violation of the NATS client protocol. nats-server answers each with `-ERR` and closes the
/// connection; `wireText` is the text it sends.
public struct NATSProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        private let name: String
        private init(_ name: String) { self.name = name }

        public static let maxControlLineExceeded = Code("maxControlLineExceeded")
        public static let maxPayloadExceeded = Code("maxPayloadExceeded")
        public static let unknownOperation = Code("unknownOperation")
        public static let malformed = Code("malformed")
    }

    public let code: Code
    /// What was wrong, for logs.
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    /// The text of the `-ERR` nats-server sends for this error.
    public var wireText: String {
        switch self.code {
        case .maxControlLineExceeded: return "Maximum Control Line Exceeded"
        case .maxPayloadExceeded: return "Maximum Payload Violation"
        default: return "Unknown Protocol Operation"
        }
    }

    public var description: String { "\(self.wireText): \(self.detail)" }

    public static func == (lhs: NATSProtocolError, rhs: NATSProtocolError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }
}
