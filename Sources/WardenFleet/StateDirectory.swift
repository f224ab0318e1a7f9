import Foundation
public import WardenPKI

/// `--state-dir`: where a Warden keeps the last bundle it verified and put in force, so that it can start
/// while NATS is unreachable. What it reads back is verified again, as if it came from the bucket.
public struct StateDirectory: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    /// The file of the last verified bundle.
    public var bundleFile: String { "\(self.path)/fleet-state.json" }

    /// Keeps `signed` as the last verified bundle, replacing the previous one atomically.
    public func save(_ signed: SignedBundle) throws(PKIError) {
        try SecureFile.makeDirectory(self.path, mode: 0o700)
        try SecureFile.write(Data(signed.encoded), to: self.bundleFile, mode: 0o600)
    }

    /// The last bundle kept, unverified; nil when there is none.
    public func load() -> [UInt8]? {
        FileManager.default.contents(atPath: self.bundleFile).map { Array($0) }
    }
}
