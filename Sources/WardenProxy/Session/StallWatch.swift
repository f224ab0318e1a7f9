import NIOCore

/// What a session watches while its client takes nothing (the client's channel is not writable): the
/// write deadline, after which the client is closed as a slow consumer, and a probe of the upstream
/// connection every `probeInterval`, which Warden does not read meanwhile (`ProxyStateMachine.probeUpstream`).
/// Used on the session's event loop only.
struct StallWatch {
    /// How often the upstream connection is probed while the client stalls.
    static let probeInterval: TimeAmount = .seconds(1)

    private var deadline: Scheduled<Void>?
    private var probe: RepeatedTask?

    /// Whether a stall is being watched.
    var isWatching: Bool { self.deadline != nil }

    /// Starts watching (once per stall): `deadlineExceeded` after `deadline`, `probe` every `probeInterval`.
    mutating func start(
        on eventLoop: any EventLoop, deadline: TimeAmount, deadlineExceeded: @escaping @Sendable () -> Void,
        probe: @escaping @Sendable () -> Void
    ) {
        guard self.deadline == nil else { return }
        self.deadline = eventLoop.scheduleTask(in: deadline, deadlineExceeded)
        self.probe = eventLoop.scheduleRepeatedTask(initialDelay: Self.probeInterval, delay: Self.probeInterval) {
            _ in probe()
        }
    }

    /// The client took what was waiting, or the deadline passed: nothing more is watched.
    mutating func stop() {
        self.deadline?.cancel()
        self.deadline = nil
        self.probe?.cancel()
        self.probe = nil
    }
}
