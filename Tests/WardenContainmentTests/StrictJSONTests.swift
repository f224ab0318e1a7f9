import Testing

@testable import WardenContainment

/// The JSON reader refuses whatever Go's `encoding/json`, which nats-server decodes requests with,
/// could read differently; what it accepts, it reads as Go does.
struct StrictJSONTests {
    func parse(_ text: String) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { try StrictJSONParser.parse($0) }
    }

    func parse(bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBufferPointer { try StrictJSONParser.parse($0) }
    }

    @Test func readsObjectsArraysStringsNumbersAndLiteralsInOrder() throws {
        let value = try self.parse(#" {"a": [1, -2.5e3, true, false, null], "b": "x\u00e9\n\ud83d\ude00", "a": {}} "#)
        #expect(
            value
                == .object([
                    .init(
                        key: "a", value: .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null])),
                    .init(key: "b", value: .string("xé\n😀")),
                    .init(key: "a", value: .object([])),
                ]))
    }

    @Test(arguments: [
        // nats-server decodes a stream of values, each overriding the one before: only one is allowed.
        #"{"config":{}} {"config":{"deliver_subject":"x"}}"#,
        #"{}{}"#,
        #"{"a":1,}"#,
        #"{'a':1}"#,
        #"{"a":01}"#,
        #"{"a":1.}"#,
        #"{"a":.5}"#,
        #"{"a":"\ud800"}"#,
        #"{"a":"\x"}"#,
        "{\"a\":\"tab\there\"}",
        #"{"a":tru}"#,
        #"{"a" 1}"#,
        "",
        "   ",
        #"["#,
        #"{"a":"unterminated}"#,
        // Comments and a byte order mark are not JSON either.
        #"{"a":1 /* x */}"#,
        "\u{FEFF}{}",
    ])
    func refusesWhatIsNotExactlyOneJSONValue(_ text: String) {
        #expect(throws: JSONError.self) { try self.parse(text) }
    }

    @Test func eachRefusalNamesItsKind() {
        #expect(throws: JSONError(.trailingValue, "")) { try self.parse(#"{}{}"#) }
        #expect(throws: JSONError(.text, "")) { try self.parse(#"{"a":"\ud800"}"#) }
        #expect(throws: JSONError(.text, "")) { try self.parse("{\"a\":\"tab\there\"}") }
        #expect(throws: JSONError(.syntax, "")) { try self.parse(#"{"a":1,}"#) }
        #expect(throws: JSONError(.syntax, "")) { try self.parse("") }
    }

    @Test func refusesInvalidUTF8AndOverlongForms() {
        // A lone continuation byte, an overlong "/", and an encoded surrogate.
        for bytes: [UInt8] in [[0x22, 0x80, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22]] {
            #expect(throws: JSONError(.text, "")) { try self.parse(bytes: bytes) }
        }
    }

    @Test func refusesNestingDeeperThanTheLimit() throws {
        let deep =
            String(repeating: "[", count: StrictJSONParser.maxDepth + 1)
            + String(repeating: "]", count: StrictJSONParser.maxDepth + 1)
        #expect(throws: JSONError(.depth, "")) { try self.parse(deep) }
        let fine =
            String(repeating: "[", count: StrictJSONParser.maxDepth)
            + String(repeating: "]", count: StrictJSONParser.maxDepth)
        _ = try self.parse(fine)
    }
}
