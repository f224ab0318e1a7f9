import NATSProtocol

/// A session's connection to nats-server, from the socket to NATS traffic, free of I/O: the
/// `UpstreamHandler` feeds it what happens and carries out what it returns.
///
/// nats-server speaks first, in plain text: one INFO, after which it waits for the TLS handshake.
/// Anything else before TLS is not nats-server, and ends the connection; so does a certificate that
/// does not name the host Warden dialled. Once TLS is up, the session reads everything; the first read
/// of NATS traffic switches the receive allocator (`ReceiveBuffers.traffic`).
struct UpstreamStateMachine {
    enum State: Equatable {
        /// Connected; nats-server's INFO has not come yet.
        case awaitingInfo
        /// INFO came; the TLS handshake is under way.
        case handshaking
        /// TLS is up; `carriesTraffic` once NATS bytes came through it.
        case ready(carriesTraffic: Bool)
        /// The connection failed; nothing more is done. `duringHandshake` when TLS had started: then it is
        /// nats-server's TLS or certificate that failed, not the network.
        case failed(duringHandshake: Bool)
    }

    enum Action: Equatable {
        case none
        /// nats-server's INFO (its JSON): start the TLS handshake.
        case startTLS(infoJSON: String)
        /// The connection is not what Warden expects: fail the session with `reason`.
        case fail(String)
        /// TLS is up and nats-server is who Warden dialled: the session may send CONNECT.
        case ready
        /// NATS bytes for the session; `firstTraffic` on the first of them.
        case forward(firstTraffic: Bool)
    }

    private(set) var state = State.awaitingInfo

    /// A frame read in plain text, before TLS (or the parser's error), and whether more bytes followed it
    /// in the same read.
    mutating func plaintext(_ frame: Result<Frame<ServerOperation>?, NATSProtocolError>, moreBytes: Bool) -> Action {
        guard self.state == .awaitingInfo else {
            return self.fail("nats-server sent data before the TLS handshake completed")
        }
        let received: Frame<ServerOperation>?
        switch frame {
        case .success(let frame): received = frame
        case .failure(let error): return self.fail("nats-server broke the protocol: \(error)")
        }
        guard let received else { return .none }
        guard case .info(let json) = received.operation else { return self.fail("nats-server did not start with INFO") }
        guard !moreBytes else { return self.fail("nats-server sent data before the TLS handshake completed") }
        self.state = .handshaking
        return .startTLS(infoJSON: json)
    }

    /// The TLS handshake completed; `namesHost` when nats-server's certificate names the host Warden
    /// dialled (`host`, for the message).
    mutating func handshakeCompleted(namesHost: Bool, host: String) -> Action {
        guard self.state == .handshaking else { return .none }
        guard namesHost else { return self.fail("nats-server's certificate does not name \(host) (DNS names only)") }
        self.state = .ready(carriesTraffic: false)
        return .ready
    }

    /// Bytes came in after TLS was up.
    mutating func traffic() -> Action {
        switch self.state {
        case .ready(let carriesTraffic):
            self.state = .ready(carriesTraffic: true)
            return .forward(firstTraffic: !carriesTraffic)
        case .failed:
            return .none
        case .awaitingInfo, .handshaking:
            // Decrypted bytes before the handshake's end cannot happen: TLS does not hand them on.
            return self.fail("nats-server sent data before the TLS handshake completed")
        }
    }

    /// Something outside the machine went wrong (TLS could not start, a channel error).
    mutating func failed(_ reason: String) -> Action {
        if case .failed = self.state { return .none }
        return self.fail(reason)
    }

    private mutating func fail(_ reason: String) -> Action {
        self.state = .failed(duringHandshake: self.state == .handshaking)
        return .fail(reason)
    }
}
