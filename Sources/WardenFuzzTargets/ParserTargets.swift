import NATSProtocol
import NIOCore

/// The protocol parsers: whatever the bytes, the frames and the error are the same whether the bytes
/// arrive at once or in two reads split anywhere (the first input byte chooses where), and the frames'
/// raw bytes are exactly the bytes consumed, in order.
enum ParserTargets {
    static func client(_ input: UnsafeRawBufferPointer) {
        self.check(input, parser: NATSClientParser())
    }

    static func server(_ input: UnsafeRawBufferPointer) {
        self.check(input, parser: NATSServerParser(maxPayload: 1 << 20))
    }

    struct Outcome<Operation: Hashable & Sendable>: Equatable {
        var frames: [Frame<Operation>] = []
        var error: NATSProtocolError.Code?
    }

    static func check<Parser: NATSFrameParsing>(_ input: UnsafeRawBufferPointer, parser: Parser) {
        guard let selector = input.first else { return }
        let bytes = UnsafeRawBufferPointer(rebasing: input.dropFirst())
        let split = Int(selector) * bytes.count / 255
        let whole = self.parse([bytes], parser: parser)
        let parts = self.parse(
            [UnsafeRawBufferPointer(rebasing: bytes[..<split]), UnsafeRawBufferPointer(rebasing: bytes[split...])],
            parser: parser)
        invariant(whole == parts, "split at \(split) of \(bytes.count) gives \(parts), whole gives \(whole)")
        // Each frame's raw bytes are the input's next bytes, after blank lines (skipped, as nats-server
        // skips them): nothing is forwarded that the client did not send, in another order, or twice.
        var position = 0
        for frame in whole.frames {
            while let end = bytes[position...].firstIndex(of: UInt8(ascii: "\n")),
                bytes[position..<end].allSatisfy({ Self.blank.contains($0) })
            {
                position = end + 1
            }
            let raw = frame.raw.readableBytesView
            invariant(
                bytes.dropFirst(position).starts(with: raw),
                "a frame's raw bytes are not the input's bytes at \(position): \(Array(raw))")
            position += raw.count
        }
    }

    /// What a line the parsers skip may hold.
    static let blank: Set<UInt8> = [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r")]

    static func parse<Parser: NATSFrameParsing>(_ reads: [UnsafeRawBufferPointer], parser: Parser) -> Outcome<
        Parser.Operation
    > {
        var reader = FrameReader(parser)
        var outcome = Outcome<Parser.Operation>()
        for read in reads {
            reader.receive(ByteBuffer(bytes: read))
            do {
                while let frame = try reader.next() { outcome.frames.append(frame) }
            } catch {
                outcome.error = error.code
                return outcome
            }
        }
        return outcome
    }
}
