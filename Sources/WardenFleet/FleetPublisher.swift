import Foundation
import NATSClient
public import WardenAudit
public import WardenPKI

/// How `warden fleet push`, and `warden revoke` and `warden enroll` with `--nats`, write the fleet's next
/// bundle: read the bucket's bundle, make the next version, sign it with the CA key, and write it only
/// if the bucket still holds what was read (a KeyValue update on its revision), so that two pushes at
/// once never both win: the loser reads again and retries.
public struct FleetPublisher {
    /// What a push wrote.
    public struct Pushed: Sendable {
        public let bundle: FleetBundle
        public let revision: UInt64
        /// Set when the bucket's value was not the newest bundle the CA signed (a forgery, or a replay of an
        /// older one); the new bundle replaces it.
        public let replacedRefusal: FleetRefusal?
    }

    let authority: CertificateAuthority
    let connection: WardenConnection
    let host: String

    public init(authority: CertificateAuthority, connection: WardenConnection, host: String) {
        self.authority = authority
        self.connection = connection
        self.host = host
    }

    /// Writes `acls` and `inventory` as the next version, creating the bucket when missing: three replicas
    /// on a cluster of three or more servers, else one.
    public func push(acls: [FleetBundle.ACLFile], inventory: Inventory) throws(FleetError) -> Pushed {
        try self.write { current in
            FleetBundle(
                version: current.map { $0.version == .max ? .max : $0.version + 1 } ?? 1, host: self.host, acls: acls,
                inventory: inventory)
        }
    }

    /// Writes the bucket's bundle again as the next version, with its inventory changed by `change`.
    /// Fails when the bucket holds no bundle the CA signed: there is nothing to amend.
    public func amend(_ change: @escaping (inout Inventory) -> Void) throws(FleetError) -> Pushed {
        try self.write { current in
            guard let current else {
                throw FleetError(
                    .noState,
                    "the bucket \(FleetBundle.bucket) holds no fleet state the CA signed to amend")
            }
            return current.next(host: self.host, changing: change)
        }
    }

    private func write(_ make: (FleetBundle?) throws -> FleetBundle) throws(FleetError) -> Pushed {
        do {
            return try self.attempt(make)
        } catch let error as FleetError {
            throw error
        } catch {
            if "\(error)".contains("maximum payload") {
                throw FleetError(.tooLarge, "the fleet state is larger than nats-server's max_payload: \(error)")
            }
            throw FleetError(.unreachable, "cannot write to the bucket \(FleetBundle.bucket): \(error)")
        }
    }

    private func attempt(_ make: (FleetBundle?) throws -> FleetBundle) throws -> Pushed {
        let client = try NATSClient(self.connection.oneShotOptions(name: "warden-fleet-push"))
        defer { client.close() }
        let bucket = try KeyValueBucket(client, name: FleetBundle.bucket, createWith: client.clusterReplicas)
        for _ in 0..<5 {
            // Every value the bucket still holds, each verified once; the last is the current one. The
            // newest bundle the CA signed is what the Wardens have in force: the current value may be a
            // forgery or a replay of an older one.
            let history = try bucket.history(FleetBundle.key).map { entry in
                (
                    entry: entry,
                    bundle: entry.isDeletion
                        ? nil
                        : SignedBundle(encoded: entry.value).map {
                            $0.verified(ca: self.authority.certificate, trustDomain: self.authority.trustDomain)
                        } ?? .failure(.notABundle)
                )
            }
            let verified = history.compactMap { try? $0.bundle?.get() }
            let latest = verified.max { $0.version < $1.version }
            let entry = history.last?.entry
            var refusal: FleetRefusal?
            switch history.last?.bundle {
            case .success(let current) where current.version < (latest?.version ?? 0):
                refusal = .stale(version: current.version, inForce: latest?.version ?? 0)
            case .failure(let refused): refusal = refused
            case .success, nil: break
            }
            var next = try make(latest)
            if verified.isEmpty, let live = LiveVersions.highest(on: client), live >= next.version {
                // A new or remade bucket: the Wardens still have their state in force, and take only newer.
                next.version = live == .max ? .max : live + 1
            }
            let signed = try SignedBundle.sign(next, by: self.authority)
            let written = Result { () throws(NATSClient.Failure) in
                try bucket.update(FleetBundle.key, signed.encoded, replacing: entry?.revision ?? 0)
            }
            switch written {
            case .success(let revision): return Pushed(bundle: next, revision: revision, replacedRefusal: refusal)
            case .failure(let failure) where failure.code == .conflict: continue
            case .failure(let failure): throw failure
            }
        }
        throw FleetError(
            .conflict, "the bucket \(FleetBundle.bucket) kept changing while this push wrote to it; try again")
    }
}
