import Foundation
import Testing

@testable import WardenAudit

/// The worker behind the decision log's writer and the audit trail's publisher: a producer's wake
/// reaches it, a stop drains what is left, and nothing is taken twice or lost.
struct BackgroundWorkerTests {
    struct Work {
        var queue: [Int] = []
        var done: [Int] = []
    }

    /// A worker that sleeps until woken (`sleep` nil) or for `seconds`, and moves the queue to `done`.
    static func started(sleepSeconds: Double? = nil) -> BackgroundWorker<Work> {
        let worker = BackgroundWorker(state: Work())
        worker.start(name: "test-worker") {
            var batch: [Int] = []
            while true {
                let stopping = worker.next { _ in
                    sleepSeconds
                } take: { state, signal in
                    swap(&state.queue, &batch)
                    return signal.stopping
                }
                worker.withState { $0.done += batch }
                batch.removeAll()
                if stopping { return }
            }
        }
        return worker
    }

    /// Waits, up to ten seconds, for `condition` on the worker's state.
    static func waitFor(_ worker: BackgroundWorker<Work>, _ condition: (Work) -> Bool) async throws -> Bool {
        for _ in 0..<1000 {
            if worker.withState({ condition($0) }) { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    @Test func aProducersWakeReachesAWorkerThatSleepsUntilWoken() async throws {
        let worker = Self.started()
        // Asleep until woken: the producer sees it must wake it.
        var sawSleeper = false
        for _ in 0..<1000 where !sawSleeper {
            sawSleeper = worker.update { _, signal in (signal.sleepsUntilWoken, false) }
            if !sawSleeper { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(sawSleeper)
        worker.update { state, _ in
            state.queue.append(1)
            return ((), true)
        }
        #expect(try await Self.waitFor(worker) { $0.done == [1] })
        await worker.stop()
    }

    @Test func workLeftUnwokenIsStillDoneAtStopAndStopWaitsForIt() async {
        let worker = Self.started()
        for item in 0..<100 {
            worker.update { state, _ in
                state.queue.append(item)
                return ((), false)
            }
        }
        await worker.stop()
        #expect(worker.withState { $0.done } == Array(0..<100))
        #expect(worker.withState { $0.queue }.isEmpty)
    }

    @Test func aTimedSleepTakesWorkWithoutAWake() async throws {
        let worker = Self.started(sleepSeconds: 0.01)
        worker.update { state, _ in
            state.queue.append(7)
            // It sleeps for a set time, not until woken.
            return ((), false)
        }
        #expect(try await Self.waitFor(worker) { $0.done == [7] })
        await worker.stop()
    }

    @Test func producersSeeTheStopAndAStopAfterTheEndReturnsAtOnce() async {
        let worker = Self.started()
        await worker.stop()
        #expect(worker.isStopping)
        let refused = worker.update { _, signal in (signal.stopping, false) }
        #expect(refused)
        // Stopping twice, or after the loop ended, returns.
        await worker.stop()
        await worker.stop()
    }
}
