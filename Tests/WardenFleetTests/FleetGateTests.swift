import Foundation
import Testing
import WardenFleet
import WardenPKI
import WardenTestSupport

/// What a Warden takes from the bucket: only bundles the CA signed, whole, for its trust domain, with
/// ACLs that compile, and newer than the one in force. Real CAs in temporary folders, no NATS.
@Suite struct FleetGateTests {
    static let acls = [
        FleetBundle.ACLFile(
            name: "acls/orders.yaml", text: "services:\n  orders:\n    publish:\n      allow: [\"orders.>\"]\n")
    ]

    /// A CA with `orders` enrolled, and a gate that checks against it.
    static func authority() throws -> (TemporaryDirectory, CertificateAuthority, FleetGate) {
        let directory = try TemporaryDirectory()
        let layout = CertsLayout(root: directory.appending("certs"))
        let authority = try CertificateAuthority.initialize(layout: layout, trustDomain: "fleet.test")
        try authority.enroll(service: "orders")
        let gate = FleetGate(ca: authority.certificate, trustDomain: "fleet.test")
        return (directory, authority, gate)
    }

    static func bundle(_ version: UInt64, _ authority: CertificateAuthority, acls: [FleetBundle.ACLFile] = acls)
        throws -> SignedBundle
    {
        let inventory = try Inventory.load(from: authority.layout.inventory)
        return try SignedBundle.sign(
            FleetBundle(version: version, host: "test", acls: acls, inventory: inventory), by: authority)
    }

    @Test func aSignedNewerBundleIsTakenAndTheSameOneAgainChangesNothing() throws {
        var (directory, authority, gate) = try Self.authority()
        _ = directory
        let first = try Self.bundle(1, authority)
        guard case .apply(let state) = gate.offer(first.encoded) else {
            Issue.record("a signed bundle was not taken")
            return
        }
        #expect(state.bundle.version == 1)
        #expect(state.policy.services.keys.contains("orders"))
        #expect(gate.version == 1)
        guard case .unchanged = gate.offer(first.encoded) else {
            Issue.record("the bundle in force, offered again, must change nothing")
            return
        }
        guard case .apply = gate.offer(try Self.bundle(2, authority).encoded) else {
            Issue.record("a newer bundle was not taken")
            return
        }
        #expect(gate.version == 2)
    }

    @Test func anOlderOrEqualVersionIsRefusedAsStale() throws {
        var (directory, authority, gate) = try Self.authority()
        _ = directory
        let older = try Self.bundle(1, authority)
        _ = gate.offer(try Self.bundle(2, authority).encoded)
        let other = [FleetBundle.ACLFile(name: "acls/x.yaml", text: "services:\n  x: {}\n")]
        for replay in [older, try Self.bundle(2, authority, acls: other)] {
            guard case .refuse(let refusal) = gate.offer(replay.encoded) else {
                Issue.record("a stale bundle was taken")
                return
            }
            #expect(refusal.reason == "stale")
        }
        #expect(gate.version == 2)
    }

    @Test func aBundleSignedByAnotherCAOrChangedAfterSigningIsRefused() throws {
        var (directory, authority, gate) = try Self.authority()
        _ = directory
        let (otherDirectory, other, _) = try Self.authority()
        _ = otherDirectory
        let signed = try Self.bundle(5, authority)
        // Another CA of the same trust domain: its key is not ours.
        let foreign = try Self.bundle(6, other)
        // Our signature over other bytes: the payload changed to name a higher version.
        var payload = String(decoding: signed.payload, as: UTF8.self)
        payload = payload.replacingOccurrences(of: "\"version\":5", with: "\"version\":9")
        let tampered = SignedBundle(payload: Array(payload.utf8), signature: signed.signature)
        for bundle in [foreign, tampered] {
            guard case .refuse(let refusal) = gate.offer(bundle.encoded) else {
                Issue.record("a bundle not signed by this CA was taken")
                return
            }
            #expect(refusal == .notSigned)
        }
        guard case .refuse(.notABundle) = gate.offer(Array("{\"version\": 99}".utf8)) else {
            Issue.record("a value that is no envelope was taken")
            return
        }
        #expect(gate.inForce == nil)
    }

    @Test func aSignedBundleWhoseACLsDoNotCompileIsRefusedWithFileAndLine() throws {
        var (directory, authority, gate) = try Self.authority()
        _ = directory
        let broken = [FleetBundle.ACLFile(name: "acls/bad.yaml", text: "services:\n  orders:\n    publsh: [\"a\"]\n")]
        guard case .refuse(.invalidACLs(let problems)) = gate.offer(try Self.bundle(1, authority, acls: broken).encoded)
        else {
            Issue.record("a bundle with invalid ACLs was taken")
            return
        }
        #expect(problems.contains { $0.hasPrefix("acls/bad.yaml:3:") }, "\(problems)")
        #expect(gate.inForce == nil)
    }

    @Test func theStateFolderKeepsTheLastBundlePrivately() throws {
        let (directory, authority, _) = try Self.authority()
        let folder = StateDirectory(path: directory.appending("state"))
        #expect(folder.load() == nil)
        let signed = try Self.bundle(3, authority)
        try folder.save(signed)
        #expect(folder.load() == signed.encoded)
        let attributes = try FileManager.default.attributesOfItem(atPath: folder.bundleFile)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(FleetSignature.trustDomain(of: authority.certificate) == "fleet.test")
    }
}
