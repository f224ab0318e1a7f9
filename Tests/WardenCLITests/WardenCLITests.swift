import Foundation
import NATSClient
import Testing
import WardenTestSupport

/// The built `warden` executable, next to the test bundle.
func wardenExecutable() -> String {
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let direct = binary.appendingPathComponent("warden").path
    if FileManager.default.fileExists(atPath: direct) { return direct }
    // swift-testing may run from inside the .xctest bundle.
    return binary.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("warden").path
}

/// Runs the built `warden` executable, as a user or a CI job would.
func warden(_ arguments: [String], in directory: String? = nil) throws -> (
    status: Int32, stdout: String, stderr: String
) {
    let executable = wardenExecutable()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}

/// A nats.c connection straight to nats-server with Warden's own identity from `directory`'s certs folder:
/// what the tests use to look at the fleet's bucket and the audit stream as an operator would.
func connectAsWarden(_ directory: TemporaryDirectory, upstream: String) throws -> NATSClient {
    let certs = directory.appending("certs")
    var options = NATSClient.Options(
        url: upstream, caFile: certs + "/ca/ca.pem", certificateFile: certs + "/warden/client.pem",
        keyFile: certs + "/warden/client-key.pem")
    options.expectedHostname = "127.0.0.1"
    options.timeoutMilliseconds = 5000
    return try NATSClient(options)
}

let repositoryACLs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("acls").path

@Suite struct CheckAndExplainCommandTests {
    /// The fleet's commands refuse what they cannot do before they touch anything.
    @Test func fleetOptionsThatCannotWorkAreRefusedWithAReason() throws {
        for (arguments, reason) in [
            (["serve", "--fleet"], "--fleet needs --upstream"),
            (["fleet", "push"], "--nats URL[,URL] is required"),
            (["fleet", "status"], "--nats URL[,URL] is required"),
            (["fleet", "push", "--nats", "http://x"], "--nats must be tls://HOST:PORT"),
            (["denials", "--nats", "tls://127.0.0.1:1", "--follow"], "does not go with --nats"),
        ] {
            let result = try warden(arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.contains(reason), "\(arguments): \(result.stderr)")
        }
    }

    @Test func checkAcceptsTheShippedACLs() throws {
        let result = try warden(["check", "--acls", repositoryACLs])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("ok: 6 file(s), 5 service(s)"))
    }

    @Test func checkReportsFileLineAndExitsOne() throws {
        let directory = try TemporaryDirectory()
        try "services:\n  orders:\n    publsh: [\"x\"]\n    subscribe: [\"a..b\"]\n"
            .write(toFile: directory.appending("orders.yaml"), atomically: true, encoding: .utf8)
        let result = try warden(["check", "--acls", directory.path])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("\(directory.path)/orders.yaml:3: unknown key 'publsh'"))
        #expect(lines[1].hasPrefix("\(directory.path)/orders.yaml:4: invalid subject \"a..b\""))
    }

    @Test func explainPrintsTheDecidingRule() throws {
        let result = try warden(["explain", "orders", "pub", "orders.internal.audit", "--acls", repositoryACLs])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("deny\n"))
        #expect(result.stdout.contains("orders.yaml:6 publish.deny \"orders.internal.>\""))
    }

    @Test func explainJSONHasDecisionRuleAndMode() throws {
        let result = try warden(["explain", "notifications", "sub", "payments.>", "--acls", repositoryACLs, "--json"])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["decision"] as? String == "allow")
        #expect(object["mode"] as? String == "audit")
        #expect((object["rule"] as? String)?.contains("notifications.yaml:7") == true)
        #expect((object["delivery_filter"] as? [String])?.count == 1)
    }

    @Test func explainQueueSubscriptions() throws {
        let denied = try warden(["explain", "orders", "sub", "orders.commands.x", "--acls", repositoryACLs, "--json"])
        let allowed = try warden([
            "explain", "orders", "sub", "orders.commands.x", "--queue", "orders-workers", "--acls", repositoryACLs,
            "--json",
        ])
        #expect(denied.stdout.contains("\"decision\":\"deny\""))
        #expect(allowed.stdout.contains("\"decision\":\"allow\""))
    }

    @Test func explainRefusesBadArguments() throws {
        #expect(try warden(["explain", "orders", "publish", "x", "--acls", repositoryACLs]).status != 0)
        #expect(try warden(["explain", "orders", "pub", "x", "--queue", "q", "--acls", repositoryACLs]).status != 0)
        #expect(try warden(["explain", "orders", "sub", "x", "--reply", "r", "--acls", repositoryACLs]).status != 0)
    }

    @Test func explainShowsWhereARequestsAnswersMayGo() throws {
        // The shipped example's confused deputy: orders may receive payments.completed, not publish it.
        let forged = try warden([
            "explain", "orders", "pub", "inventory.reserve", "--reply", "payments.completed", "--acls", repositoryACLs,
        ])
        #expect(forged.stdout.hasPrefix("deny\n"))
        #expect(forged.stdout.contains("rule: default deny (reply subject)"))
        let own = try warden([
            "explain", "orders", "pub", "inventory.reserve", "--reply", "_INBOX.orders.abc.1", "--acls", repositoryACLs,
            "--json",
        ])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(own.stdout.utf8)) as? [String: Any])
        #expect(object["decision"] as? String == "allow")
        let reply = try #require(object["reply"] as? [String: Any])
        #expect(reply["decision"] as? String == "allow")
        #expect((reply["rule"] as? String)?.contains("_INBOX.orders.>") == true)
    }
}

@Suite struct CredentialCommandTests {
    /// The libraries' errors name no flag; the command line adds the one that helps, by the error's code.
    @Test func errorsComeWithTheCommandLinesHint() throws {
        let directory = try TemporaryDirectory()
        let enroll = try warden(["enroll", "orders"], in: directory.path)
        #expect(enroll.status == 1)
        #expect(enroll.stderr.contains("error: cannot read the CA certificate"), "\(enroll.stderr)")
        #expect(enroll.stderr.contains("hint: run `warden init` first"), "\(enroll.stderr)")

        let check = try warden(["check", "--acls", "missing"], in: directory.path)
        #expect(check.status == 1)
        #expect(check.stderr.contains("missing:0: no such ACL folder"), "\(check.stderr)")
        #expect(check.stderr.contains("hint: set the folder with --acls DIR"), "\(check.stderr)")

        let serve = try warden(["serve", "--acls", directory.path], in: directory.path)
        #expect(serve.status == 1)
        #expect(serve.stderr.contains("no ACL files"), "\(serve.stderr)")
        #expect(!serve.stderr.contains("hint:"), "an error no flag helps with gets no hint")
    }

    @Test func initEnrollRevokeAndNATSConfig() throws {
        let directory = try TemporaryDirectory()
        let initialized = try warden(["init", "--trust-domain", "cli.test"], in: directory.path)
        #expect(initialized.status == 0, "\(initialized.stderr)")
        #expect(FileManager.default.fileExists(atPath: directory.appending("certs/ca/ca.pem")))

        let again = try warden(["init"], in: directory.path)
        #expect(again.status == 1)
        #expect(again.stderr.contains("error: a CA already exists"))
        #expect(again.stderr.contains("hint: to replace it anyway, run `warden init --force`"))

        let enrolled = try warden(["enroll", "orders", "--ttl", "1h"], in: directory.path)
        #expect(enrolled.status == 0, "\(enrolled.stderr)")
        #expect(try fileMode(directory.appending("certs/services/orders/key.pem")) == 0o600)
        #expect(!enrolled.stdout.contains("PRIVATE KEY"))

        let badName = try warden(["enroll", "orders.v2"], in: directory.path)
        #expect(badName.status == 1)
        #expect(badName.stderr.contains("invalid service name"))
        let badTTL = try warden(["enroll", "orders", "--ttl", "forever"], in: directory.path)
        #expect(badTTL.status != 0)
        #expect(badTTL.stderr.contains("invalid duration"))

        let config = try warden(["nats-config", "--listen", "127.0.0.1:4222"], in: directory.path)
        #expect(config.status == 0, "\(config.stderr)")
        #expect(config.stdout.contains("verify_and_map: true"))
        #expect(config.stdout.contains("spiffe://cli.test/warden"))
        #expect(try warden(["nats-config", "--listen", "nowhere"], in: directory.path).status != 0)

        let revoked = try warden(["revoke", "orders"], in: directory.path)
        #expect(revoked.status == 0)
        #expect(
            try String(contentsOfFile: directory.appending("certs/inventory.json"), encoding: .utf8).contains(
                "\"revoked\" : true"))
        let unknown = try warden(["revoke", "ghost"], in: directory.path)
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no credential was ever issued to \"ghost\""))
    }

    @Test func commandsWithoutACAAskForInit() throws {
        let directory = try TemporaryDirectory()
        let result = try warden(["enroll", "orders"], in: directory.path)
        #expect(result.status == 1)
        #expect(result.stderr.contains("warden init"))
    }
}
