import NIOCore
import NIOPosix

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
        for index in self.buffers.indices.reversed()
        where self.buffers[index].modifyIfUniquelyOwned({ $0.clear() }) != nil {
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
