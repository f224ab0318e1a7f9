import Foundation
import ServiceLifecycle

/// Runs `body` on a thread of its own named `name` and returns when it does: for the services that
/// block on nats.c (the audit stream, the fleet's follower, the heartbeats). `stop` is called at graceful
/// shutdown or cancellation and must make `body` return soon.
public func runOnThread(
    named name: String, _ body: @escaping @Sendable () -> Void, stop: @escaping @Sendable () -> Void
) async {
    await withTaskCancellationHandler {
        await withGracefulShutdownHandler {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let thread = Thread {
                    Thread.current.name = name
                    body()
                    done.resume()
                }
                thread.start()
            }
        } onGracefulShutdown: {
            stop()
        }
    } onCancel: {
        stop()
    }
}
