import Foundation
import NIOConcurrencyHelpers

/// A thread of its own that sleeps until it has work, takes the work under one lock, does it outside
/// the lock, and at `stop` drains what is left and ends. The decision log's writer and the audit trail's
/// publisher are each one: the event loops only change `State` (a lock and a copy) and wake the worker
/// when it needs waking.
///
/// `State` is guarded by the worker's lock: producers change it with `update` (or `withState`), the
/// worker takes its work with `next`. The lock is also the condition the worker sleeps on, so a producer
/// that changes the state and a worker deciding to sleep never miss each other.
package final class BackgroundWorker<State>: @unchecked Sendable {
    /// What the worker is doing, as producers and the worker see it under the lock.
    package struct Signal: Sendable {
        /// Woken and not yet back for its work: waking it again changes nothing.
        package fileprivate(set) var woken = false
        /// Asleep until woken, rather than for a set time: new work waits until a producer wakes it.
        package fileprivate(set) var sleepsUntilWoken = false
        /// `stop` was called: the worker drains what is left and ends its loop.
        package fileprivate(set) var stopping = false
    }

    /// 1 while the worker is woken (for good once it is stopping), 0 otherwise. Guards every stored
    /// property below.
    private let condition = ConditionLock<Int>(value: 0)
    private var state: State
    private var signal = Signal()
    private var exited = false
    private var stopWaiters: [CheckedContinuation<Void, Never>] = []

    package init(state: State) {
        self.state = state
    }

    /// Starts the worker's thread, named `name` (15 bytes at most), running `loop`, which takes its work
    /// with `next` and returns once `next` said it is stopping and it has drained what is left.
    package func start(name: String, _ loop: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            // Named from inside: set before start, the name does not reach the thread on Linux, which
            // then shows its creator's.
            Thread.current.name = name
            loop()
            self.condition.lock()
            self.exited = true
            let waiters = self.stopWaiters
            self.stopWaiters = []
            self.condition.unlock()
            for waiter in waiters { waiter.resume() }
        }
        thread.start()
    }

    /// Changes the state under the lock; when `body` answers `wake: true`, the worker is woken (unless it
    /// already is). `body` sees what the worker is doing, to wake it only when that is needed.
    package func update<Result>(_ body: (inout State, Signal) -> (result: Result, wake: Bool)) -> Result {
        self.condition.lock()
        let (result, wake) = body(&self.state, self.signal)
        if wake && !self.signal.woken {
            self.signal.woken = true
            self.condition.unlock(withValue: 1)
        } else {
            self.condition.unlock()
        }
        return result
    }

    /// Reads or changes the state under the lock, without waking the worker.
    package func withState<Result>(_ body: (inout State) -> Result) -> Result {
        self.update { state, _ in (body(&state), false) }
    }

    /// The worker's side: unless it is woken already, sleeps for what `sleep` answers from the state
    /// (seconds; nil: until woken; 0: not at all), then runs `take` under the lock, with the worker's
    /// signal as it woke. The wake is spent, except a stop's: once stopping, `next` never sleeps again.
    package func next<Result>(sleep: (State) -> Double?, take: (inout State, Signal) -> Result) -> Result {
        self.condition.lock()
        if !self.signal.woken {
            let seconds = sleep(self.state)
            if seconds != 0 {
                self.signal.sleepsUntilWoken = seconds == nil
                self.condition.unlock()
                if let seconds {
                    if !self.condition.lock(whenValue: 1, timeoutSeconds: seconds) { self.condition.lock() }
                } else {
                    self.condition.lock(whenValue: 1)
                }
            }
        }
        let result = take(&self.state, self.signal)
        self.signal.sleepsUntilWoken = false
        self.signal.woken = self.signal.stopping
        self.condition.unlock(withValue: self.signal.woken ? 1 : 0)
        return result
    }

    /// Whether `stop` was called.
    package var isStopping: Bool {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.signal.stopping
    }

    /// Tells the worker to stop, and returns once its loop has ended (at once if it has).
    package func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.condition.lock()
            guard !self.exited else {
                self.condition.unlock()
                continuation.resume()
                return
            }
            self.stopWaiters.append(continuation)
            self.signal.stopping = true
            self.signal.woken = true
            self.condition.unlock(withValue: 1)
        }
    }
}
