/// Why the decision log or the audit events could not do their work: a code to compare, and a message
/// that says what, where and why.
public struct AuditError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        /// The decision log's file cannot be opened for appending.
        public static let logUnavailable = Code("logUnavailable")
        /// Records were given up on at shutdown because the file refused them.
        public static let recordsLost = Code("recordsLost")
        /// The audit events' NATS connection cannot be set up.
        public static let eventsUnavailable = Code("eventsUnavailable")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }

    public static func == (lhs: AuditError, rhs: AuditError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }
}
