import Dispatch
import Foundation
public import Logging
import NATSClient
import NIOConcurrencyHelpers
public import ServiceLifecycle

/// The fleet's durable audit trail (`warden serve --audit-stream`): every deny record of the decision log,
/// published with JetStream acknowledgements into the stream `WARDEN_AUDIT`, each with a `Nats-Msg-Id`
/// unique per instance and record.
///
/// The decision log is the spool: a thread of its own tails the file, and a cursor beside it
/// (`AuditStreamCursor`) says how far the stream has acknowledged it (`AuditStreamWindow`). Nothing is
/// lost to a NATS outage or a crash: what was not acknowledged is sent again, after an outage or from
/// the cursor after a restart, and the stream stores a record sent again within its duplicate window
/// once. Unlike the live events (`AuditTrail`), no budget applies: the stream holds every deny record
/// the log holds.
public final class AuditStream: Service, Sendable {
    private struct State {
        var stopping = false
        var stored = 0
        var resends = 0
        /// Set when the connection came back, cleared by the thread once it has rewound.
        var reconnected = false
    }

    private let connection: WardenConnection
    private let logPath: String
    private let instance: String
    private let state = NIOLockedValueBox(State())
    private let logger: Logger

    public init(connection: WardenConnection, logPath: String, instance: String, logger: Logger) {
        self.connection = connection
        self.logPath = logPath
        self.instance = instance
        self.logger = logger
    }

    /// Records the stream acknowledged since start, and how often records were sent again.
    public var counts: (stored: Int, resends: Int) { self.state.withLockedValue { ($0.stored, $0.resends) } }

    public func run() async throws {
        let client: NATSClient
        do {
            var options = self.connection.clientOptions(name: "warden-audit-stream")
            options.onConnectionEvent = { [state = self.state] event in
                if event == .reconnected { state.withLockedValue { $0.reconnected = true } }
            }
            client = try NATSClient(options)
        } catch {
            throw AuditError(.eventsUnavailable, "cannot set up the audit stream's NATS connection: \(error)")
        }
        await runOnThread(named: "warden-stream") { [self] in
            self.ship(client)
            client.close()
        } stop: {
            self.stop(client)
        }
    }

    /// Stops the thread; closing the connection ends a request it may be waiting on.
    private func stop(_ client: NATSClient) {
        self.state.withLockedValue { $0.stopping = true }
        client.close()
    }

    private var stopping: Bool { self.state.withLockedValue { $0.stopping } }

    /// The thread: makes sure the stream exists, then ships the log until stopped.
    private func ship(_ client: NATSClient) {
        while !self.stopping, !AuditStreamSetup.ensureStream(client, logger: self.logger) {
            for _ in 0..<4 where !self.stopping { usleep(250_000) }
        }
        guard !self.stopping else { return }
        let inbox = "_INBOX.warden-stream.\(UInt64.random(in: 1...UInt64.max))"
        guard let acknowledgements = try? client.subscribe(inbox + ".*") else {
            self.logger.error("audit stream: cannot subscribe to its acknowledgements; no records are shipped")
            return
        }
        acknowledgements.removePendingLimits()
        let subject = AuditStreamFormat.subject(instance: self.instance)
        var shipper: LogShipper?
        var lastSaved = 0
        var lastSave: UInt64 = 0
        while !self.stopping {
            if shipper == nil {
                shipper = LogShipper(logPath: self.logPath)
                if shipper == nil {
                    usleep(200_000)
                    continue
                }
                lastSaved = shipper!.window.committed
            }
            let current = shipper!
            var failed = false
            let sent = current.send { line, token, end in
                let id = AuditStreamFormat.messageID(instance: self.instance, inode: current.identity.inode, end: end)
                do {
                    try client.publish(
                        subject, AuditStreamFormat.message(line: line, instance: self.instance),
                        headers: [("Nats-Msg-Id", id)], reply: "\(inbox).\(token)")
                    return true
                } catch {
                    failed = true
                    return false
                }
            }
            var actions: [AuditStreamWindow.Action] = []
            if failed { actions.append(current.window.restart()) }
            if self.state.withLockedValue({ state in
                defer { state.reconnected = false }; return state.reconnected
            }) {
                let now = DispatchTime.now().uptimeNanoseconds
                actions.append(current.window.rewind(to: current.rewindPoint(now: now)))
            }
            while let message = acknowledgements.next(timeoutMilliseconds: sent > 0 ? 1 : 50) {
                guard let token = message.subject.split(separator: ".").last.flatMap({ UInt64($0) }) else { continue }
                let stored = AuditStreamFormat.isStored(acknowledgement: message.payload)
                if stored { self.state.withLockedValue { $0.stored += 1 } }
                actions.append(stored ? current.window.acknowledged(token) : current.window.refused(token))
                if current.window.inFlight == 0 { break }
            }
            actions.append(current.window.tick(now: DispatchTime.now().uptimeNanoseconds))
            for case .resend(let offset) in actions {
                current.lines.seek(to: offset)
                self.state.withLockedValue { $0.resends += 1 }
                self.logger.warning(
                    "audit stream: sending records again from the log (not acknowledged, or NATS is back)",
                    metadata: ["offset": "\(offset)", "log": "\(self.logPath)"])
                usleep(500_000)
                // Nobody answering may mean the stream is gone (deleted by an operator): made again.
                _ = AuditStreamSetup.ensureStream(client, logger: self.logger)
                break
            }
            let now = DispatchTime.now().uptimeNanoseconds
            current.checkpoint(now: now)
            if current.window.committed != lastSaved, now - lastSave > 200_000_000 || current.window.inFlight == 0 {
                current.saveCursor(logPath: self.logPath, logger: self.logger)
                lastSaved = current.window.committed
                lastSave = now
            }
            // Rotated (SIGUSR1): once the old file is shipped whole, on to the new one from its start.
            if sent == 0, current.window.inFlight == 0, current.lines.change(path: self.logPath) == .replaced {
                shipper = nil
            }
        }
        shipper?.saveCursor(logPath: self.logPath, logger: self.logger)
    }
}
