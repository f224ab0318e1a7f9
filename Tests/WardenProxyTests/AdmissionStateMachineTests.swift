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

    @Test mutating func aCloseSaysWhenItCame() {
        #expect(self.machine.closed() == .refuse(reason: "closed before starting TLS", wireText: nil))
        var handshaking = AdmissionStateMachine()
        _ = handshaking.firstBytes(startsHandshake: true)
        #expect(handshaking.closed() == .refuse(reason: "closed during the TLS handshake", wireText: nil))
    }
}
