import Foundation
import Logging
import NATSProtocol
import NIOCore
import NIOEmbedded
import Testing
import WardenACL
import WardenPolicy
import WardenTestSupport

@testable import WardenAudit
@testable import WardenMetrics
@testable import WardenProxy

@Suite struct OutboundBatchTests {
    @Test func smallFramesBecomeOneBufferAndLargeOnesStaySlicesInOrder() {
        var batch = OutboundBatch()
        let large = ByteBuffer(repeating: UInt8(ascii: "L"), count: OutboundBatch.sliceThreshold)
        batch.append(ByteBuffer(string: "PUB a 1\r\nx\r\n"))
        batch.append(ByteBuffer(string: "PING\r\n"))
        batch.append(large)
        batch.append(ByteBuffer(string: "PONG\r\n"))

        #expect(batch.buffers.count == 3)
        #expect(
            batch.buffers.map { String(buffer: $0) } == ["PUB a 1\r\nx\r\nPING\r\n", String(buffer: large), "PONG\r\n"])
        #expect(batch.buffers[1] == large)

        batch.removeAll()
        #expect(batch.isEmpty)
        batch.append(ByteBuffer(string: "+OK\r\n"))
        #expect(batch.buffers.map { String(buffer: $0) } == ["+OK\r\n"])
    }
}

extension OutboundBatchTests {
    static func pooledBatch() -> OutboundBatch {
        var batch = OutboundBatch()
        batch.pool = BatchBufferPool()
        return batch
    }

    static func address(_ buffer: ByteBuffer) -> UnsafeRawPointer? {
        buffer.withUnsafeReadableBytes { $0.baseAddress }
    }

    /// Written batches go back to the loop's pool; once the channel has let go of a buffer, the next
    /// batch writes into the same memory instead of allocating.
    @Test func aBufferTheChannelHasWrittenIsFilledAgain() throws {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        var batch = Self.pooledBatch()
        batch.append(ByteBuffer(string: "PUB a 1\r\nx\r\n"))
        let first = Self.address(batch.buffers[0])
        batch.write(to: channel)
        channel.flush()
        #expect(try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "PUB a 1\r\nx\r\n")
        #expect(batch.pool!.count == 1)

        batch.append(ByteBuffer(string: "PING\r\n"))
        #expect(Self.address(batch.buffers[0]) == first)
        #expect(batch.buffers.map { String(buffer: $0) } == ["PING\r\n"])
        #expect(batch.pool!.count == 0)
    }

    /// A buffer the channel still holds (a write waiting for a slow peer) is never written into:
    /// the next batch gets other memory and the waiting bytes go out as they were.
    @Test func aBufferStillWaitingToBeWrittenIsNeverReused() throws {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        var batch = Self.pooledBatch()
        batch.append(ByteBuffer(string: "MSG a 1 1\r\nx\r\n"))
        let waiting = Self.address(batch.buffers[0])
        batch.write(to: channel)  // not flushed: the channel still holds it
        #expect(batch.pool!.count == 1)
        #expect(batch.pool!.take() == nil)

        batch.append(ByteBuffer(string: "MSG b 1 1\r\ny\r\n"))
        #expect(Self.address(batch.buffers[0]) != waiting)
        batch.write(to: channel)
        channel.flush()
        let written = try [channel.readOutbound(as: ByteBuffer.self), channel.readOutbound(as: ByteBuffer.self)]
        #expect(written.map { $0.map { String(buffer: $0) } } == ["MSG a 1 1\r\nx\r\n", "MSG b 1 1\r\ny\r\n"])
    }

    /// Slices of received bytes passed on whole are not the batch's to reuse.
    @Test func slicesPassedOnAreNotKept() {
        var batch = Self.pooledBatch()
        batch.append(ByteBuffer(repeating: UInt8(ascii: "L"), count: OutboundBatch.sliceThreshold))
        batch.removeAll()
        #expect(batch.pool!.count == 0)
    }
}
