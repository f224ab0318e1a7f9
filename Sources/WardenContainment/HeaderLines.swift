/// A NATS header block (`NATS/1.0[ status]\r\nKey: Value\r\n…\r\n\r\n`, the start of an HPUB's or
/// HMSG's payload), read in place without allocating.
///
/// Where it decides what nats-server would act on, Warden reads more than nats-server does, never less:
/// nats-server matches a key byte for byte at the start of a line (server/client.go `sliceHeader`),
/// Warden ignores case and spaces around the key, and sees every line with that key, not only the first.
public enum HeaderLines {
    /// Calls `body` with the key and value of each `Key: Value` line after the first, both trimmed of
    /// spaces and tabs, until it returns false. Lines are split at CRLF; one without a colon is skipped.
    public static func forEach(
        in block: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Bool
    ) {
        var start = Self.lineEnd(block, from: 0) + 2
        while start < block.count {
            let end = Self.lineEnd(block, from: start)
            if let colon = block[start..<end].firstIndex(of: UInt8(ascii: ":")) {
                let key = Self.trimmed(block, start, colon)
                let value = Self.trimmed(block, colon + 1, end)
                if !body(key, value) { return }
            }
            start = end + 2
        }
    }

    /// Whether `bytes` are `name` (given in lower case), ignoring ASCII case.
    public static func equals(_ bytes: UnsafeBufferPointer<UInt8>, lowercased name: StaticString) -> Bool {
        guard bytes.count == name.utf8CodeUnitCount else { return false }
        let expected = name.utf8Start
        for index in 0..<bytes.count {
            var byte = bytes[index]
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { byte += 32 }
            if byte != expected[index] { return false }
        }
        return true
    }

    /// The index of the CR of the next CRLF at or after `start`, or the end of the block.
    private static func lineEnd(_ block: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var index = start
        while index + 1 < block.count {
            if block[index] == UInt8(ascii: "\r") && block[index + 1] == UInt8(ascii: "\n") { return index }
            index += 1
        }
        return block.count
    }

    private static func trimmed(_ block: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> UnsafeBufferPointer<
        UInt8
    > {
        var start = start
        var end = end
        while start < end && (block[start] == UInt8(ascii: " ") || block[start] == UInt8(ascii: "\t")) { start += 1 }
        while end > start && (block[end - 1] == UInt8(ascii: " ") || block[end - 1] == UInt8(ascii: "\t")) { end -= 1 }
        return UnsafeBufferPointer(rebasing: block[start..<end])
    }
}
