import NIOCore
import NIOPosix

/// The decision records of one event loop's sessions that the log does not have yet.
///
/// Sessions encode their records here while they read and hand what is here to the log at the end of
/// the read cycle (`submit`), before the loop runs anything else. So no connection keeps a record
/// buffer of its own between reads, and the loop's sessions share the formatted second and the rule
/// texts of one `RecordEncoder`. Used only on its loop's thread.
package final class RecordBatch {
    /// The encoder and its records, in one value: encoding the records of a frame is one access to it.
    package var encoder = RecordEncoder()

    /// The batch of the calling thread, which must be the event loop of every session that uses it.
    package static var current: RecordBatch { Self.perThread.currentValue(orMake: RecordBatch.init) }

    // Each thread sees only its own batch: the container is shared, never a batch.
    nonisolated(unsafe) private static let perThread = ThreadSpecificVariable<RecordBatch>()

    package var isEmpty: Bool { self.encoder.isEmpty }

    /// Hands every record here to `log` and empties the batch. Returns false when the log asks for
    /// back-pressure (see `DecisionLog.submit`).
    package func submit(to log: DecisionLog) -> Bool {
        guard !self.encoder.isEmpty else { return true }
        let keepGoing = self.encoder.bytes.withUnsafeReadableBytes { log.submit($0) }
        self.encoder.removeAll()
        return keepGoing
    }
}
