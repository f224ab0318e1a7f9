import Foundation
import NATSClient
import Testing
import WardenTestSupport

/// JetStream through Warden, end to end: a JetStream-enabled nats-server, real nats.c clients making
/// JetStream API calls over TLS. `admin` keeps a stream of secrets; `orders` may use the JetStream API
/// but not read `secret.>` nor publish to `payments.>`. Each attack yields nothing and a deny record;
/// the legitimate use beside it works.
@Suite(.serialized)
struct JetStreamContainmentTests {
    static let acl = """
        defaults:
          subscribe:
            allow: ["_INBOX.{{service}}.>"]
        services:
          admin:
            publish:
              allow: ["$JS.API.>", "secret.>", "$KV.SECRET.>"]
            subscribe:
              allow: [">"]
          orders:
            publish:
              allow: ["$JS.API.>", "$JS.ACK.>", "$JS.FC.>", "orders.>", "jobs.>", "$KV.ORDERS.>"]
            subscribe:
              allow: ["orders.>", "payments.completed", "jobs.>", "$KV.ORDERS.>"]
          payments:
            subscribe:
              allow: ["payments.>"]
        """
    static let services = ["admin", "orders", "payments"]

    /// A JetStream API request and its JSON answer.
    static func api(_ client: NATSClient, _ subject: String, _ body: String) throws -> [String: Any] {
        let answer = try client.request(subject, body, timeoutMilliseconds: 5000)
        return try #require(try JSONSerialization.jsonObject(with: Data(answer.payload)) as? [String: Any])
    }

    static func error(_ answer: [String: Any]) -> (code: Int?, description: String)? {
        guard let error = answer["error"] as? [String: Any] else { return nil }
        return (error["code"] as? Int, error["description"] as? String ?? "")
    }

    /// `admin`'s stream SECRET on `secret.>` with one message, `secret.plans`, and a durable pull consumer
    /// SHARED without a filter; `orders`' own stream ORDERS on `orders.>`.
    static func prepare(_ warden: ProxyHarness) throws -> (admin: NATSClient, orders: NATSClient) {
        let admin = try warden.client("admin")
        let stream = try Self.api(
            admin, "$JS.API.STREAM.CREATE.SECRET",
            #"{"name":"SECRET","subjects":["secret.>"],"storage":"memory","allow_direct":true}"#)
        #expect(Self.error(stream) == nil, "\(stream)")
        let stored = try admin.request("secret.plans", "classified", timeoutMilliseconds: 5000)
        #expect(stored.text.contains("\"seq\":1"))
        let shared = try Self.api(
            admin, "$JS.API.CONSUMER.DURABLE.CREATE.SECRET.SHARED",
            #"{"stream_name":"SECRET","config":{"durable_name":"SHARED","ack_policy":"explicit"}}"#)
        #expect(Self.error(shared) == nil, "\(shared)")
        let orders = try warden.client("orders")
        let own = try Self.api(
            orders, "$JS.API.STREAM.CREATE.ORDERS", #"{"name":"ORDERS","subjects":["orders.>"],"storage":"memory"}"#)
        #expect(Self.error(own) == nil, "\(own)")
        return (admin, orders)
    }

    @Test func consumersOnDataTheServiceMayNotReadAreRefusedAtOnce() async throws {
        try await withWarden(acl: Self.acl, services: Self.services, jetStream: true) { warden in
            let (_, orders) = try Self.prepare(warden)
            let unfiltered = try Self.api(
                orders, "$JS.API.CONSUMER.CREATE.SECRET",
                #"{"stream_name":"SECRET","config":{"ack_policy":"explicit"}}"#)
            #expect(Self.error(unfiltered)?.code == 403)
            #expect(Self.error(unfiltered)?.description.contains("without filter_subject") == true)
            let filtered = try Self.api(
                orders, "$JS.API.CONSUMER.CREATE.SECRET",
                #"{"stream_name":"SECRET","config":{"filter_subject":"secret.>","ack_policy":"explicit"}}"#)
            #expect(Self.error(filtered)?.code == 403)
            // nats.go's form: the filter in the subject.
            let subjectForm = try Self.api(
                orders, "$JS.API.CONSUMER.CREATE.SECRET.spy.secret.>",
                #"{"stream_name":"SECRET","config":{"name":"spy","filter_subject":"secret.>"}}"#)
            #expect(Self.error(subjectForm)?.code == 403)
            // A session hands a read's records to the log just after writing the answer: wait for them.
            let denials = try await warden.waitForRecords {
                $0.filter { $0.op == .pub && $0.decision == .deny }.count >= 3
            }.filter { $0.op == .pub && $0.decision == .deny }
            #expect(denials.count == 3)
            #expect(denials.allSatisfy { ($0["reason"] as? String)?.hasPrefix("consumer") == true })
        }
    }

    @Test func pullingFromAConsumerSomeoneElseMadeDeliversNothingTheServiceMayNotRead() async throws {
        try await withWarden(acl: Self.acl, services: Self.services, jetStream: true) { warden in
            let (_, orders) = try Self.prepare(warden)
            let inbox = try orders.subscribe("_INBOX.orders.pull")
            try orders.flush()
            try orders.publish(
                "$JS.API.CONSUMER.MSG.NEXT.SECRET.SHARED", #"{"batch":1,"no_wait":true}"#, reply: "_INBOX.orders.pull")
            try orders.flush()
            let drops = try await warden.records(op: "deliver", subject: "secret.plans", atLeast: 1)
            #expect(drops.first?["decision"] as? String == "deny")
            #expect((drops.first?["reason"] as? String)?.contains("JetStream") == true)
            // Whatever reaches the inbox is nats-server's status, never the secret.
            while let message = inbox.next(timeoutMilliseconds: 300) {
                #expect(message.subject == "_INBOX.orders.pull")
                #expect(message.text != "classified")
            }
        }
    }

    @Test func getsOfStoredMessagesAreCheckedByTheSubjectTheyCarry() async throws {
        try await withWarden(acl: Self.acl, services: Self.services, jetStream: true) { warden in
            let (_, orders) = try Self.prepare(warden)
            // By subject: refused at once.
            let byLast = try Self.api(orders, "$JS.API.STREAM.MSG.GET.SECRET", #"{"last_by_subj":"secret.plans"}"#)
            #expect(Self.error(byLast)?.code == 403)
            let direct = try orders.request("$JS.API.DIRECT.GET.SECRET.secret.plans", "", timeoutMilliseconds: 5000)
            #expect(direct.headers["Status"] == "403")
            #expect(direct.payload.isEmpty)
            // By sequence: the answer carries the message, and is dropped where it arrives.
            for subject in ["$JS.API.STREAM.MSG.GET.SECRET", "$JS.API.DIRECT.GET.SECRET"] {
                #expect(throws: NATSClient.Failure.self) {
                    _ = try orders.request(subject, #"{"seq":1}"#, timeoutMilliseconds: 700)
                }
            }
            let drops = try await warden.records(op: "deliver", subject: "secret.plans", atLeast: 2)
            #expect(drops.count == 2)
            #expect(drops.allSatisfy { ($0["reason"] as? String)?.hasPrefix("stored message carried on") == true })
        }
    }

    @Test func jetStreamCannotPublishForTheServiceWhereItMayNot() async throws {
        try await withWarden(acl: Self.acl, services: Self.services, jetStream: true) { warden in
            let (_, orders) = try Self.prepare(warden)
            let payments = try warden.client("payments")
            let completed = try payments.subscribe("payments.completed")
            try payments.flush()
            let push = try Self.api(
                orders, "$JS.API.CONSUMER.CREATE.ORDERS",
                #"{"stream_name":"ORDERS","config":{"filter_subject":"orders.>","deliver_subject":"payments.completed"}}"#
            )
            #expect(Self.error(push)?.code == 403)
            let republish = try Self.api(
                orders, "$JS.API.STREAM.UPDATE.ORDERS",
                #"{"name":"ORDERS","subjects":["orders.>"],"storage":"memory","republish":{"dest":"payments.completed"}}"#
            )
            #expect(Self.error(republish)?.code == 403)
            let hidden = try Self.api(
                orders, "$JS.API.STREAM.CREATE.LAUNDER",
                #"{"name":"LAUNDER","storage":"memory","sources":[{"name":"SECRET","subject_transforms":[{"src":"secret.>","dest":"orders.laundered.>"}]}]}"#
            )
            #expect(Self.error(hidden)?.code == 403)
            _ = try orders.request("orders.created", "{}", timeoutMilliseconds: 5000)
            #expect(completed.next(timeoutMilliseconds: 500) == nil)
        }
    }

    @Test func aStreamCapturesOnlyWhatItsCreatorMayReadAndSourcesNothingFromElsewhere() async throws {
        try await withWarden(acl: Self.acl, services: Self.services, jetStream: true) { warden in
            let (_, orders) = try Self.prepare(warden)
            let capture = try Self.api(
                orders, "$JS.API.STREAM.CREATE.SPY", #"{"name":"SPY","subjects":["secret.>"],"storage":"memory"}"#)
            #expect(Self.error(capture)?.code == 403)
            #expect(Self.error(capture)?.description.contains(#"stream config.subjects "secret.>""#) == true)
            let external = try Self.api(
                orders, "$JS.API.STREAM.CREATE.FAR",
                #"{"name":"FAR","storage":"memory","sources":[{"name":"X","external":{"api":"$JS.hub.API","deliver":"orders.in"}}]}"#
            )
            #expect(Self.error(external)?.code == 403)
            // Neither stream exists: nothing reached nats-server.
            let names = try Self.api(orders, "$JS.API.STREAM.NAMES", "{}")
            let streams = names["streams"] as? [String] ?? []
            #expect(streams.sorted() == ["ORDERS", "SECRET"], "\(names)")
        }
    }

    @Test func theServiceUsesJetStreamWithinItsACL() async throws {
        try await withWarden(acl: Self.acl, services: Self.services, jetStream: true) { warden in
            let (_, orders) = try Self.prepare(warden)
            // A pull consumer with a wildcard filter in nats.go's subject form.
            let pull = try Self.api(
                orders, "$JS.API.CONSUMER.CREATE.ORDERS.mine.orders.>",
                #"{"stream_name":"ORDERS","config":{"name":"mine","filter_subject":"orders.>","ack_policy":"explicit"}}"#
            )
            #expect(Self.error(pull) == nil, "\(pull)")
            // Without a filter it reads every subject of ORDERS, all of which orders may read: Warden
            // looked them up.
            let whole = try Self.api(
                orders, "$JS.API.CONSUMER.DURABLE.CREATE.ORDERS.all",
                #"{"stream_name":"ORDERS","config":{"durable_name":"all","ack_policy":"explicit"}}"#)
            #expect(Self.error(whole) == nil, "\(whole)")
            // A push consumer delivering to orders' own inbox.
            let pushed = try orders.subscribe("_INBOX.orders.push")
            let push = try Self.api(
                orders, "$JS.API.CONSUMER.CREATE.ORDERS",
                #"{"stream_name":"ORDERS","config":{"filter_subject":"orders.created","deliver_subject":"_INBOX.orders.push","ack_policy":"none"}}"#
            )
            #expect(Self.error(push) == nil, "\(push)")
            _ = try orders.request("orders.created", #"{"id":1}"#, timeoutMilliseconds: 5000)

            let inbox = try orders.subscribe("_INBOX.orders.fetch")
            try orders.publish("$JS.API.CONSUMER.MSG.NEXT.ORDERS.mine", #"{"batch":1}"#, reply: "_INBOX.orders.fetch")
            let fetched = try #require(inbox.next(timeoutMilliseconds: 3000))
            #expect(fetched.subject == "orders.created" && fetched.text == #"{"id":1}"#)
            let ack = try #require(fetched.reply)
            #expect(ack.hasPrefix("$JS.ACK.ORDERS.mine."))
            try orders.publish(ack, "+ACK")
            #expect(pushed.next(timeoutMilliseconds: 3000)?.subject == "orders.created")
            let got = try Self.api(orders, "$JS.API.STREAM.MSG.GET.ORDERS", #"{"seq":1}"#)
            #expect((got["message"] as? [String: Any])?["subject"] as? String == "orders.created")
            try orders.flush()
            let denials = try await warden.records().filter { $0["decision"] as? String == "deny" }
            #expect(denials.isEmpty, "\(denials)")
        }
    }
}
