import Foundation

/// A fresh folder under the system's temporary directory, removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init() throws {
        self.path = FileManager.default.temporaryDirectory.appendingPathComponent("warden-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    public func appending(_ component: String) -> String { "\(self.path)/\(component)" }

    deinit {
        try? FileManager.default.removeItem(atPath: self.path)
    }
}
