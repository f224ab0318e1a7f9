import CNATS

extension NATSClient {
    /// A nats.c failure: a code to compare, nats.c's status text and, when the server said why, the
    /// server's words.
    public struct Failure: Error, CustomStringConvertible {
        public struct Code: Hashable, Sendable, CustomStringConvertible {
            private let name: String
            private init(_ name: String) { self.name = name }
            public var description: String { self.name }

            /// No server of the list could be reached.
            public static let noServer = Code("noServer")
            /// The operation timed out.
            public static let timeout = Code("timeout")
            /// The connection is closed.
            public static let connectionClosed = Code("connectionClosed")
            /// nats-server refused it (`-ERR 'Permissions Violation ...'`, an authorization failure).
            public static let notPermitted = Code("notPermitted")
            /// What was asked for is not there (a KeyValue bucket or key, a stream).
            public static let notFound = Code("notFound")
            /// A KeyValue update that names the revision it replaces found another one there: someone
            /// else wrote first.
            public static let conflict = Code("conflict")
            /// Anything else nats.c reports: its status text says what.
            public static let other = Code("other")

            init(_ status: natsStatus) {
                switch status {
                case NATS_NO_SERVER: self = .noServer
                case NATS_TIMEOUT: self = .timeout
                case NATS_CONNECTION_CLOSED: self = .connectionClosed
                case NATS_NOT_PERMITTED: self = .notPermitted
                case NATS_NOT_FOUND: self = .notFound
                default: self = .other
                }
            }
        }

        public let code: Code
        public let status: String
        public let detail: String?
        public var description: String { self.detail.map { "\(self.status): \($0)" } ?? self.status }

        init(_ status: natsStatus, detail: String?) {
            self.code = Code(status)
            self.status = String(cString: natsStatus_GetText(status))
            self.detail = detail
        }

        init(code: Code, status: String, detail: String?) {
            self.code = code
            self.status = status
            self.detail = detail
        }
    }
}
