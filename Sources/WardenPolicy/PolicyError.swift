/// An error in policy input: what was wrong, as a code to compare and a message for people.
public struct PolicyError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        public static let invalidSubject = Code("invalidSubject")
        public static let invalidQueue = Code("invalidQueue")
        public static let invalidServiceName = Code("invalidServiceName")
        public static let invalidTemplate = Code("invalidTemplate")
        public static let invalidDuration = Code("invalidDuration")
        public static let duplicateService = Code("duplicateService")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }

    public static func == (lhs: PolicyError, rhs: PolicyError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }
}
