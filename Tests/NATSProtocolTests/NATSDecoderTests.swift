import NATSProtocol
import NIOCore
import NIOTestUtils
import Testing

func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

func clientFrame(_ operation: ClientOperation, _ raw: String) -> Frame<ClientOperation> {
    Frame(operation: operation, raw: bytes(raw))
}

func serverFrame(_ operation: ServerOperation, _ raw: String) -> Frame<ServerOperation> {
    Frame(operation: operation, raw: bytes(raw))
}

/// Where `field`'s bytes are within `frame`'s memory; fails when they are a copy held elsewhere.
func offset(of field: WireString, in frame: ByteBuffer) throws -> Int {
    let fieldStart = try #require(field.withUnsafeBytes { $0.baseAddress.map(UnsafeRawPointer.init) })
    return try frame.withUnsafeReadableBytes { frameBytes in
        let frameStart = try #require(frameBytes.baseAddress)
        let distance = frameStart.distance(to: fieldStart)
        try #require(
            distance >= 0 && distance + field.count <= frameBytes.count, "the field is not in the frame's bytes")
        return distance
    }
}

/// Parses `input` completely with a fresh parser, or throws its error.
func parseAll<Parser: NATSFrameParsing>(_ parser: Parser, _ input: String) throws(NATSProtocolError) -> [Parser
    .Operation]
{
    var parser = parser
    var buffer = bytes(input)
    var operations: [Parser.Operation] = []
    while let frame = try parser.next(&buffer) { operations.append(frame.operation) }
    return operations
}

@Suite struct ClientDecoderTests {
    /// Every split of every input decodes to the same frames, raw bytes included.
    @Test func decodesEveryClientOperationForEverySplit() throws {
        let hpub = "HPUB orders.created _INBOX.o.1 21 26\r\nNATS/1.0\r\nX-Id: 7\r\n\r\nhello\r\n"
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: [
                (
                    "CONNECT {\"verbose\":false,\"echo\":true}\r\n",
                    [
                        clientFrame(
                            .connect(json: "{\"verbose\":false,\"echo\":true}"),
                            "CONNECT {\"verbose\":false,\"echo\":true}\r\n")
                    ]
                ),
                (
                    "PUB orders.created 5\r\nhello\r\n",
                    [
                        clientFrame(
                            .publish(
                                Publish(
                                    subject: "orders.created", reply: nil, headerLength: nil, payload: bytes("hello"))),
                            "PUB orders.created 5\r\nhello\r\n")
                    ]
                ),
                (
                    "PUB req _INBOX.a.1 0\r\n\r\n",
                    [
                        clientFrame(
                            .publish(
                                Publish(subject: "req", reply: "_INBOX.a.1", headerLength: nil, payload: bytes(""))),
                            "PUB req _INBOX.a.1 0\r\n\r\n")
                    ]
                ),
                (
                    hpub,
                    [
                        clientFrame(
                            .publish(
                                Publish(
                                    subject: "orders.created", reply: "_INBOX.o.1", headerLength: 21,
                                    payload: bytes("NATS/1.0\r\nX-Id: 7\r\n\r\nhello"))), hpub)
                    ]
                ),
                (
                    "SUB foo.* 1\r\nSUB jobs.> workers 2\r\nUNSUB 1\r\nUNSUB 2 10\r\nPING\r\nPONG\r\n",
                    [
                        clientFrame(.subscribe(subject: "foo.*", queue: nil, sid: "1"), "SUB foo.* 1\r\n"),
                        clientFrame(
                            .subscribe(subject: "jobs.>", queue: "workers", sid: "2"), "SUB jobs.> workers 2\r\n"),
                        clientFrame(.unsubscribe(sid: "1", max: nil), "UNSUB 1\r\n"),
                        clientFrame(.unsubscribe(sid: "2", max: 10), "UNSUB 2 10\r\n"),
                        clientFrame(.ping, "PING\r\n"), clientFrame(.pong, "PONG\r\n"),
                    ]
                ),
                // A payload may contain CRLF; only its declared size counts.
                (
                    "PUB a 4\r\n\r\n\r\n\r\n",
                    [
                        clientFrame(
                            .publish(Publish(subject: "a", reply: nil, headerLength: nil, payload: bytes("\r\n\r\n"))),
                            "PUB a 4\r\n\r\n\r\n\r\n")
                    ]
                ),
            ],
            decoderFactory: { NATSFrameDecoder(parser: NATSClientParser()) }
        )
    }

    @Test func operationNamesAreCaseInsensitiveAndSeparatorsMayRepeat() throws {
        let operations = try parseAll(NATSClientParser(), "pub  foo\t2\r\nhi\r\nping\r\nSub bar 9\r\n")
        #expect(
            operations == [
                .publish(Publish(subject: "foo", reply: nil, headerLength: nil, payload: bytes("hi"))),
                .ping,
                .subscribe(subject: "bar", queue: nil, sid: "9"),
            ])
    }

    @Test func leadingSeparatorsAndEmptyLinesAreSkippedLikeNATSServer() throws {
        let operations = try parseAll(
            NATSClientParser(), "\r\n\n  \tconnect  {\"verbose\":false}\r\n hpub s 2 3\r\nabc\r\n")
        #expect(
            operations == [
                .connect(json: "{\"verbose\":false}"),
                .publish(Publish(subject: "s", reply: nil, headerLength: 2, payload: bytes("abc"))),
            ])
    }

    @Test(arguments: [
        "PUB a b c d e f g h i 1\r\n",
        "SUB a b c d e f g h i j\r\n",
        "HPUB a b c d e f g h 1 2\r\n",
    ])
    func moreFieldsThanAnyOperationTakesAreArgumentsNATSServerClosesFor(_ input: String) {
        let error = #expect(throws: NATSProtocolError.self) { try parseAll(NATSClientParser(), input) }
        #expect(error?.code == .invalidArguments)
        #expect(error?.wireText == nil)
    }

    @Test func aNameLongerThanEveryOperationIsUnknown() {
        let error = #expect(throws: NATSProtocolError.self) { try parseAll(NATSClientParser(), "CONNECTX {}\r\n") }
        #expect(error?.code == .unknownOperation)
    }

    @Test func aBareLineFeedEndsALineToo() throws {
        #expect(try parseAll(NATSClientParser(), "PING\nPONG\n") == [.ping, .pong])
    }

    @Test func incompleteInputWaitsAndConsumesNothing() throws {
        var parser = NATSClientParser()
        var buffer = bytes("PUB foo 10\r\nhel")
        #expect(try parser.next(&buffer) == nil)
        #expect(buffer.readableBytes == 15)
        buffer.writeString("lo12345\r\n")
        let frame = try #require(try parser.next(&buffer))
        #expect(frame.raw == bytes("PUB foo 10\r\nhello12345\r\n"))
        #expect(buffer.readableBytes == 0)
    }

    /// Subject and reply are views into the frame's bytes, not copies: reading a message allocates nothing.
    @Test func publishFieldsAreSlicesOfTheFrame() throws {
        var parser = NATSClientParser()
        var buffer = bytes("PUB orders.eu-west.created _INBOX.Zx8Qp2LmN0aB.17 5\r\nhello\r\n")
        let frame = try #require(try parser.next(&buffer))
        guard case .publish(let publish) = frame.operation else {
            Issue.record("expected a publish")
            return
        }
        #expect(publish.subject == "orders.eu-west.created")
        #expect(publish.reply == "_INBOX.Zx8Qp2LmN0aB.17")
        #expect(try offset(of: publish.subject, in: frame.raw) == 4)
        #expect(try offset(of: try #require(publish.reply), in: frame.raw) == 27)
    }

    /// Bytes that are not UTF-8 are kept exactly as sent: NATS subjects are bytes, and a decision must be
    /// about the subject nats-server will see, not a repaired copy of it.
    @Test func subjectsKeepBytesThatAreNotUTF8() throws {
        var buffer = ByteBuffer(bytes: Array("PUB a.".utf8) + [0xFF, 0xC3] + Array(" 0\r\n\r\n".utf8))
        var parser = NATSClientParser()
        let frame = try #require(try parser.next(&buffer))
        guard case .publish(let publish) = frame.operation else {
            Issue.record("expected a publish")
            return
        }
        #expect(publish.subject.bytes == ByteBuffer(bytes: Array("a.".utf8) + [0xFF, 0xC3]))
        #expect(publish.subject.string == "a.\u{FFFD}\u{FFFD}")
    }

    @Test func bodySizeExcludesHeaders() throws {
        let operations = try parseAll(NATSClientParser(), "HPUB s 12 17\r\nNATS/1.0\r\n\r\nhello\r\n")
        guard case .publish(let publish) = operations.first else {
            Issue.record("expected a publish")
            return
        }
        #expect(publish.bodySize == 5)
    }

    /// What nats-server 2.15 answers to each, read off a real one: an `-ERR` and a close, or a close
    /// without a word (nil) for a known operation with arguments it cannot use.
    @Test(
        arguments: [
            ("PUB foo 1048577\r\n", NATSProtocolError.Code.maxPayloadExceeded, "Maximum Payload Violation"),
            (String(repeating: "A", count: 5000), .maxControlLineExceeded, "maximum control line exceeded"),
            (
                "PUB " + String(repeating: "s", count: 4100) + " 1\r\n", .maxControlLineExceeded,
                "maximum control line exceeded"
            ),
            ("FOO bar\r\n", .unknownOperation, "Unknown Protocol Operation"),
            ("PUB foo 2\r\nhiXX", .malformed, "Unknown Protocol Operation"),
            ("SUB\r\n", .malformed, "Unknown Protocol Operation"),
            ("UNSUB\r\n", .malformed, "Unknown Protocol Operation"),
            ("PUB foo -1\r\n", .invalidArguments, nil),
            ("PUB foo x\r\n", .invalidArguments, nil),
            ("PUB foo 99999999999999999999\r\n", .invalidArguments, nil),
            ("PUB foo\r\n", .invalidArguments, nil),
            ("PUB a b c d\r\n", .invalidArguments, nil),
            ("HPUB foo 10 5\r\n", .invalidArguments, nil),
            ("HPUB foo -1 5\r\n", .invalidArguments, nil),
            ("HPUB foo 5\r\n", .invalidArguments, nil),
            ("SUB foo\r\n", .invalidArguments, nil),
            ("SUB a b c d\r\n", .invalidArguments, nil),
        ] as [(String, NATSProtocolError.Code, String?)])
    func violationsAreErrorsWithNATSServersText(_ input: String, _ code: NATSProtocolError.Code, _ wireText: String?) {
        let error = #expect(throws: NATSProtocolError.self) { try parseAll(NATSClientParser(), input) }
        #expect(error?.code == code)
        #expect(error?.wireText == wireText)
    }

    /// nats-server reads these as it reads their plain forms: an UNSUB whose max is not a number
    /// unsubscribes at once, and anything after PING or PONG up to the line's end is ignored.
    @Test func linesNATSServerToleratesAreReadAsItReadsThem() throws {
        let operations = try parseAll(
            NATSClientParser(), "UNSUB 1 x\r\nUNSUB 2 -1\r\nUNSUB 3 0\r\nUNSUB 4 5\r\nPING extra\r\nPONG x\r\n")
        guard operations.count == 6 else {
            Issue.record("expected six operations, got \(operations)")
            return
        }
        for (index, max) in [(0, nil), (1, nil), (2, nil), (3, 5)] as [(Int, Int?)] {
            guard case .unsubscribe(_, let parsed) = operations[index] else {
                Issue.record("expected UNSUB at \(index)")
                continue
            }
            #expect(parsed == max)
        }
        guard case .ping = operations[4], case .pong = operations[5] else {
            Issue.record("expected PING and PONG")
            return
        }
    }

    @Test func theLimitsAreConfigurable() throws {
        let error = #expect(throws: NATSProtocolError.self) {
            try parseAll(NATSClientParser(maxPayload: 4), "PUB a 5\r\nhello\r\n")
        }
        #expect(error?.code == .maxPayloadExceeded)
        #expect(try parseAll(NATSClientParser(maxPayload: 5), "PUB a 5\r\nhello\r\n").count == 1)
    }
}

@Suite struct ServerDecoderTests {
    @Test func decodesEveryServerOperationForEverySplit() throws {
        let info = "INFO {\"server_id\":\"x\",\"tls_required\":true,\"max_payload\":1048576}\r\n"
        let hmsg = "HMSG orders.created 7 _INBOX.o.1 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"
        let noResponders = "HMSG _INBOX.a.1 3 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: [
                (
                    info,
                    [
                        serverFrame(
                            .info(json: "{\"server_id\":\"x\",\"tls_required\":true,\"max_payload\":1048576}"), info)
                    ]
                ),
                (
                    "MSG orders.created 1 5\r\nhello\r\n",
                    [
                        serverFrame(
                            .message(
                                Delivery(
                                    subject: "orders.created", sid: "1", reply: nil, headerLength: nil,
                                    payload: bytes("hello"))),
                            "MSG orders.created 1 5\r\nhello\r\n")
                    ]
                ),
                (
                    "MSG req 2 _INBOX.a.9 0\r\n\r\n",
                    [
                        serverFrame(
                            .message(
                                Delivery(
                                    subject: "req", sid: "2", reply: "_INBOX.a.9", headerLength: nil, payload: bytes("")
                                )),
                            "MSG req 2 _INBOX.a.9 0\r\n\r\n")
                    ]
                ),
                (
                    hmsg,
                    [
                        serverFrame(
                            .message(
                                Delivery(
                                    subject: "orders.created", sid: "7", reply: "_INBOX.o.1", headerLength: 12,
                                    payload: bytes("NATS/1.0\r\n\r\nhello"))), hmsg)
                    ]
                ),
                (
                    noResponders,
                    [
                        serverFrame(
                            .message(
                                Delivery(
                                    subject: "_INBOX.a.1", sid: "3", reply: nil, headerLength: 16,
                                    payload: bytes("NATS/1.0 503\r\n\r\n"))), noResponders)
                    ]
                ),
                (
                    "PING\r\nPONG\r\n+OK\r\n-ERR 'Permissions Violation for Publish to \"x.y\"'\r\n",
                    [
                        serverFrame(.ping, "PING\r\n"), serverFrame(.pong, "PONG\r\n"), serverFrame(.ok, "+OK\r\n"),
                        serverFrame(
                            .error("Permissions Violation for Publish to \"x.y\""),
                            "-ERR 'Permissions Violation for Publish to \"x.y\"'\r\n"),
                    ]
                ),
            ],
            decoderFactory: { NATSFrameDecoder(parser: NATSServerParser()) }
        )
    }

    @Test func messageFieldsAreSlicesOfTheFrame() throws {
        var parser = NATSServerParser()
        var buffer = bytes("HMSG orders.eu-west.created 12 _INBOX.Zx8Qp2LmN0aB.17 12 17\r\nNATS/1.0\r\n\r\nhello\r\n")
        let frame = try #require(try parser.next(&buffer))
        guard case .message(let delivery) = frame.operation else {
            Issue.record("expected a message")
            return
        }
        #expect(delivery.subject == "orders.eu-west.created")
        #expect(delivery.sid == "12")
        #expect(delivery.reply == "_INBOX.Zx8Qp2LmN0aB.17")
        #expect(try offset(of: delivery.subject, in: frame.raw) == 5)
        #expect(try offset(of: delivery.sid, in: frame.raw) == 28)
        #expect(try offset(of: try #require(delivery.reply), in: frame.raw) == 31)
    }

    @Test func anErrorWithoutQuotesKeepsItsText() throws {
        #expect(
            try parseAll(NATSServerParser(), "-ERR Stale Connection\r\n-err 'x'\r\n") == [
                .error("Stale Connection"), .error("x"),
            ])
    }

    @Test func clientOperationsAreNotServerOperations() {
        #expect(throws: NATSProtocolError(.unknownOperation, "")) {
            try parseAll(NATSServerParser(), "PUB a 1\r\nx\r\n")
        }
        #expect(throws: NATSProtocolError(.unknownOperation, "")) {
            try parseAll(NATSClientParser(), "MSG a 1 1\r\nx\r\n")
        }
    }
}
