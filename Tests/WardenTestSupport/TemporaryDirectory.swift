import Foundation

/// A fresh folder under the system's temporary directory (or under `base`, created if need be),
/// removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(under base: String? = nil) throws {
        self.path = "\(base ?? FileManager.default.temporaryDirectory.path)/warden-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    public func appending(_ component: String) -> String { "\(self.path)/\(component)" }

    deinit {
        try? FileManager.default.removeItem(atPath: self.path)
    }
}
