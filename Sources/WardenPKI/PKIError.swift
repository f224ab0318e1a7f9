/// A credential operation that could not be done: a code to compare, and a message that says what was
/// wrong and where. What to do about it depends on how the operation was asked for: the command line
/// adds its hint by code.
public struct PKIError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        public static let alreadyInitialized = Code("alreadyInitialized")
        public static let notInitialized = Code("notInitialized")
        public static let corrupt = Code("corrupt")
        public static let invalidName = Code("invalidName")
        /// Warden's listener certificate would name no DNS name or IP address.
        public static let noListenerNames = Code("noListenerNames")
        /// The names of Warden's listener certificate in use cannot be read, to be kept at a renewal.
        public static let unreadableListenerNames = Code("unreadableListenerNames")
        /// The inventory names another trust domain than the CA in use.
        public static let trustDomainChanged = Code("trustDomainChanged")
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
