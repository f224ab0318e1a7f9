public import Foundation

/// Every certificate Warden's CA issued, and which are revoked. Stored as JSON in the certs folder and
/// always replaced atomically, so a reader sees the old file or the new one, never half of either.
public struct Inventory: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case service
        case wardenServer = "warden-server"
        case wardenClient = "warden-client"
        case natsServer = "nats-server"
    }

    public struct Entry: Codable, Hashable, Sendable {
        /// Serial number, lowercase hex.
        public var serial: String
        public var kind: Kind
        /// The service name for service credentials.
        public var service: String?
        /// The Warden instance, for an upstream identity of one instance (`Identity.wardenInstance`).
        public var instance: String? = nil
        public var notBefore: Date
        public var notAfter: Date
        public var revoked: Bool
        public var revokedAt: Date?

        enum CodingKeys: String, CodingKey {
            case serial, kind, service, revoked, instance
            case notBefore = "not_before"
            case notAfter = "not_after"
            case revokedAt = "revoked_at"
        }
    }

    public var trustDomain: String
    public var certificates: [Entry]

    enum CodingKeys: String, CodingKey {
        case trustDomain = "trust_domain"
        case certificates
    }

    public init(trustDomain: String, certificates: [Entry] = []) {
        self.trustDomain = trustDomain
        self.certificates = certificates
    }

    public func entry(serial: String) -> Entry? {
        self.certificates.first { $0.serial == serial }
    }

    public static func load(from path: String) throws(PKIError) -> Inventory {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PKIError(.notInitialized, "cannot read the certificate inventory \(path)")
        }
        do {
            return try Self.decoder.decode(Inventory.self, from: data)
        } catch {
            throw PKIError(.corrupt, "the certificate inventory \(path) is corrupt (\(error)); restore it from backup")
        }
    }

    public func save(to path: String) throws(PKIError) {
        let data: Data
        do {
            data = try Self.encoder.encode(self)
        } catch {
            throw PKIError(.io, "cannot encode the certificate inventory: \(error)")
        }
        try SecureFile.write(data, to: path, mode: 0o644)
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}

extension Inventory {
    /// Marks every certificate of `service` revoked at `now` (those already revoked keep their date).
    /// Returns the entries it revoked now.
    @discardableResult
    public mutating func revoke(service: String, now: Date = Date()) -> [Entry] {
        var revoked: [Entry] = []
        for index in self.certificates.indices
        where self.certificates[index].service == service && !self.certificates[index].revoked {
            self.certificates[index].revoked = true
            self.certificates[index].revokedAt = now
            revoked.append(self.certificates[index])
        }
        return revoked
    }

    /// Adds `entry`, or replaces the entry with its serial.
    public mutating func record(_ entry: Entry) {
        self.certificates.removeAll { $0.serial == entry.serial }
        self.certificates.append(entry)
    }
}
