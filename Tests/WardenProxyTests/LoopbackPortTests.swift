import Testing
import WardenProxy

/// Ports for what Warden and its tools start beside themselves (nats-server, Warden in the benchmark).
struct LoopbackPortTests {
    /// The kernel hands out a port that was just released again, so two picks in a row can return the
    /// same port: the benchmark then started nats-server and Warden on one port, and Warden could not
    /// listen. A process never gets the same port twice.
    @Test func aProcessNeverGetsTheSamePortTwice() throws {
        var ports = Set<Int>()
        for _ in 0..<500 {
            let port = try LoopbackPort.free()
            #expect(ports.insert(port).inserted, "port \(port) handed out twice")
            #expect((1...65535).contains(port))
        }
    }
}
