import NIOCore

/// Holds a channel's reads while its side of the session is paused, and reissues the one held back
/// when it resumes: back-pressure without touching `autoRead`.
struct ReadGate {
    private var pending = false

    mutating func read(context: ChannelHandlerContext, paused: Bool) {
        if paused {
            self.pending = true
        } else {
            context.read()
        }
    }

    mutating func resume(_ context: ChannelHandlerContext?) {
        guard self.pending, let context else { return }
        self.pending = false
        context.read()
    }
}
