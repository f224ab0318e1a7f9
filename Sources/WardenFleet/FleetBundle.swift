import Crypto
public import Foundation
public import WardenACL
public import WardenPKI
public import WardenPolicy

/// The fleet's state as `warden fleet push` publishes it: every ACL file and the certificate inventory,
/// one version of them, with when and from which host it came. Signed by the CA (`SignedBundle`), kept
/// in the JetStream KeyValue bucket `WARDEN` under `key`.
public struct FleetBundle: Codable, Hashable, Sendable {
    /// The KeyValue bucket of the fleet's state.
    public static let bucket = "WARDEN"
    /// The bucket's key of the bundle.
    public static let key = "bundle"

    /// An ACL file, by the name decisions cite it with (`acls/orders.yaml`), and its text.
    public struct ACLFile: Codable, Hashable, Sendable {
        public var name: String
        public var text: String

        public init(name: String, text: String) {
            self.name = name
            self.text = text
        }
    }

    /// Goes up by one with each bundle pushed; a Warden never takes a version lower than the one in force.
    public var version: UInt64
    public var created: Date
    /// The host `warden fleet push` (or `revoke`, `enroll`) ran on.
    public var host: String
    /// SHA-256 of the ACL files and the inventory, hex: equal contents, equal hashes.
    public var sha256: String
    public var acls: [ACLFile]
    public var inventory: Inventory

    public init(version: UInt64, created: Date = Date(), host: String, acls: [ACLFile], inventory: Inventory) {
        self.version = version
        self.created = created
        self.host = host
        self.acls = acls
        self.inventory = inventory
        self.sha256 = Self.contentHash(acls: acls, inventory: inventory)
    }

    /// The bundle that follows this one, with `inventory` changed by `change` (a revocation, an enrollment).
    public func next(host: String, now: Date = Date(), changing change: (inout Inventory) -> Void) -> FleetBundle {
        var inventory = self.inventory
        change(&inventory)
        let version = self.version == .max ? self.version : self.version + 1
        return FleetBundle(version: version, created: now, host: host, acls: self.acls, inventory: inventory)
    }

    /// The ACLs compiled, as `warden check` compiles the files; errors cite the files' names.
    public func policy() throws(ACLLoadError) -> PolicySnapshot {
        try ACLLoader.load(sources: self.acls.map { ($0.name, $0.text) })
    }

    /// The ACL files of `directory`, named as `warden serve --acls DIR` cites them (`DIR/orders.yaml`).
    /// Fails as `warden check` does, with every problem as `file:line: message`.
    public static func aclFiles(in directory: String) throws(ACLLoadError) -> [ACLFile] {
        _ = try ACLLoader.load(directory: directory)
        let folder = URL(fileURLWithPath: directory).lastPathComponent
        var files: [ACLFile] = []
        for path in try ACLLoader.files(in: directory) {
            // Just loaded and compiled above; a file that vanished since fails the push below, not here.
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            files.append(ACLFile(name: "\(folder)/\(URL(fileURLWithPath: path).lastPathComponent)", text: text))
        }
        return files
    }

    static func contentHash(acls: [ACLFile], inventory: Inventory) -> String {
        struct Content: Encodable {
            var acls: [ACLFile]
            var inventory: Inventory
        }
        let bytes = (try? Self.encoder.encode(Content(acls: acls, inventory: inventory))) ?? Data()
        return SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    /// One encoding everywhere (sorted keys, ISO 8601 dates), so that a hash computed again matches.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    enum CodingKeys: String, CodingKey {
        case version, created, host, sha256, acls, inventory
    }
}
