/// One fuzzing target: a function that takes any bytes and traps when Warden's code misbehaves on them
/// (a crash, a broken invariant). libFuzzer drives it in `warden-fuzz` built with
/// `-sanitize=fuzzer,address` (`scripts/fuzz.sh`); the tests replay the committed corpora through it
/// (`FuzzCorpusTests`), so every input that once failed stays a regression test.
public struct FuzzTarget: Sendable {
    public let name: String
    /// What the target checks, for `warden-fuzz --list`.
    public let summary: String
    public let run: @Sendable (UnsafeRawBufferPointer) -> Void

    public static let all: [FuzzTarget] = [
        FuzzTarget(
            name: "client-parser",
            summary: "client frames: the same frames and error whole or split in two, raw bytes that add up",
            run: ParserTargets.client),
        FuzzTarget(
            name: "server-parser",
            summary: "server frames: the same frames and error whole or split in two, raw bytes that add up",
            run: ParserTargets.server),
        FuzzTarget(
            name: "connect",
            summary: "a client's CONNECT JSON: read, and the CONNECT sent upstream keeps its options",
            run: HandshakeTargets.connect),
        FuzzTarget(
            name: "info",
            summary: "nats-server's INFO JSON: what reaches clients is one line with only the forwarded fields",
            run: HandshakeTargets.info),
        FuzzTarget(
            name: "acl",
            summary:
                "ACL files: loaded, or refused with diagnostics inside the file; decisions agree by text and bytes",
            run: ACLTarget.run),
        FuzzTarget(
            name: "jetstream",
            summary: "JetStream API bodies, publish headers and stored messages: checked without a crash",
            run: JetStreamTarget.run),
    ]

    public static func named(_ name: String) -> FuzzTarget? {
        self.all.first { $0.name == name }
    }
}

/// Stops the fuzzer with what broke: libFuzzer reports the trap and keeps the input.
func invariant(_ holds: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !holds() { fatalError("fuzz invariant broken: \(message())") }
}
