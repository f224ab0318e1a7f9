/// A credential operation that could not be done: a code to compare, and a message that says what was
/// wrong, where, and what to do.
public struct PKIError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        public static let alreadyInitialized = Code("alreadyInitialized")
        public static let notInitialized = Code("notInitialized")
        public static let corrupt = Code("corrupt")
        public static let invalidName = Code("invalidName")
        public static let invalidLifetime = Code("invalidLifetime")
        public static let unknownService = Code("unknownService")
        public static let io = Code("io")
        public static let issuance = Code("issuance")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }

    public static func == (lhs: PKIError, rhs: PKIError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }
}
