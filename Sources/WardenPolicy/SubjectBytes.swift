#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte-level helpers for the decision path: NATS compares subjects byte for byte, and working on
/// UTF-8 buffers avoids the Unicode-aware comparisons and allocations of `Substring`.
enum SubjectBytes {
    static let dot = UInt8(ascii: ".")
    static let star = UInt8(ascii: "*")
    static let greater = UInt8(ascii: ">")

    /// What a scan of a whole subject found.
    struct Shape {
        var isValid: Bool
        var hasWildcards: Bool
    }

    /// Validates a subject in one pass: no empty token, no whitespace, `>` only as the last token.
    static func scan(_ subject: UnsafeBufferPointer<UInt8>) -> Shape {
        let invalid = Shape(isValid: false, hasWildcards: false)
        guard !subject.isEmpty else { return invalid }
        var tokenStart = 0
        var hasWildcards = false
        var sawFullWildcard = false
        var index = 0
        while index <= subject.count {
            if index == subject.count || subject[index] == UInt8(ascii: ".") {
                let length = index - tokenStart
                if length == 0 || sawFullWildcard { return invalid }
                if length == 1 {
                    let byte = subject[tokenStart]
                    if byte == UInt8(ascii: "*") { hasWildcards = true }
                    if byte == UInt8(ascii: ">") {
                        hasWildcards = true
                        sawFullWildcard = true
                    }
                }
                tokenStart = index + 1
            } else {
                switch subject[index] {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"), 0x0C: return invalid
                default: break
                }
            }
            index += 1
        }
        return Shape(isValid: true, hasWildcards: hasWildcards)
    }

    /// The end (exclusive) of the token that starts at `start`.
    static func tokenEnd(_ subject: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var end = start
        while end < subject.count && subject[end] != UInt8(ascii: ".") { end += 1 }
        return end
    }

    static func isByte(_ subject: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, _ byte: UInt8) -> Bool {
        end - start == 1 && subject[start] == byte
    }

    static func equal(_ lhs: UnsafeBufferPointer<UInt8>, _ rhs: UnsafeBufferPointer<UInt8>) -> Bool {
        guard lhs.count == rhs.count else { return false }
        guard let left = lhs.baseAddress, let right = rhs.baseAddress else { return lhs.count == 0 }
        return memcmp(left, right, lhs.count) == 0
    }

    /// A 64-bit hash that reads eight bytes at a time (a multiply-xorshift mix per word). Fast for
    /// subjects and tokens; every look-up by it is confirmed by comparing the bytes, so collisions cost
    /// time, never correctness.
    static func fingerprint(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(truncatingIfNeeded: bytes.count)
        guard let base = bytes.baseAddress else { return hash }
        let raw = UnsafeRawPointer(base)
        var offset = 0
        while offset + 8 <= bytes.count {
            hash = Self.mix(hash ^ raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
        }
        if offset < bytes.count {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while offset < bytes.count {
                tail |= UInt64(bytes[offset]) << shift
                shift += 8
                offset += 1
            }
            hash = Self.mix(hash ^ tail)
        }
        return hash
    }

    @inline(__always)
    private static func mix(_ value: UInt64) -> UInt64 {
        let product = value &* 0xFF51_AFD7_ED55_8CCD
        return product ^ (product >> 32)
    }

    /// Runs `body` over the UTF-8 bytes of `text` without copying them when the string is native.
    static func withBytes<Result>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        if let result = text.utf8.withContiguousStorageIfAvailable(body) { return result }
        return Array(text.utf8).withUnsafeBufferPointer(body)
    }
}
