import ArgumentParser
import Foundation
import NATSClient
import WardenFleet
import WardenPKI
import WardenPeers
import WardenPolicy

struct FleetStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Every live Warden with its state version and connections; exit 1 when any is behind the bucket.",
        discussion: """
            Listens to the Wardens' heartbeats (warden.peers.heartbeat) for --wait and compares each one's \
            state version with the bundle in the bucket WARDEN. A Warden that serves its ACL files (no --fleet) \
            counts as behind.
            """
    )

    @OptionGroup var certs: CertsOptions
    @OptionGroup var nats: NATSOptions
    @Option(help: "How long to listen for heartbeats (each Warden sends one a second), e.g. 3s.")
    var wait: String = "3s"

    func validate() throws {
        guard self.nats.nats != nil else { throw ValidationError("--nats URL[,URL] is required") }
        guard (try? DurationParser.parse(self.wait)).map({ $0 > .zero }) == true else {
            throw ValidationError("--wait must be a duration like 3s")
        }
    }

    func run() throws {
        let ca = try runPKI { () throws(PKIError) in try FleetSignature.caCertificate(layout: self.certs.layout) }
        let options = self.nats.connection(certs: self.certs)!.oneShotOptions(name: "warden-fleet-status")
        let client: NATSClient
        let subscription: NATSClient.Subscription
        do {
            client = try NATSClient(options)
            subscription = try client.subscribe(Heartbeat.subject)
        } catch {
            printError("error: cannot reach NATS: \(error)")
            printError("hint: check --nats, and that the certs folder holds Warden's upstream identity")
            throw ExitCode(1)
        }
        defer { client.close() }
        var bucketBundle: FleetBundle?
        if let bucket = try? KeyValueBucket(client, name: FleetBundle.bucket),
            let entry = try? bucket.get(FleetBundle.key), let signed = SignedBundle(encoded: entry.value),
            let trustDomain = FleetSignature.trustDomain(of: ca),
            case .success(let bundle) = signed.verified(ca: ca, trustDomain: trustDomain)
        {
            bucketBundle = bundle
        }
        let wardens = Heartbeat.listen(on: subscription, for: try DurationParser.parse(self.wait)).filter {
            !$0.value.leaving
        }
        let version = bucketBundle?.version
        if let bundle = bucketBundle {
            print(
                "bucket \(FleetBundle.bucket): state version \(bundle.version), pushed \(bundle.created) from \(bundle.host), sha256 \(bundle.sha256.prefix(12))"
            )
        } else {
            print("bucket \(FleetBundle.bucket): no fleet state the CA signed")
        }
        guard !wardens.isEmpty else {
            print("no live Warden heard within \(self.wait)")
            throw ExitCode(1)
        }
        var rows = [["INSTANCE", "ADVERTISE", "VERSION", "CONNECTIONS", "STATE"]]
        var behind = 0
        for beat in wardens.values.sorted(by: { ($0.instance, $0.serverID) < ($1.instance, $1.serverID) }) {
            let state: String
            switch (beat.stateVersion, version) {
            case (nil, _): state = "files (not following the bucket)"
            case (let own?, let bucket?) where own >= bucket: state = "current"
            default: state = "behind"
            }
            if state != "current" { behind += 1 }
            rows.append([
                beat.instance, beat.advertise, beat.stateVersion.map(String.init) ?? "-",
                beat.connections.map(String.init) ?? "-", state,
            ])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print(
                row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
        if behind > 0 {
            print("\(behind) of \(wardens.count) Warden(s) not on the bucket's state")
            throw ExitCode(1)
        }
    }
}
