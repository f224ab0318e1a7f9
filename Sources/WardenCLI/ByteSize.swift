/// A size as the command line takes it, in nats-server configuration's grammar: digits, optionally
/// followed by K, KB, M, MB, G or GB (1,024-based, any case). `8MB` is 8,388,608 bytes; `0` is zero.
enum ByteSize {
    static func parse(_ text: String) -> Int? {
        var digits = Substring(text.uppercased())
        var unit = 1
        for (suffix, factor) in [
            ("KB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30),
        ]
        where digits.hasSuffix(suffix) {
            digits = digits.dropLast(suffix.count)
            unit = factor
            break
        }
        guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = Int(digits)
        else { return nil }
        // Twelve digits of gigabytes do not fit in 64 bits: too large is not a size, not a crash.
        let (bytes, overflow) = value.multipliedReportingOverflow(by: unit)
        return overflow ? nil : bytes
    }
}
