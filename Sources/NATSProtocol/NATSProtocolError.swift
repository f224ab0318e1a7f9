/// A violation of the NATS client protocol. nats-server closes the connection for each, after an `-ERR`
/// with `wireText` when there is one.
public struct NATSProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        private let name: String
        private init(_ name: String) { self.name = name }

        public static let maxControlLineExceeded = Code("maxControlLineExceeded")
        public static let maxPayloadExceeded = Code("maxPayloadExceeded")
        public static let unknownOperation = Code("unknownOperation")
        public static let malformed = Code("malformed")
        /// A known operation with arguments nats-server cannot use (PUB, HPUB or SUB with the wrong number
        /// of them, a size that is not a number or a header larger than the message): it closes the
        /// connection without a word.
        public static let invalidArguments = Code("invalidArguments")
    }

    public let code: Code
    /// What was wrong, for logs.
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    /// The text of the `-ERR` nats-server 2.15 sends for this error, or nil when it closes without one.
    public var wireText: String? {
        switch self.code {
        case .maxControlLineExceeded: return "maximum control line exceeded"
        case .maxPayloadExceeded: return "Maximum Payload Violation"
        case .invalidArguments: return nil
        default: return "Unknown Protocol Operation"
        }
    }

    public var description: String { "\(self.wireText ?? "invalid arguments"): \(self.detail)" }

    public static func == (lhs: NATSProtocolError, rhs: NATSProtocolError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }
}
