package import Foundation
import Prometheus

/// The fleet state's metrics (`warden serve --fleet`), registered when the first state is put in force,
/// so that a Warden without `--fleet` shows none.
extension BrokerMetrics {
    private var fleetStateVersion: Gauge {
        self.registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "warden", subsystem: "fleet", metricName: "state_version", unitName: "",
                helpText: "The version of the fleet state (ACLs and inventory from the bucket WARDEN) in force."))
    }

    var fleetStateAge: Gauge {
        self.registry.makeGauge(
            descriptor: MetricNameDescriptor(
                namespace: "warden", subsystem: "fleet", metricName: "state_age", unitName: "seconds",
                helpText: "How long ago the fleet state in force was pushed."))
    }

    /// A fleet state was put in force: its version, and when it was pushed.
    package func fleetStateInForce(version: UInt64, created: Date) {
        self.fleetStateVersion.set(Int64(clamping: version))
        self.fleetCreated.withLockedValue { $0 = created }
        self.fleetStateAge.set(max(0, Date().timeIntervalSince(created)))
    }

    /// A bundle in the bucket was refused (`FleetRefusal.reason`: bad_signature, stale, ...).
    package func countFleetRefusal(reason: String) {
        self.registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "warden", subsystem: "fleet", metricName: "bundles_refused", unitName: "total",
                helpText:
                    "Bundles in the bucket WARDEN that were not put in force, by reason; the state in force stayed."
            ), labels: [("reason", reason)]
        ).increment()
    }
}
