import Dispatch
import Foundation
public import Logging
import NATSClient
import NIOConcurrencyHelpers
public import ServiceLifecycle
public import WardenAudit

/// Keeps a Warden's state the bucket's: watches the bundle key over a NATS connection of its own
/// (Warden's upstream identity, re-made for good), offers every new value to the `FleetGate`, puts what
/// it takes in force (`apply`: the ACLs as at a SIGHUP, the inventory as at a revocation), keeps it in
/// `--state-dir`, and logs and counts what it refuses (`refused`). Besides the watch, it reads the key
/// every `recheckInterval`, so that a value written while the watch was down is not missed.
public final class FleetFollower: Service, Sendable {
    public static let recheckInterval: Duration = .seconds(5)

    private struct State {
        var gate: FleetGate
        var stopping = false
        /// The bucket's revision last refused: read again, it is not refused (and counted) again.
        var refusedRevision: UInt64?
    }

    private let connection: WardenConnection
    private let stateDirectory: StateDirectory
    private let state: NIOLockedValueBox<State>
    private let apply: @Sendable (FleetState) async -> Void
    private let refused: @Sendable (FleetRefusal) -> Void
    private let logger: Logger

    /// - Parameter gate: the gate with the state put in force at start (`FleetStartup`).
    public init(
        connection: WardenConnection, gate: FleetGate, stateDirectory: StateDirectory, logger: Logger,
        apply: @escaping @Sendable (FleetState) async -> Void, refused: @escaping @Sendable (FleetRefusal) -> Void
    ) {
        self.connection = connection
        self.stateDirectory = stateDirectory
        self.state = NIOLockedValueBox(State(gate: gate))
        self.apply = apply
        self.refused = refused
        self.logger = logger
    }

    /// The bundle in force.
    public var inForce: FleetBundle? { self.state.withLockedValue { $0.gate.inForce?.bundle } }

    public func run() async throws {
        let client: NATSClient
        do {
            client = try NATSClient(self.connection.clientOptions(name: "warden-fleet"))
        } catch {
            throw FleetError(.unreachable, "cannot set up the fleet state's NATS connection: \(error)")
        }
        await runOnThread(named: "warden-fleet") { [self] in
            self.follow(client)
            client.close()
        } stop: {
            self.stop(client)
        }
    }

    /// Stops the thread; closing the connection ends a JetStream request it may be waiting on.
    private func stop(_ client: NATSClient) {
        self.state.withLockedValue { $0.stopping = true }
        client.close()
    }

    private var stopping: Bool { self.state.withLockedValue { $0.stopping } }

    /// The follower's thread: binds to the bucket, watches the key, reads it again now and then.
    private func follow(_ client: NATSClient) {
        var bucket: KeyValueBucket?
        var watcher: KeyValueBucket.Watcher?
        var lastRead = DispatchTime.now().uptimeNanoseconds
        let recheck = UInt64(Self.recheckInterval.components.seconds) * 1_000_000_000
        var reported = false
        while !self.stopping {
            do {
                if bucket == nil { bucket = try KeyValueBucket(client, name: FleetBundle.bucket) }
                if watcher == nil { watcher = try bucket!.watch(FleetBundle.key) }
                if reported {
                    self.logger.info("fleet: watching the bucket again")
                    reported = false
                }
                if case .entry(let entry) = try watcher!.next(timeoutMilliseconds: 250) {
                    self.take(entry)
                }
                let now = DispatchTime.now().uptimeNanoseconds
                if now - lastRead >= recheck {
                    lastRead = now
                    if let entry = try bucket!.get(FleetBundle.key) { self.take(entry) }
                }
            } catch {
                watcher = nil
                if error.code == .notFound { bucket = nil }
                if !reported {
                    self.logger.warning(
                        "fleet: cannot watch the bucket; the state in force stays, retrying",
                        metadata: ["bucket": "\(FleetBundle.bucket)", "error": "\(error)"])
                    reported = true
                }
                for _ in 0..<4 where !self.stopping { usleep(250_000) }
            }
        }
    }

    /// Offers a value of the key to the gate, and acts on its verdict.
    private func take(_ entry: KeyValueBucket.Entry) {
        guard !entry.isDeletion else {
            let version = self.state.withLockedValue { $0.gate.version }
            self.logger.error(
                "fleet: the bundle was deleted from the bucket; version \(version) stays in force",
                metadata: ["revision": "\(entry.revision)"])
            return
        }
        let verdict: FleetGate.Verdict? = self.state.withLockedValue { state in
            guard state.refusedRevision != entry.revision else { return nil }
            let verdict = state.gate.offer(entry.value)
            if case .refuse = verdict { state.refusedRevision = entry.revision }
            return verdict
        }
        guard let verdict else { return }
        switch verdict {
        case .unchanged:
            return
        case .refuse(let refusal):
            let version = self.state.withLockedValue { $0.gate.version }
            self.logger.error(
                "fleet: a bundle in the bucket is refused, version \(version) stays in force: \(refusal)",
                metadata: ["revision": "\(entry.revision)", "reason": "\(refusal.reason)"])
            self.refused(refusal)
        case .apply(let state):
            FleetStartup.keep(state, in: self.stateDirectory, logger: self.logger)
            let done = DispatchSemaphore(value: 0)
            Task {
                await self.apply(state)
                done.signal()
            }
            done.wait()
            self.logger.info(
                "fleet: state version \(state.bundle.version) in force",
                metadata: [
                    "sha256": "\(state.bundle.sha256)", "pushed_from": "\(state.bundle.host)",
                    "created": "\(state.bundle.created)",
                ])
        }
    }
}
