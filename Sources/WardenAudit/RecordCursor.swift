import NATSProtocol
import NIOCore
import WardenPolicy

/// A write position in memory reserved beforehand. Writes are plain copies; each still checks the
/// reservation, and stops the process rather than write past it.
struct RecordCursor {
    private let start: UnsafeMutableRawPointer
    private var position: UnsafeMutableRawPointer
    private let end: UnsafeMutableRawPointer

    init(_ space: UnsafeMutableRawBufferPointer) {
        // Every reservation holds at least a field's quotes, so it has an address.
        let start = space.baseAddress!
        self.start = start
        self.position = start
        self.end = start + space.count
    }

    /// Bytes written so far.
    var written: Int { self.start.distance(to: self.position) }

    /// The most the flag that says a value was escaped takes (`writeField(_:wire:escapedFlag:)`).
    static let escapedFlagBound = 24

    /// The most `writeQuoted` takes for text of `count` bytes: quotes, and six bytes (`\u00XX`) for a
    /// byte at worst (a byte that is not UTF-8 takes five, `\\xHH`).
    static func quotedBound(_ count: Int?) -> Int {
        guard let count else { return 0 }
        return 6 * count + 2
    }

    @inline(__always)
    private mutating func reserve(_ count: Int) -> UnsafeMutableRawPointer {
        precondition(count <= self.position.distance(to: self.end), "decision record larger than the space reserved")
        defer { self.position += count }
        return self.position
    }

    @inline(__always)
    mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        self.reserve(bytes.count).copyMemory(from: source, byteCount: bytes.count)
    }

    @inline(__always)
    mutating func write(_ text: StaticString) {
        text.withUTF8Buffer { self.write(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    mutating func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { self.write($0) }
    }

    /// Text that needs no escaping (the raw values of the record's enumerations).
    @inline(__always)
    mutating func write(_ text: String) {
        var text = text
        text.withUTF8 { self.write(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    mutating func write(byte: UInt8) {
        self.reserve(1).storeBytes(of: byte, as: UInt8.self)
    }

    /// The field's name and its value quoted, or nothing when there is no value.
    @inline(__always)
    mutating func writeField(_ name: StaticString, _ value: String?) {
        guard let value else { return }
        self.write(name)
        self.writeQuoted(value)
    }

    /// `writeField` for a value from the wire. When its bytes are not UTF-8, `escapedFlag` follows
    /// (`,"subject_escaped":true`), so that the record says the value is written escaped.
    @inline(__always)
    mutating func writeField(_ name: StaticString, wire value: WireString?, escapedFlag: StaticString) {
        guard let value else { return }
        self.write(name)
        if !value.withUnsafeBytes({ self.writeQuoted(wire: $0) }) { self.write(escapedFlag) }
    }

    /// `"text"`, escaped for JSON.
    mutating func writeQuoted(_ text: String) {
        var text = text
        text.withUTF8 { _ = self.writeQuoted(utf8: $0) }
    }

    /// `"text"` for bytes from the wire, which need not be UTF-8 while the log must be: ASCII (all but
    /// exotic subjects) and valid UTF-8 are written as they are (escaped for JSON). Anything else is
    /// written so that different bytes never read the same: each byte that is not part of valid UTF-8
    /// as `\xHH`, and each backslash doubled (`EscapedBytes`); returns false then, and the caller says so in
    /// the record.
    @discardableResult
    mutating func writeQuoted(wire bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let rewind = self.position
        if self.writeQuoted(utf8: bytes, asciiOnly: true) { return true }
        self.position = rewind
        if String(validating: bytes, as: UTF8.self) != nil {
            self.writeQuoted(utf8: bytes)
            return true
        }
        // Rare: taken from a String made for it, then escaped for JSON as any text.
        self.writeQuoted(EscapedBytes.text(bytes))
        return false
    }

    /// `"text"` for valid UTF-8, escaped: runs of bytes that need no escaping (nearly always the whole
    /// text) are copied at once, and found eight bytes at a time. With `asciiOnly`, stops at the first
    /// byte that is not ASCII and returns false, leaving what it wrote for the caller to take back.
    @discardableResult
    private mutating func writeQuoted(utf8: UnsafeBufferPointer<UInt8>, asciiOnly: Bool = false) -> Bool {
        self.write(byte: UInt8(ascii: "\""))
        var runStart = 0
        var index = 0
        while index < utf8.count {
            if index + 8 <= utf8.count,
                !Self.anyNeedsAttention(UnsafeRawPointer(utf8.baseAddress! + index).loadUnaligned(as: UInt64.self))
            {
                index += 8
                continue
            }
            let byte = utf8[index]
            // UTF-8 is carried as it is; only quotes, backslashes and control characters are escaped.
            if Self.needsAttention(byte) {
                if byte >= 0x80 {
                    if asciiOnly { return false }
                } else {
                    self.write(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: utf8[runStart..<index])))
                    self.writeEscaped(byte)
                    runStart = index + 1
                }
            }
            index += 1
        }
        self.write(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: utf8[runStart...])))
        self.write(byte: UInt8(ascii: "\""))
        return true
    }

    /// A byte JSON escapes (below 0x20, a quote, a backslash, 0x7F) or one that is not ASCII.
    @inline(__always)
    static func needsAttention(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte >= 0x7F
    }

    /// Whether any of the eight bytes in `word` `needsAttention`. Each test sets a byte's high bit
    /// where that byte matches; a borrow or carry can set it wrongly only in a byte above one that
    /// matched, so the answer for the whole word is exact.
    @inline(__always)
    static func anyNeedsAttention(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        func anyBelow(_ value: UInt64, _ limit: UInt64) -> UInt64 { (value &- ones &* limit) & ~value & high }
        let control = anyBelow(word, 0x20)
        let quote = anyBelow(word ^ (ones &* UInt64(UInt8(ascii: "\""))), 1)
        let backslash = anyBelow(word ^ (ones &* UInt64(UInt8(ascii: "\\"))), 1)
        // 0x7F becomes 0x80; bytes from 0x80 up have the bit already.
        let deleteOrHigh = ((word &+ ones) | word) & high
        return (control | quote | backslash | deleteOrHigh) != 0
    }

    private mutating func writeEscaped(_ byte: UInt8) {
        self.write(byte: UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): self.write(byte: byte)
        case UInt8(ascii: "\n"): self.write(byte: UInt8(ascii: "n"))
        case UInt8(ascii: "\r"): self.write(byte: UInt8(ascii: "r"))
        case UInt8(ascii: "\t"): self.write(byte: UInt8(ascii: "t"))
        default:
            self.write("u00")
            self.write(byte: Self.hexDigit(byte >> 4))
            self.write(byte: Self.hexDigit(byte & 0xF))
        }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }

    mutating func writeInteger(_ value: UInt64) {
        var digits = 1
        var scale: UInt64 = 10
        while digits < 20 && value >= scale {
            digits += 1
            scale = scale &* 10
        }
        self.writeDigits(value, count: digits)
    }

    /// `value` in exactly `count` decimal digits, zero-padded (the caller makes sure it fits).
    mutating func writeDigits(_ value: UInt64, count: Int) {
        let digits = self.reserve(count)
        var rest = value
        for offset in stride(from: count - 1, through: 0, by: -1) {
            digits.storeBytes(of: UInt8(ascii: "0") + UInt8(rest % 10), toByteOffset: offset, as: UInt8.self)
            rest /= 10
        }
    }
}
