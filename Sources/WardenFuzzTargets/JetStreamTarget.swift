import WardenContainment

/// What Warden reads of JetStream traffic: an API call's body (the first input byte chooses the call),
/// a publish's headers, and a delivery that may carry a stored message. Any bytes are decided or
/// refused; none crash.
enum JetStreamTarget {
    static let calls = [
        "$JS.API.STREAM.CREATE.S", "$JS.API.STREAM.UPDATE.S", "$JS.API.STREAM.INFO.S", "$JS.API.STREAM.MSG.GET.S",
        "$JS.API.DIRECT.GET.S", "$JS.API.DIRECT.GET.S.a.b", "$JS.API.CONSUMER.CREATE.S",
        "$JS.API.CONSUMER.CREATE.S.C.a.>", "$JS.API.CONSUMER.DURABLE.CREATE.S.D", "$JS.API.STREAM.SNAPSHOT.S",
    ].compactMap(JetStreamCall.init(subject:))

    static func run(_ input: UnsafeRawBufferPointer) {
        guard let selector = input.first else { return }
        let rest = UnsafeRawBufferPointer(rebasing: input.dropFirst())
        let bytes = rest.bindMemory(to: UInt8.self)
        let call = Self.calls[Int(selector) % Self.calls.count]
        let streamSubjects: [String]? = selector & 0x80 == 0 ? nil : ["a.>", "orders.*"]
        _ = try? JetStreamCheck.requirements(call, body: bytes, streamSubjects: streamSubjects)
        _ = try? PublishHeaders.requirements(bytes)
        let middle = bytes.count / 2
        _ = StoredMessage.carried(
            headers: UnsafeBufferPointer(rebasing: bytes[..<middle]),
            body: UnsafeBufferPointer(rebasing: bytes[middle...]))
    }
}
