/// One problem in an ACL file, reported as `file:line: message`.
public struct ACLDiagnostic: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(self.file):\(self.line): \(self.message)" }
}

/// ACL files that cannot be loaded: a code to compare, and every problem found (not only the first).
public struct ACLLoadError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        /// The ACL folder does not exist, or is not a folder.
        public static let noFolder = Code("noFolder")
        /// The folder cannot be read, or holds no ACL file.
        public static let noFiles = Code("noFiles")
        /// ACL files with problems, each with its file and line.
        public static let invalid = Code("invalid")
    }

    public var code: Code
    public var diagnostics: [ACLDiagnostic]

    public init(_ diagnostics: [ACLDiagnostic], code: Code = .invalid) {
        self.code = code
        self.diagnostics = diagnostics
    }

    public var description: String { self.diagnostics.map(\.description).joined(separator: "\n") }
}
