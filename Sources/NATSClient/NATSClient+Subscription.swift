import CNATS

extension NATSClient {
    /// A synchronous subscription: messages are taken with `next`.
    public final class Subscription: @unchecked Sendable {
        private let subscription: OpaquePointer
        /// A subscription keeps its connection open: nats.c closes subscriptions with their connection.
        private let connection: NATSClient

        init(_ subscription: OpaquePointer, connection: NATSClient) {
            self.subscription = subscription
            self.connection = connection
        }

        deinit {
            natsSubscription_Destroy(self.subscription)
        }

        /// Lifts nats.c's limits on messages waiting in this subscription (for load generators, which
        /// must not lose messages to the client-side slow-consumer check).
        public func removePendingLimits() {
            natsSubscription_SetPendingLimits(self.subscription, -1, -1)
        }

        /// Receives and discards messages until `count` arrived or none arrives within the timeout;
        /// returns how many arrived. Copies nothing, so a benchmark measures the server, not this.
        public func discard(_ count: Int, timeoutMilliseconds: Int64 = 5000) -> Int {
            var received = 0
            while received < count {
                var message: OpaquePointer?
                guard natsSubscription_NextMsg(&message, self.subscription, timeoutMilliseconds) == NATS_OK else {
                    break
                }
                natsMsg_Destroy(message)
                received += 1
            }
            return received
        }

        /// The next message, or nil when none arrives within the timeout.
        public func next(timeoutMilliseconds: Int64 = 1000) -> Message? {
            var message: OpaquePointer?
            guard natsSubscription_NextMsg(&message, self.subscription, timeoutMilliseconds) == NATS_OK, let message
            else {
                return nil
            }
            defer { natsMsg_Destroy(message) }
            return Message(message)
        }

        public func unsubscribe() {
            natsSubscription_Unsubscribe(self.subscription)
        }
    }
}
