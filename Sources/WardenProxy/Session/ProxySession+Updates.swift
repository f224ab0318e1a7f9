import WardenPKI
import WardenPolicy

/// What reaches a live session from outside its two connections: a withdrawn credential, Warden's INFO
/// updates (lame duck mode, the other Wardens), and reloaded ACLs. Each is decided by the state machine
/// and carried out as the connections' own events are.
extension ProxySession {
    // MARK: Credentials

    /// The credential this connection was admitted with may no longer be used (revoked, expired, or
    /// gone from the inventory): the state machine tells the client, records it and closes
    /// (`ProxyStateMachine.credentialWithdrawn`).
    func credentialWithdrawn(_ failure: CredentialVerifier.Failure, serial: String) {
        guard !self.closing else { return }
        let reason = "\(failure.code.rawValue): \(failure.reason)"
        self.logger.warning("closing: credential withdrawn", metadata: ["reason": "\(reason)"])
        self.sink.metrics.countCredentialClose()
        self.core.credentialWithdrawn(
            ProxyStateMachine.Withdrawal(
                reason: reason, expired: failure.code == .expired,
                identity: self.core.machine.service.map {
                    Identity.service($0).uri(trustDomain: self.settings.trustDomain)
                }, serial: serial))
        self.closeIfDecided()
    }

    // MARK: INFO updates

    /// Warden is in lame duck mode: the client is told, with nats-server's INFO `ldm`, that it will be
    /// closed soon and should reconnect elsewhere (`ProxyServer.enterLameDuckMode`): to the other Wardens it names.
    func lameDuck() {
        guard !self.closing else { return }
        self.core.out.client.append(
            self.info.line(clientID: self.core.machine.conn, lameDuck: true, connectURLs: self.info.peerURLs))
        self.flushAll()
    }

    /// The live Wardens changed (`ProxyServer.peersChanged`): the client is told the new list in an
    /// INFO, as nats-server tells its clients when its cluster changes, once it has had the first
    /// PONG (nats-server sends no INFO update before that either).
    func peersChanged() {
        guard !self.closing, self.core.machine.hasAnsweredFirstPing else { return }
        let urls = self.info.clientConnectURLs ?? [self.info.advertisedAddress]
        self.core.out.client.append(self.info.line(clientID: self.core.machine.conn, connectURLs: urls))
        self.flushAll()
    }

    // MARK: ACL reload

    /// The ACLs were reloaded: `snapshot` decides this connection from now on. Returns how many of its
    /// subscriptions were removed because they are no longer allowed.
    func policyChanged(_ snapshot: PolicySnapshot) -> Int {
        guard !self.closing else { return 0 }
        let service = self.core.machine.service
        let policy = service.flatMap { snapshot.policy(for: $0) }
        // Already told (a connection admitted while the ACLs were being replaced).
        guard policy !== self.core.machine.policy else { return 0 }
        let counters = self.sink.metrics.decisionCounters(service: service, mode: policy?.mode ?? .enforce)
        let removed = self.core.policyChanged(to: policy, counters: counters)
        self.flushAll()
        if removed > 0 {
            self.logger.info(
                "removed subscriptions the reloaded ACLs no longer allow", metadata: ["removed": "\(removed)"])
        }
        return removed
    }
}
