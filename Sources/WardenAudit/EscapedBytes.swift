/// Bytes that need not be UTF-8, as text that reads them exactly: valid UTF-8 as it is, each byte that is
/// not part of it as `\xHH`, and each backslash doubled, so that a `\xHH` among the bytes themselves is
/// not taken for an escape. Different bytes never give the same text. The decision log writes subjects,
/// replies and sids so (`RecordCursor.writeQuoted(wire:)`), and a SUB's queue group in its reason.
package enum EscapedBytes {
    package static func text(_ bytes: some Collection<UInt8>) -> String {
        let bytes = Array(bytes)
        var text = ""
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var consumed = 0
        parsing: while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar):
                let character = Unicode.UTF8.decode(scalar)
                text.unicodeScalars.append(character)
                if character == "\\" { text.unicodeScalars.append(character) }
                consumed += scalar.count
            case .error(let length):
                for byte in bytes[consumed..<(consumed + length)] {
                    text += byte < 16 ? "\\x0" : "\\x"
                    text += String(byte, radix: 16)
                }
                consumed += length
            case .emptyInput:
                break parsing
            }
        }
        return text
    }
}
