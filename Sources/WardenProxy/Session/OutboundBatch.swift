import NIOCore
import NIOPosix

/// What one read cycle sends in one direction, in order, gathered so that it reaches the channel as
/// few writes as possible.
///
/// NIOSSL encrypts each write as its own TLS record (one `SSL_write` per buffered write), so forwarding
/// small frames one write each costs a record, its header and its authentication tag per message on
/// both ends. Small frames are copied into one buffer instead, which becomes one write and, up to
/// 16 KiB, one record; frames of `sliceThreshold` bytes or more are passed on as the slices they
/// arrived in, so large payloads are never copied.
struct OutboundBatch {
    /// From this size on, a frame is written as its own slice rather than copied.
    static let sliceThreshold = 4096

    private(set) var buffers: [ByteBuffer] = []
    /// The indices in `buffers` of the buffers this batch filled, as opposed to slices passed on.
    private var filled: [Int] = []
    /// Whether the last of `buffers` is one this batch filled and may still append to.
    private var lastIsOwned: Bool { self.filled.last == self.buffers.count - 1 }
    /// Where the buffers this batch fills come from and go back to; without one, each is allocated.
    var pool: BatchBufferPool?

    var isEmpty: Bool { self.buffers.isEmpty }

    mutating func append(_ bytes: ByteBuffer) {
        if bytes.readableBytes >= Self.sliceThreshold {
            self.buffers.append(bytes)
        } else if self.lastIsOwned {
            self.buffers[self.buffers.count - 1].writeImmutableBuffer(bytes)
        } else {
            var owned = self.pool?.take() ?? ByteBufferAllocator().buffer(capacity: Self.sliceThreshold)
            owned.writeImmutableBuffer(bytes)
            self.filled.append(self.buffers.count)
            self.buffers.append(owned)
        }
    }

    mutating func append(contentsOf other: some Sequence<ByteBuffer>) {
        for bytes in other { self.append(bytes) }
    }

    /// Writes everything gathered to `channel` (without flushing) and empties the batch.
    mutating func write(to channel: any Channel) {
        for bytes in self.buffers { channel.write(bytes, promise: nil) }
        self.removeAll()
    }

    /// Empties the batch; the buffers it filled go back to its pool.
    mutating func removeAll() {
        if let pool = self.pool {
            for index in self.filled { pool.recycle(self.buffers[index]) }
        }
        self.buffers.removeAll(keepingCapacity: true)
        self.filled.removeAll(keepingCapacity: true)
    }
}
