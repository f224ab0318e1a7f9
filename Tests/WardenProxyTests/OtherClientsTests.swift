import Foundation
import Testing
import WardenTestSupport

/// Warden must work with every NATS client unmodified, not only nats.c: the same enforcement, seen
/// through nats.py (`Tests/Clients/nats_py_scenario.py`), which reads the protocol its own way.
@Suite(.serialized)
struct OtherClientsTests {
    static func script(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Clients/\(name)").path
    }

    /// Runs a scenario (`Tests/Clients/NAME`) against `warden` and returns what it observed.
    func runNATSPy(_ warden: ProxyHarness, script: String = "nats_py_scenario.py") throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script(script), warden.url, warden.layout.root]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // The scenario stops itself after 20 s; this is the backstop.
        let watchdog = DispatchWorkItem { process.terminate() }
        DispatchQueue.global().asyncAfter(deadline: .now() + 40, execute: watchdog)
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        watchdog.cancel()
        guard process.terminationStatus == 0 else {
            if stderr.contains("No module named 'nats'") {
                throw HarnessError(
                    description: "nats.py is not installed: scripts/test.sh installs it (pip install nats-py)")
            }
            throw HarnessError(description: "the nats.py scenario failed (\(process.terminationStatus)): \(stderr)")
        }
        guard let seen = try JSONSerialization.jsonObject(with: stdout) as? [String: Any] else {
            throw HarnessError(
                description: "the nats.py scenario printed no JSON object: \(String(decoding: stdout, as: UTF8.self))")
        }
        return seen
    }

    @Test func natsPyIsEnforcedAndServedAsNATSServerWouldServeIt() async throws {
        try await withWarden { warden in
            let seen = try self.runNATSPy(warden)

            let info = try #require(seen["info"] as? [String: Any])
            #expect(info["headers"] as? Bool == true)
            #expect(info["tls_required"] as? Bool == true)
            #expect(info["max_payload"] as? Int == 1 << 20)
            #expect(info["connect_urls"] is NSNull)

            // Request/reply with headers, the responder connected with handshake_first.
            #expect(seen["reply"] as? String == "sum=1+2")
            #expect(seen["responder_headers"] as? String == "t-1")
            // allow_responses {max: 1}: the second reply to one request is refused.
            let paymentErrors = try #require(seen["payment_errors"] as? [String])
            #expect(paymentErrors.count == 1)
            #expect(paymentErrors.first?.contains(#"permissions violation for publish to "_inbox.orders."#) == true)
            #expect(seen["no_responders"] as? String == "no responders")

            // payments.secret is dropped at delivery; payments.done arrives.
            #expect(seen["received"] as? [String] == ["payments.done"])

            let orderErrors = try #require(seen["order_errors"] as? [String])
            #expect(
                orderErrors == [
                    #"nats: permissions violation for publish to "orders.internal.audit""#,
                    #"nats: permissions violation for subscription to "bar.>""#,
                    #"nats: permissions violation for subscription to "jobs.a" using queue "other""#,
                ])
            #expect(seen["still_connected"] as? Bool == true)
            #expect(seen["closed_cleanly"] as? Bool == true)

            // The decision log has what nats.py did, as for any client.
            let records = try await warden.waitForRecords {
                $0.contains { $0["op"] as? String == "pub" && $0["subject"] as? String == "orders.created" }
            }
            func decision(_ op: String, _ subject: String, queue: String? = nil) -> String? {
                records.last {
                    $0["op"] as? String == op && $0["subject"] as? String == subject && $0["queue"] as? String == queue
                }?["decision"] as? String
            }
            #expect(
                records.filter { $0["op"] as? String == "connect" && $0["decision"] as? String == "allow" }.count == 2)
            #expect(decision("pub", "rpc.add") == "allow")
            #expect(decision("pub", "orders.internal.audit") == "deny")
            #expect(decision("deliver", "payments.secret") == "deny")
            #expect(decision("sub", "bar.>") == "deny")
            #expect(decision("sub", "jobs.a", queue: "other") == "deny")
            #expect(decision("sub", "jobs.a", queue: "workers") == "allow")
            #expect(decision("pub", "orders.created") == "allow")
        }
    }

    @Test func natsPysJetStreamAndKeyValueAPIsWorkWithinTheACLAndFailAtOnceOutsideIt() async throws {
        try await withWarden(
            acl: JetStreamContainmentTests.acl, services: JetStreamContainmentTests.services, jetStream: true
        ) { warden in
            let seen = try self.runNATSPy(warden, script: "nats_py_jetstream.py")
            func outcome(_ name: String) -> [String: Any] { seen[name] as? [String: Any] ?? [:] }

            #expect(outcome("pull")["result"] as? [String] == ["jobs.a", "jobs.b"], "\(outcome("pull"))")
            #expect(outcome("push")["result"] as? String == "jobs.a", "\(outcome("push"))")
            #expect(outcome("ordered")["result"] as? [String] == ["jobs.a", "jobs.b"], "\(outcome("ordered"))")
            #expect(outcome("kv")["result"] as? [String] == ["1", "2"], "\(outcome("kv"))")

            // Refused at once: a JetStream error (403) or no responders, never the client's timeout.
            for name in ["spy_consumer", "spy_kv", "deliver_elsewhere"] {
                #expect(outcome(name)["code"] as? Int == 403, "\(name): \(outcome(name))")
                #expect((outcome(name)["description"] as? String)?.isEmpty == false)
            }
            #expect(outcome("forged_request")["error"] as? String == "no responders", "\(outcome("forged_request"))")
            // A get by sequence names no subject: its answer is dropped where it arrives.
            #expect(outcome("spy_get")["error"] as? String == "timeout", "\(outcome("spy_get"))")
            #expect(seen["still_connected"] as? Bool == true)

            let records = try await warden.records()
            let secretDrops = records.filter {
                $0["op"] as? String == "deliver" && $0["subject"] as? String == "secret.plans"
            }
            #expect(secretDrops.count == 1)
            #expect(
                !records.contains {
                    $0["decision"] as? String == "allow"
                        && ($0["subject"] as? String)?.contains("SECRET.launch") == true
                        && $0["op"] as? String == "deliver"
                })
        }
    }
}
