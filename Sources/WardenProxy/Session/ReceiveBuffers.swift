import NIOCore

/// How both legs of a session size their receive buffers: small during the TLS handshake, adaptive once
/// NATS traffic flows, so that an idle connection holds 1 KiB per leg.
enum ReceiveBuffers {
    /// How both legs size their receive buffers during the TLS handshake: 1 KiB per read.
    ///
    /// SwiftNIO keeps a channel's last receive buffer for the next read, for as long as the channel is
    /// open, and never shrinks it. Handshake flights (certificate chains) fill 1 KiB, and an adaptive
    /// allocator would grow the buffer to 2 KiB for good on every connection. A flight takes two
    /// reads instead; once NATS traffic flows, `traffic` takes over at 1 KiB.
    static var handshake: FixedSizeRecvByteBufferAllocator {
        FixedSizeRecvByteBufferAllocator(capacity: 1024)
    }

    /// How both legs size their receive buffers once NATS traffic flows: from 1 KiB (SwiftNIO's
    /// default start is 2 KiB), growing when reads fill the buffer, so a quiet connection keeps 1 KiB
    /// per leg and a busy one reads up to 64 KiB at a time.
    static var traffic: AdaptiveRecvByteBufferAllocator {
        AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 1024, maximum: 64 * 1024)
    }

    /// Switches `channel` (on its event loop) to `traffic`.
    static func useTrafficAllocator(on channel: any Channel) {
        // Fails only on a channel that is already closed, which reads nothing more.
        try? channel.syncOptions?.setOption(.recvAllocator, value: Self.traffic)
    }
}
