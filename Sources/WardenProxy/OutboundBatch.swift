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

/// The buffers `OutboundBatch`es fill, reused by the sessions of one event loop.
///
/// A batch's buffer goes to the channel at the end of a read cycle; NIOSSL encrypts it during the
/// flush and lets go of it. From then on only the pool holds it, and the next batch on this loop
/// writes into it again: a read cycle allocates no buffer of its own. The pool belongs to the loop's
/// thread, not to a session, so that an idle connection holds no batch buffer.
final class BatchBufferPool {
    /// Buffers kept per loop. A buffer still held by a channel (a write waiting for a slow peer) is
    /// skipped by `take` and, past this many, forgotten.
    static let capacity = 4
    /// A buffer that grew past this is not kept, so that one burst does not hold memory for good.
    static let largestKept = 64 * 1024

    private var buffers: [ByteBuffer] = []

    /// The pool of the calling thread, which must be the event loop of every session that uses it.
    static var current: BatchBufferPool { Self.perThread.currentValue(orMake: BatchBufferPool.init) }

    // Each thread sees only its own pool: the container is shared, never a pool.
    nonisolated(unsafe) private static let perThread = ThreadSpecificVariable<BatchBufferPool>()

    /// An empty buffer nobody else holds, or nil when there is none.
    func take() -> ByteBuffer? {
        for index in self.buffers.indices.reversed() where self.buffers[index].modifyIfUniquelyOwned({ $0.clear() }) != nil {
            return self.buffers.remove(at: index)
        }
        return nil
    }

    /// Keeps `buffer` for reuse once its channel has written it.
    func recycle(_ buffer: ByteBuffer) {
        guard buffer.capacity <= Self.largestKept else { return }
        if self.buffers.count == Self.capacity { self.buffers.removeFirst() }
        self.buffers.append(buffer)
    }

    var count: Int { self.buffers.count }
}
