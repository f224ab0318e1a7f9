import Foundation

/// How many connections the kernel may queue for the listener before Warden accepts them: the system's
/// maximum (`net.core.somaxconn`), as nats-server's (Go's) listeners take it. When every client
/// reconnects at once (nats-server restarted under them), a small queue overflows, the kernel drops
/// their SYNs, and each retries only after 1, 3, 7, 15 … seconds: with 256, 9,000 clients took nearly
/// two minutes to be back (docs/PERFORMANCE.md, "9,000 clients").
enum ListenBacklog {
    /// Linux's own default since 5.4, for when the setting cannot be read.
    static let fallback = 4096

    static var system: Int32 {
        let text = try? String(contentsOfFile: "/proc/sys/net/core/somaxconn", encoding: .utf8)
        let value = text.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? Self.fallback
        // The kernel keeps the backlog in 16 bits on older versions, as Go caps it.
        return Int32(min(max(value, 128), 65535))
    }
}
