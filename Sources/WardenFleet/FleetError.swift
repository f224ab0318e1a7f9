/// Why the fleet's state could not be read, pushed or put in force: a code to compare, and a message.
public struct FleetError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        /// NATS could not be reached, or its JetStream refused the bucket.
        public static let unreachable = Code("unreachable")
        /// The bucket holds no bundle yet, and there is no verified copy to start from.
        public static let noState = Code("noState")
        /// Another push changed the bucket meanwhile, again and again.
        public static let conflict = Code("conflict")
        /// The bundle is larger than one NATS message may be.
        public static let tooLarge = Code("tooLarge")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }

    public static func == (lhs: FleetError, rhs: FleetError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }
}
