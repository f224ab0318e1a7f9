/// NATS's text form of an Ed25519 key (an "nkey", as nats-server's configuration and `nsc` take them): a
/// prefix byte naming the kind of key, the key, a CRC-16 (XMODEM, little-endian), all in base32 without
/// padding. A user's public key starts with `U`, its seed with `SU`.
enum NKey {
    static let userPrefix: UInt8 = 20 << 3
    static let seedPrefix: UInt8 = 18 << 3

    /// A user's public key, `U...`.
    static func publicUser(_ key: [UInt8]) -> String {
        Self.encode([Self.userPrefix] + key)
    }

    /// A user's seed, `SU...`.
    static func userSeed(_ seed: [UInt8]) -> String {
        Self.encode([Self.seedPrefix | (Self.userPrefix >> 5), (Self.userPrefix & 31) << 3] + seed)
    }

    /// The 32 bytes of a user's seed, or nil when `text` is not one (its checksum included).
    static func decodeUserSeed(_ text: String) -> [UInt8]? {
        guard let bytes = Self.base32Decode(text), bytes.count == 2 + 32 + 2 else { return nil }
        let body = Array(bytes.prefix(34))
        let checksum = UInt16(bytes[34]) | UInt16(bytes[35]) << 8
        guard checksum == Self.crc16(body), body[0] == Self.seedPrefix | (Self.userPrefix >> 5),
            body[1] == (Self.userPrefix & 31) << 3
        else { return nil }
        return Array(body.dropFirst(2))
    }

    private static func encode(_ body: [UInt8]) -> String {
        let checksum = Self.crc16(body)
        return Self.base32Encode(body + [UInt8(checksum & 0xff), UInt8(checksum >> 8)])
    }

    static func crc16(_ bytes: [UInt8]) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    static func base32Encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                output.append(Self.alphabet[Int(buffer >> UInt32(bits - 5) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { output.append(Self.alphabet[Int(buffer << UInt32(5 - bits) & 31)]) }
        return String(decoding: output, as: UTF8.self)
    }

    static func base32Decode(_ text: String) -> [UInt8]? {
        var output: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for character in text.utf8 {
            guard let value = Self.alphabet.firstIndex(of: character) else { return nil }
            buffer = buffer << 5 | UInt32(value)
            bits += 5
            if bits >= 8 {
                output.append(UInt8(buffer >> UInt32(bits - 8) & 0xff))
                bits -= 8
            }
        }
        return output
    }
}
