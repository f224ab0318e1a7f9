public import Foundation
import X509

/// What the listener checks client certificates against: Warden's CA and the current inventory,
/// which `warden enroll` and `warden revoke` rewrite and `reloadIfChanged` picks up.
///
/// Needs only the CA certificate, never the CA key: a broker that is compromised cannot issue
/// credentials.
public final class CredentialStore: Sendable {
    /// A verified client: who it is and which certificate it used.
    public struct Admission: Sendable, Hashable {
        public var identity: Identity
        public var serial: String
        public var notAfter: Date

        public init(identity: Identity, serial: String, notAfter: Date) {
            self.identity = identity
            self.serial = serial
            self.notAfter = notAfter
        }
    }

    public let verifier: CredentialVerifier
    public let inventoryPath: String
    /// Whether the inventory is the file's (`reloadIfChanged`), or given (`replace`) by the fleet's bucket.
    public let followsFile: Bool
    private let current: Locked<(inventory: Inventory, stamp: FileStamp?)>

    /// Checks credentials against the CA in `layout` and the inventory file there, watched for changes.
    public convenience init(layout: CertsLayout) throws(PKIError) {
        try self.init(layout: layout, inventory: nil)
    }

    /// Checks credentials against the CA in `layout` and `inventory`, given and replaced by the caller
    /// (`warden serve --fleet`: the fleet's bucket) instead of read from the file.
    public convenience init(layout: CertsLayout, inventory: Inventory) throws(PKIError) {
        try self.init(layout: layout, inventory: Optional(inventory))
    }

    private init(layout: CertsLayout, inventory given: Inventory?) throws(PKIError) {
        let pem: String
        do {
            pem = try String(contentsOfFile: layout.caCertificate, encoding: .utf8)
        } catch {
            throw PKIError(.notInitialized, "cannot read \(layout.caCertificate)")
        }
        let ca: Certificate
        do {
            ca = try Certificate(pemEncoded: pem)
        } catch {
            throw PKIError(.corrupt, "\(layout.caCertificate) is not a PEM certificate: \(error)")
        }
        let inventory: Inventory
        if let given { inventory = given } else { inventory = try Inventory.load(from: layout.inventory) }
        self.verifier = CredentialVerifier(ca: ca, trustDomain: inventory.trustDomain)
        self.inventoryPath = layout.inventory
        self.followsFile = given == nil
        self.current = Locked((inventory, given == nil ? FileStamp(path: layout.inventory) : nil))
    }

    public var trustDomain: String { self.verifier.trustDomain }
    public var inventory: Inventory { self.current.withLockedValue { $0.inventory } }

    /// Verifies a client's leaf certificate (DER) against the CA and the current inventory.
    public func admit(der: [UInt8], now: Date = Date()) -> Result<Admission, CredentialVerifier.Failure> {
        let certificate: Certificate
        do {
            certificate = try Certificate(derEncoded: der)
        } catch {
            return .failure(.init(code: .noIdentity, reason: "client certificate cannot be parsed"))
        }
        return self.verifier.verify(certificate, inventory: self.inventory, now: now).map {
            Admission(
                identity: $0, serial: CertificateAuthority.hex(certificate.serialNumber),
                notAfter: certificate.notValidAfter)
        }
    }

    /// Why the credential with `serial`, valid until `notAfter`, may no longer be used at `now` by the
    /// current inventory (`CredentialVerifier.withdrawal`); nil while it may.
    public func withdrawal(serial: String, notAfter: Date, now: Date = Date()) -> CredentialVerifier.Failure? {
        CredentialVerifier.withdrawal(serial: serial, notAfter: notAfter, inventory: self.inventory, now: now)
    }

    /// Reloads the inventory when its file changed. Returns true when it did. A file that cannot be
    /// read keeps the previous inventory (and the error is thrown), so a half-written edit by hand
    /// does not let anyone in.
    @discardableResult
    public func reloadIfChanged() throws(PKIError) -> Bool {
        guard self.followsFile else { return false }
        let stamp = FileStamp(path: self.inventoryPath)
        guard stamp != self.current.withLockedValue({ $0.stamp }) else { return false }
        let inventory = try Inventory.load(from: self.inventoryPath)
        guard inventory.trustDomain == self.verifier.trustDomain else {
            throw PKIError(
                .trustDomainChanged,
                "\(self.inventoryPath) is for trust domain \(inventory.trustDomain), not \(self.verifier.trustDomain); Warden uses a new CA only when it starts"
            )
        }
        self.current.withLockedValue { $0 = (inventory, stamp) }
        return true
    }

    /// Puts `inventory` in force (from the fleet's bucket); one for another trust domain is refused.
    public func replace(_ inventory: Inventory) throws(PKIError) {
        guard inventory.trustDomain == self.verifier.trustDomain else {
            throw PKIError(
                .trustDomainChanged,
                "the inventory is for trust domain \(inventory.trustDomain), not \(self.verifier.trustDomain)")
        }
        self.current.withLockedValue { $0.inventory = inventory }
    }
}

/// Identifies one version of a file: atomic rewrites (rename) change the inode, edits the time or size.
struct FileStamp: Hashable, Sendable {
    var inode: UInt64
    var size: Int64
    var seconds: Int
    var nanoseconds: Int

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        self.inode = UInt64(info.st_ino)
        self.size = Int64(info.st_size)
        self.seconds = Int(info.st_mtim.tv_sec)
        self.nanoseconds = Int(info.st_mtim.tv_nsec)
    }
}

/// A value behind a lock, for the inventory that the revocation watcher replaces while handshakes read it.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    func withLockedValue<Result>(_ body: (inout Value) -> Result) -> Result {
        self.lock.lock()
        defer { self.lock.unlock() }
        return body(&self.value)
    }
}
