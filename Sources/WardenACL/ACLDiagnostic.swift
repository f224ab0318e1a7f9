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

/// ACL files that cannot be loaded, with every problem found (not only the first).
public struct ACLLoadError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [ACLDiagnostic]

    public init(_ diagnostics: [ACLDiagnostic]) {
        self.diagnostics = diagnostics
    }

    public var description: String { self.diagnostics.map(\.description).joined(separator: "\n") }
}
