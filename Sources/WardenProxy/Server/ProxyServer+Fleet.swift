public import WardenFleet

extension ProxyServer {
    /// Puts a fleet state from the bucket in force (`warden serve --fleet`): its inventory first, so that
    /// the connections of a service it revokes close at once, then its ACLs, as a SIGHUP reload does: live
    /// connections are decided by them from then on. Returns once every connection is.
    public func putInForce(fleet state: FleetState) async {
        do {
            try self.credentials.replace(state.bundle.inventory)
        } catch {
            // The gate let only this trust domain's bundles through; should one slip by, nothing changes.
            self.logger.error("fleet: the state's inventory is refused", metadata: ["error": "\(error)"])
            return
        }
        self.withdrawCredentials(inventoryChanged: true)
        await self.putInForce(state.policy, from: "fleet state version \(state.bundle.version)")
        self.fleetStateInForce(state)
    }

    /// Records the version in force and when it was pushed (`warden_fleet_state_version`, `_age_seconds`).
    public func fleetStateInForce(_ state: FleetState) {
        self.sink.metrics.fleetStateInForce(version: state.bundle.version, created: state.bundle.created)
    }

    /// Counts a bundle the bucket offered and the gate refused (`warden_fleet_bundles_refused_total`).
    public func countFleetRefusal(_ refusal: FleetRefusal) {
        self.sink.metrics.countFleetRefusal(reason: refusal.reason)
    }
}
