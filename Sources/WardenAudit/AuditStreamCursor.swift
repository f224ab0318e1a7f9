import Foundation

/// How far the stream has acknowledged the decision log: which file (inode and device) and where in it.
/// Kept beside the log (`LOG.stream-cursor`), replaced atomically, read back at start.
public struct AuditStreamCursor: Codable, Hashable, Sendable {
    public var inode: UInt64
    public var device: UInt64
    public var offset: Int

    public init(inode: UInt64, device: UInt64, offset: Int) {
        self.inode = inode
        self.device = device
        self.offset = offset
    }

    /// The cursor file of the decision log at `logPath`.
    public static func path(logPath: String) -> String { logPath + ".stream-cursor" }

    public static func load(logPath: String) -> AuditStreamCursor? {
        guard let data = FileManager.default.contents(atPath: Self.path(logPath: logPath)) else { return nil }
        return try? JSONDecoder().decode(AuditStreamCursor.self, from: data)
    }

    /// Writes the cursor (to a temporary file, then renamed over the old one).
    public func save(logPath: String) throws {
        let path = Self.path(logPath: logPath)
        let temporary = path + ".tmp"
        try JSONEncoder().encode(self).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
