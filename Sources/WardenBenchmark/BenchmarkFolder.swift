import Foundation
import WardenPKI

/// A benchmark's working folder: a CA with the `bench` service enrolled, nats-server's certificate for
/// 127.0.0.1, and the `bench` ACL, as a user would set them up.
struct BenchmarkFolder {
    /// The ACL every benchmark runs under: what `bench` needs, with a deny entry so that decisions are
    /// not trivially "allow everything".
    static let acl = """
        defaults:
          subscribe:
            allow: ["_INBOX.{{service}}.>"]
        services:
          bench:
            publish:
              allow: ["bench.>"]
              deny: ["bench.never.>"]
            subscribe:
              allow: ["bench.>"]
            allow_responses: true
        """

    let path: String
    let layout: CertsLayout
    let authority: CertificateAuthority
    var acls: String { self.path + "/acls" }

    /// Makes `NAME-PID` under the temporary folder.
    init(named name: String) throws {
        self.path = NSTemporaryDirectory() + "\(name)-\(getpid())"
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
        self.layout = CertsLayout(root: self.path + "/certs")
        self.authority = try CertificateAuthority.initialize(layout: self.layout, trustDomain: "bench.warden")
        try self.authority.enroll(service: "bench", lifetime: .seconds(86400))
        try self.authority.issueNATSServerCertificate(hosts: ["127.0.0.1"])
        try FileManager.default.createDirectory(atPath: self.acls, withIntermediateDirectories: true)
        try Self.acl.write(toFile: self.acls + "/bench.yaml", atomically: true, encoding: .utf8)
    }
}
