import WardenPKI

/// One accepted connection on its way to a verified client or a refusal, free of I/O: the handlers
/// (`ClientAdmissionHandler`, `ClientTLSHandler`) feed it what happens and carry out what it returns.
///
/// A NATS client starts TLS one of two ways: the usual one, INFO in plain text from the server and then
/// the client's handshake, or `handshake_first`, the handshake at once and INFO after it. Warden waits a
/// short window for a ClientHello; without one it sends INFO in plain text. Anything but a handshake is
/// refused with nats-server's `Secure Connection - TLS Required`, before any of it is interpreted.
///
/// Every attempt ends in exactly one `admit` or one `refuse`, whatever happens after (a deadline, a
/// close, an error): that is what gives each attempt exactly one `connect` record.
struct AdmissionStateMachine {
    enum State: Equatable {
        /// Accepted; nothing received or sent yet.
        case awaitingFirstBytes
        /// INFO went out in plain text; the client's handshake should come next.
        case infoSent
        /// The TLS handshake is under way; the client certificate's verification, once it ran.
        case handshaking(infoSent: Bool, verified: CredentialStore.Admission?, failure: String?)
        case admitted
        case refused
    }

    enum Action: Equatable {
        case none
        /// Send INFO in plain text, the usual NATS order.
        case sendInfo
        /// The bytes received start a TLS handshake: set up TLS and pass them on.
        case startTLS
        /// Record the refusal, write `wireText` as an `-ERR` when given, and close.
        case refuse(reason: String, wireText: String?)
        /// Record the admission, send INFO when the client started with the handshake (`sendInfo`), and
        /// hand the connection to a session.
        case admit(service: String, admission: CredentialStore.Admission, sendInfo: Bool)
    }

    private(set) var state = State.awaitingFirstBytes

    /// The window for a ClientHello is over.
    mutating func windowElapsed() -> Action {
        guard self.state == .awaitingFirstBytes else { return .none }
        self.state = .infoSent
        return .sendInfo
    }

    /// The first bytes of the connection arrived; `startsHandshake` when they begin a TLS handshake
    /// record (0x16).
    mutating func firstBytes(startsHandshake: Bool) -> Action {
        let infoSent: Bool
        switch self.state {
        case .awaitingFirstBytes: infoSent = false
        case .infoSent: infoSent = true
        default: return .none
        }
        guard startsHandshake else {
            return self.refuse("plaintext connection: TLS is required", wireText: "Secure Connection - TLS Required")
        }
        self.state = .handshaking(infoSent: infoSent, verified: nil, failure: nil)
        return .startTLS
    }

    /// The client certificate was checked during the handshake: `admission`, or why it was not admitted.
    mutating func certificateChecked(_ result: Result<CredentialStore.Admission, Refusal>) {
        guard case .handshaking(let infoSent, _, _) = self.state else { return }
        switch result {
        case .success(let admission): self.state = .handshaking(infoSent: infoSent, verified: admission, failure: nil)
        case .failure(let refusal):
            self.state = .handshaking(infoSent: infoSent, verified: nil, failure: refusal.reason)
        }
    }

    /// The TLS handshake completed; `atCapacity` when Warden already has as many clients as it may
    /// (`--max-connections`).
    mutating func handshakeCompleted(atCapacity: Bool = false) -> Action {
        guard case .handshaking(let infoSent, let verified, let failure) = self.state else { return .none }
        guard let admission = verified else {
            return self.refuse(failure ?? "TLS session without a verified client certificate")
        }
        // As nats-server's max_connections: its text, which NATS clients answer by reconnecting.
        guard !atCapacity else {
            return self.refuse(Self.maxConnectionsText, wireText: Self.maxConnectionsText)
        }
        guard case .service(let service) = admission.identity else {
            let whose = admission.identity == .natsServer ? "nats-server's" : "Warden's own"
            return self.refuse("\(whose) identity cannot connect as a service")
        }
        self.state = .admitted
        return .admit(service: service, admission: admission, sendInfo: !infoSent)
    }

    /// The handshake failed; `description` is the error in words (`ClientTLSHandler.describe`).
    mutating func handshakeFailed(_ description: String) -> Action {
        guard case .handshaking(let infoSent, _, let failure) = self.state else { return .none }
        // Only a version error: a missing certificate, say, is that whatever the order.
        let versionError = ["VERSION", "below 1.2"].contains { description.contains($0) }
        return self.refuse(failure ?? (infoSent && versionError ? description + Self.afterInfo : description))
    }

    /// What a handshake that fails after Warden's plaintext INFO may mean: a client that starts with TLS
    /// (`handshake_first`) whose ClientHello came after the first-byte window reads the INFO as TLS
    /// (OpenSSL: "wrong version number") and gives up or sends an alert; it connects when it retries.
    static let afterInfo =
        " (after Warden's INFO: a client that starts with TLS, handshake_first, and sent its ClientHello after the first-byte window reads INFO as TLS; it retries)"

    /// No verified TLS session within the handshake timeout.
    mutating func deadlineReached(_ timeout: String) -> Action {
        switch self.state {
        case .admitted, .refused: return .none
        default: return self.refuse("no verified TLS session within \(timeout)")
        }
    }

    /// The connection closed before the attempt ended.
    mutating func closed() -> Action {
        switch self.state {
        case .awaitingFirstBytes, .infoSent: return self.refuse("closed before starting TLS")
        case .handshaking(let infoSent, _, let failure):
            return self.refuse(failure ?? "closed during the TLS handshake" + (infoSent ? Self.afterInfo : ""))
        case .admitted, .refused: return .none
        }
    }

    /// Warden could not set the connection up (an internal error).
    mutating func setupFailed(_ reason: String) -> Action {
        switch self.state {
        case .admitted, .refused: return .none
        default: return self.refuse(reason)
        }
    }

    /// nats-server's text when it has `max_connections` clients.
    static let maxConnectionsText = "maximum connections exceeded"

    private mutating func refuse(_ reason: String, wireText: String? = nil) -> Action {
        self.state = .refused
        return .refuse(reason: reason, wireText: wireText)
    }

    /// Why a client certificate was not admitted.
    struct Refusal: Error, Equatable {
        var reason: String
    }
}
