import Foundation
import Testing

@testable import WardenProxy

/// Warden's listener queues as many connections as the system allows, as nats-server's does, so that a
/// reconnect storm is not slowed by dropped SYNs (docs/PERFORMANCE.md, "9,000 clients").
struct ListenBacklogTests {
    @Test func theListenQueueIsTheSystemsMaximum() throws {
        let text = try String(contentsOfFile: "/proc/sys/net/core/somaxconn", encoding: .utf8)
        let system = try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(ListenBacklog.system == min(max(system, 128), 65535))
        #expect(ListenBacklog.system > 256, "the queue of 256 Warden had overflowed in a reconnect storm")
    }
}
