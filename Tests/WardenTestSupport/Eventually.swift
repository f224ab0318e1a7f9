/// Checks `condition` every `interval` until it holds or `timeout` has passed (bounded waits for
/// something another thread or process does); returns whether it held. The caller asserts on it.
public func eventually(
    timeout: Duration, every interval: Duration = .milliseconds(10), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while true {
        if try await condition() { return true }
        if clock.now >= deadline || Task.isCancelled { return false }
        try? await Task.sleep(for: interval)
    }
}
