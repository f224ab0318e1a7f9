import Foundation
import Testing
import WardenTestSupport

@testable import WardenPKI

/// Warden's trusted-proxy key: kept as an nkey seed, shown to nats-server as a user public key.
struct ProxyKeyTests {
    @Test func theKeyIsMadeOnceAsASecretSeedAndReadBack() throws {
        let folder = try TemporaryDirectory()
        let layout = CertsLayout(root: folder.appending("certs"))
        #expect(try ProxyKey.load(layout: layout) == nil)
        let made = try ProxyKey.loadOrCreate(layout: layout)
        #expect(try fileMode(layout.proxyKey) == 0o600)
        let seed = try String(contentsOfFile: layout.proxyKey, encoding: .utf8)
        #expect(seed.hasPrefix("SU") && seed.count == 59)  // 58 characters and a newline
        let again = try ProxyKey.loadOrCreate(layout: layout)
        #expect(again.publicKey == made.publicKey)
        #expect(made.publicKey.hasPrefix("U") && made.publicKey.count == 56)
    }

    @Test func aSeedWithABadChecksumOrOfAnotherKindIsRefused() throws {
        let folder = try TemporaryDirectory()
        let layout = CertsLayout(root: folder.appending("certs"))
        let key = try ProxyKey.loadOrCreate(layout: layout)
        var seed = Array(try String(contentsOfFile: layout.proxyKey, encoding: .utf8).utf8)
        seed[10] = seed[10] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        try Data(seed).write(to: URL(fileURLWithPath: layout.proxyKey))
        #expect(throws: PKIError(.corrupt, "")) { try ProxyKey.load(layout: layout) }
        try Data((key.publicKey + "\n").utf8).write(to: URL(fileURLWithPath: layout.proxyKey))
        #expect(throws: PKIError(.corrupt, "")) { try ProxyKey.load(layout: layout) }
    }

    @Test func nkeyChecksumsAndBase32AreNATSs() {
        // CRC-16/XMODEM's check value, and RFC 4648's base32 vectors without padding.
        #expect(NKey.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(NKey.base32Encode(Array("foobar".utf8)) == "MZXW6YTBOI")
        #expect(NKey.base32Decode("MZXW6YTBOI") == Array("foobar".utf8))
    }

    @Test func theSignatureIsEd25519OverTheNonceInBase64URLWithoutPadding() throws {
        let folder = try TemporaryDirectory()
        let key = try ProxyKey.loadOrCreate(layout: CertsLayout(root: folder.appending("certs")))
        let signature = try #require(key.sign(nonce: "IJNJ7vzEWG2Khg"))
        #expect(signature.count == 86)  // 64 bytes
        #expect(!signature.contains("=") && !signature.contains("+") && !signature.contains("/"))
    }
}
