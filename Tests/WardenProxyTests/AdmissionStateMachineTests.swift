import Foundation
import Testing
import WardenPKI

@testable import WardenProxy

/// Admission without a channel: how a connection becomes a verified client or is refused, and that
/// every attempt ends exactly once.
struct AdmissionStateMachineTests {
    static let orders = CredentialStore.Admission(
        identity: .service("orders"), serial: "01ab", notAfter: Date(timeIntervalSince1970: 2_000_000_000))
    static let warden = CredentialStore.Admission(
        identity: .warden, serial: "02cd", notAfter: Date(timeIntervalSince1970: 2_000_000_000))

    var machine = AdmissionStateMachine()

    @Test mutating func aClientThatStartsWithTheHandshakeGetsINFOAfterIt() {
        #expect(self.machine.firstBytes(startsHandshake: true) == .startTLS)
        #expect(self.machine.windowElapsed() == .none)
        self.machine.certificateChecked(.success(Self.orders))
        #expect(self.machine.handshakeCompleted() == .admit(service: "orders", admission: Self.orders, sendInfo: true))
    }

    @Test mutating func aClientThatWaitsGetsINFOInPlainTextFirstAndNotAgain() {
        #expect(self.machine.windowElapsed() == .sendInfo)
        #expect(self.machine.firstBytes(startsHandshake: true) == .startTLS)
        self.machine.certificateChecked(.success(Self.orders))
        #expect(self.machine.handshakeCompleted() == .admit(service: "orders", admission: Self.orders, sendInfo: false))
    }

    @Test mutating func plaintextIsRefusedWithNatsServersTextBeforeAnyOfItIsRead() {
        #expect(
            self.machine.firstBytes(startsHandshake: false)
                == .refuse(
                    reason: "plaintext connection: TLS is required", wireText: "Secure Connection - TLS Required"))
    }

    @Test mutating func aCertificateThatFailsItsCheckIsTheReasonOfTheRefusal() {
        _ = self.machine.firstBytes(startsHandshake: true)
        self.machine.certificateChecked(.failure(.init(reason: "revoked: certificate serial 01ab was revoked")))
        // The handshake fails because the callback said so; the reason is the check's, not the TLS alert's.
        #expect(
            self.machine.handshakeFailed("TLS handshake failed: CERTIFICATE_VERIFY_FAILED")
                == .refuse(reason: "revoked: certificate serial 01ab was revoked", wireText: nil))
    }

    @Test mutating func wardensOwnIdentityCannotConnectAsAService() {
        _ = self.machine.firstBytes(startsHandshake: true)
        self.machine.certificateChecked(.success(Self.warden))
        #expect(
            self.machine.handshakeCompleted()
                == .refuse(reason: "Warden's own identity cannot connect as a service", wireText: nil))
    }

    @Test mutating func everyAttemptEndsExactlyOnceWhateverFollows() {
        #expect(
            self.machine.deadlineReached("5 s") == .refuse(reason: "no verified TLS session within 5 s", wireText: nil))
        #expect(self.machine.closed() == .none)
        #expect(self.machine.firstBytes(startsHandshake: true) == .none)
        #expect(self.machine.handshakeCompleted() == .none)
        #expect(self.machine.setupFailed("x") == .none)

        var admitted = AdmissionStateMachine()
        _ = admitted.firstBytes(startsHandshake: true)
        admitted.certificateChecked(.success(Self.orders))
        _ = admitted.handshakeCompleted()
        #expect(admitted.deadlineReached("5 s") == .none)
        #expect(admitted.closed() == .none)
        #expect(admitted.handshakeFailed("late") == .none)
    }

    /// A handshake-first client whose ClientHello missed the first-byte window read Warden's INFO as TLS
    /// (python's ssl: a close; others: an alert): the record says what may have happened.
    @Test func aHandshakeThatFailsAfterINFOSaysWhatAHandshakeFirstClientMayHaveMissed() {
        var closed = AdmissionStateMachine()
        _ = closed.windowElapsed()
        _ = closed.firstBytes(startsHandshake: true)
        #expect(
            closed.closed()
                == .refuse(reason: "closed during the TLS handshake" + AdmissionStateMachine.afterInfo, wireText: nil))
        var failed = AdmissionStateMachine()
        _ = failed.windowElapsed()
        _ = failed.firstBytes(startsHandshake: true)
        guard case .refuse(let reason, _) = failed.handshakeFailed("TLS handshake failed: ALERT_PROTOCOL_VERSION")
        else {
            Issue.record("a failed handshake must refuse")
            return
        }
        #expect(reason.hasSuffix("the first-byte window reads INFO as TLS; it retries)"))
        var noCertificate = AdmissionStateMachine()
        _ = noCertificate.windowElapsed()
        _ = noCertificate.firstBytes(startsHandshake: true)
        #expect(
            noCertificate.handshakeFailed("no client certificate")
                == .refuse(reason: "no client certificate", wireText: nil))
        // A client that started with TLS in time gets no such words.
        var first = AdmissionStateMachine()
        _ = first.firstBytes(startsHandshake: true)
        #expect(first.closed() == .refuse(reason: "closed during the TLS handshake", wireText: nil))
    }

    @Test mutating func aCloseSaysWhenItCame() {
        #expect(self.machine.closed() == .refuse(reason: "closed before starting TLS", wireText: nil))
        var handshaking = AdmissionStateMachine()
        _ = handshaking.firstBytes(startsHandshake: true)
        #expect(handshaking.closed() == .refuse(reason: "closed during the TLS handshake", wireText: nil))
    }
}
