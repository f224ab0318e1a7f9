import Testing
import WardenACL
import WardenPolicy

@testable import WardenContainment

/// JetStream API calls decided by what they make nats-server do, without a network.
struct JetStreamCheckTests {
    static let policy = try! ACLLoader.load(sources: [
        (
            "acl.yaml",
            """
            defaults:
              subscribe:
                allow: ["_INBOX.{{service}}.>"]
            services:
              orders:
                publish:
                  allow: ["$JS.API.>", "js.orders.>", "repub.orders.>"]
                subscribe:
                  allow: ["js.orders.>", "jobs.* workers"]
                  deny: ["js.orders.secret"]
            """
        )
    ]).policy(for: "orders")!

    func decide(_ subject: String, _ body: String, streamSubjects: [String] = [">"]) -> ContainmentDecision {
        guard let call = JetStreamCall(subject: subject) else { return .allowed }
        var body = body
        return body.withUTF8 {
            JetStreamCheck.decide(call, body: $0, policy: Self.policy, streamSubjects: streamSubjects)
        } ?? ContainmentDecision(denial: nil, reason: "awaits its stream", requirement: nil)
    }

    @Test(
        arguments: [
            ("$JS.API.STREAM.CREATE.S", JetStreamCall.Kind.streamCreate, "S", nil),
            ("$JS.API.STREAM.UPDATE.S", .streamUpdate, "S", nil),
            ("$JS.API.CONSUMER.CREATE.S", .consumerCreate, "S", nil),
            ("$JS.API.CONSUMER.CREATE.S.C", .consumerCreate, "S", nil),
            ("$JS.API.CONSUMER.CREATE.S.C.js.orders.>", .consumerCreate, "S", "js.orders.>"),
            ("$JS.API.CONSUMER.DURABLE.CREATE.S.D", .durableCreate, "S", nil),
            ("$JS.API.STREAM.MSG.GET.S", .messageGet, "S", nil),
            ("$JS.API.DIRECT.GET.S", .directGet, "S", nil),
            ("$JS.API.DIRECT.GET.S.$KV.B.key", .directGet, "S", "$KV.B.key"),
            ("$JS.API.STREAM.SNAPSHOT.S", .snapshot, "S", nil),
            ("$JS.hub.API.CONSUMER.CREATE.S.C.x", .consumerCreate, "S", "x"),
        ] as [(String, JetStreamCall.Kind, String, String?)])
    func apiSubjectsAreToldApart(_ subject: String, _ kind: JetStreamCall.Kind, _ stream: String, _ part: String?)
        throws
    {
        let call = try #require(JetStreamCall(subject: subject))
        #expect(call.kind == kind && call.stream == stream && call.subject == part)
        #expect(subject.utf8.withContiguousStorageIfAvailable(JetStreamCall.isAPISubject) == true)
    }

    @Test func callsWithoutEffectsToCheckAreNotInspected() {
        for subject in [
            "$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.CONSUMER.MSG.NEXT.S.C", "$JS.ACK.S.C.1.2.3.4.5",
            "orders.created", "$JS.API.STREAM.PURGE.S",
        ] {
            #expect(JetStreamCall(subject: subject) == nil, "\(subject)")
        }
        #expect("$JS.ACK.S.C.1".utf8.withContiguousStorageIfAvailable(JetStreamCall.isAPISubject) == false)
    }

    @Test func aConsumerIsDecidedLikeASubscriptionToItsFilters() {
        #expect(
            self.decide(
                "$JS.API.CONSUMER.CREATE.S", #"{"stream_name":"S","config":{"filter_subject":"js.orders.created"}}"#
            ).denial == nil)
        #expect(
            self.decide(
                "$JS.API.CONSUMER.CREATE.S.C.js.orders.>",
                #"{"stream_name":"S","config":{"filter_subject":"js.orders.>"}}"#
            ).denial == nil)
        let secret = self.decide(
            "$JS.API.CONSUMER.CREATE.S", #"{"stream_name":"S","config":{"filter_subjects":["js.orders.a","secret.>"]}}"#
        )
        #expect(secret.denial?.verdict == .deny)
        #expect(secret.reason == #"consumer config.filter_subjects "secret.>""#)
        // The filter in nats.go's subject form is decided too, whatever the body says.
        let subjectForm = self.decide("$JS.API.CONSUMER.CREATE.S.C.secret.>", #"{"stream_name":"S","config":{}}"#)
        #expect(subjectForm.requirement?.subject == "secret.>")
    }

    @Test func aConsumerWithoutFilterReadsEverySubjectOfItsStream() throws {
        let body = #"{"stream_name":"S","config":{"durable_name":"D"}}"#
        let call = try #require(JetStreamCall(subject: "$JS.API.CONSUMER.DURABLE.CREATE.S.D"))
        var bytes = body
        // Without the stream's subjects it cannot be decided yet.
        #expect(bytes.withUTF8 { JetStreamCheck.decide(call, body: $0, policy: Self.policy) } == nil)
        #expect(self.decide("$JS.API.CONSUMER.DURABLE.CREATE.S.D", body, streamSubjects: ["js.orders.>"]).denial == nil)
        let mixed = self.decide(
            "$JS.API.CONSUMER.DURABLE.CREATE.S.D", body, streamSubjects: ["js.orders.>", "secret.>"])
        #expect(mixed.requirement?.subject == "secret.>")
        #expect(self.decide("$JS.API.CONSUMER.DURABLE.CREATE.S.D", body).denial?.reason == .defaultDeny)
    }

    @Test func theSubjectsOfAStreamAreItsOwnOrAnyWhenTheyComeFromElsewhere() {
        func subjects(_ answer: String) -> [String] {
            var answer = answer
            return answer.withUTF8 { StreamSubjects.fromInfo($0) }
        }
        #expect(
            subjects(
                #"{"type":"io.nats.jetstream.api.v1.stream_info_response","config":{"name":"S","subjects":["a.>","b"]},"state":{}}"#
            ) == ["a.>", "b"])
        #expect(subjects(#"{"config":{"subjects":["a.>"],"sources":[{"name":"X"}]}}"#) == [">"])
        #expect(subjects(#"{"config":{"subjects":["a.>"],"subject_transform":{"src":"a.>","dest":"b.>"}}}"#) == [">"])
        #expect(subjects(#"{"config":{"mirror":{"name":"X"}}}"#) == [">"])
        #expect(subjects(#"{"error":{"code":404,"err_code":10059,"description":"stream not found"}}"#) == [">"])
        #expect(subjects("") == [">"])
    }

    @Test func aPushConsumerDeliversOnlyWhereItsCreatorMayReceiveAnswers() {
        let inbox = self.decide(
            "$JS.API.CONSUMER.CREATE.S",
            #"{"stream_name":"S","config":{"filter_subject":"js.orders.a","deliver_subject":"_INBOX.orders.x"}}"#)
        #expect(inbox.denial == nil)
        let elsewhere = self.decide(
            "$JS.API.CONSUMER.CREATE.S",
            #"{"stream_name":"S","config":{"filter_subject":"js.orders.a","deliver_subject":"payments.completed"}}"#)
        #expect(elsewhere.denial?.reason == .defaultDenyReply)
        #expect(elsewhere.requirement?.kind == .answers)
    }

    @Test func aDeliverGroupIsTheQueueTheFilterIsDecidedIn() {
        let body =
            #"{"stream_name":"S","config":{"filter_subject":"jobs.a","deliver_subject":"_INBOX.orders.q","deliver_group":"%@"}}"#
        #expect(
            self.decide("$JS.API.CONSUMER.CREATE.S", body.replacingOccurrences(of: "%@", with: "workers")).denial == nil
        )
        #expect(
            self.decide("$JS.API.CONSUMER.CREATE.S", body.replacingOccurrences(of: "%@", with: "other")).denial != nil)
    }

    @Test(arguments: [
        // Go matches field names ignoring case: Warden must see these as the fields they set.
        (
            #"{"stream_name":"S","config":{"filter_subject":"js.orders.a","DELIVER_SUBJECT":"payments.completed"}}"#,
            "answers"
        ),
        (#"{"stream_name":"S","CONFIG":{"Filter_Subject":"secret.x"}}"#, "receive"),
    ])
    func fieldNamesAreMatchedIgnoringCaseAsGoDoes(_ body: String, _ kind: String) {
        let decision = self.decide("$JS.API.CONSUMER.CREATE.S", body)
        #expect(decision.denial?.verdict == .deny)
        #expect("\(decision.requirement.map { "\($0.kind)" } ?? "")" == kind)
    }

    @Test(arguments: [
        // Go folds Unicode case: "ſ" (U+017F) sets deliver_subject.
        #"{"stream_name":"S","config":{"filter_subject":"js.orders.a","deliver_ſubject":"payments.completed"}}"#,
        // Two members for one field: Go takes the last, and Warden will not guess.
        #"{"stream_name":"S","config":{"filter_subject":"js.orders.a","filter_subject":"secret.x"}}"#,
        #"{"stream_name":"S","config":{"filter_subject":"secret.x","FILTER_SUBJECT":"js.orders.a"}}"#,
        // A field Warden does not know may name a subject in a later nats-server.
        #"{"stream_name":"S","config":{"filter_subject":"js.orders.a","deliver_to":"payments.completed"}}"#,
        // nats-server's own flags for mirror and source consumers.
        #"{"stream_name":"S","config":{"filter_subject":"js.orders.a","direct":true}}"#,
        // Wrong types, a second JSON value, no config.
        #"{"stream_name":"S","config":{"filter_subject":["js.orders.a"]}}"#,
        #"{"stream_name":"S","config":{"filter_subject":"js.orders.a"}} {"config":{"deliver_subject":"payments.completed"}}"#,
        #"{"stream_name":"S"}"#,
        "not json",
    ])
    func whatCannotBeReadAsNatsServerReadsItIsRefused(_ body: String) {
        let decision = self.decide("$JS.API.CONSUMER.CREATE.S", body)
        #expect(decision.denial?.reason == .notUnderstood, "\(body)")
        #expect(decision.reason != nil)
    }

    @Test func aStreamCapturesOnlyReceivableSubjectsAndPublishesOnlyWherePermitted() {
        #expect(
            self.decide(
                "$JS.API.STREAM.CREATE.S",
                #"{"name":"S","subjects":["js.orders.>"],"storage":"file","metadata":{"a":"b"}}"#
            ).denial == nil)
        #expect(
            self.decide("$JS.API.STREAM.CREATE.S", #"{"name":"S","subjects":["secret.>"]}"#).requirement?.subject
                == "secret.>")
        let republish = self.decide(
            "$JS.API.STREAM.UPDATE.S",
            #"{"name":"S","subjects":["js.orders.>"],"republish":{"src":">","dest":"payments.completed"}}"#)
        #expect(
            republish.requirement == Requirement(.publish, "payments.completed", field: "stream config.republish.dest"))
        #expect(
            self.decide(
                "$JS.API.STREAM.UPDATE.S",
                #"{"name":"S","subjects":["js.orders.>"],"republish":{"dest":"repub.orders.>"}}"#
            ).denial == nil)
    }

    @Test func transformsMayNotRelabelUnreadableDataOrWriteOutsideThePublishRules() {
        let hide = self.decide(
            "$JS.API.STREAM.CREATE.S",
            #"{"name":"S","sources":[{"name":"SECRET","subject_transforms":[{"src":"secret.>","dest":"js.orders.>"}]}]}"#
        )
        #expect(hide.requirement?.subject == "secret.>")
        // A function that can split a token stands for any number of tokens from there on.
        let split = self.decide(
            "$JS.API.STREAM.CREATE.S",
            #"{"name":"S","subjects":["js.orders.*"],"subject_transform":{"src":"js.orders.*","dest":"repub.{{split(1,-)}}.x"}}"#
        )
        #expect(split.requirement?.subject == "repub.>")
        #expect(split.denial?.verdict == .deny)
        let wildcard = self.decide(
            "$JS.API.STREAM.CREATE.S",
            #"{"name":"S","subjects":["js.orders.*"],"subject_transform":{"src":"js.orders.*","dest":"repub.orders.{{wildcard(1)}}"}}"#
        )
        #expect(wildcard.denial == nil)
        #expect(
            self.decide(
                "$JS.API.STREAM.CREATE.S",
                #"{"name":"S","subjects":["js.orders.*"],"subject_transform":{"dest":"repub.orders.{{nope(1)}}"}}"#
            ).denial?.reason == .notUnderstood)
        #expect(
            self.decide(
                "$JS.API.STREAM.CREATE.S",
                #"{"name":"S","mirror":{"name":"M","external":{"api":"$JS.x.API","deliver":"d"}}}"#
            ).denial?.reason == .notUnderstood)
    }

    @Test func getsNamingASubjectAreDecidedByIt() {
        #expect(self.decide("$JS.API.STREAM.MSG.GET.S", #"{"last_by_subj":"js.orders.a"}"#).denial == nil)
        #expect(
            self.decide("$JS.API.STREAM.MSG.GET.S", #"{"last_by_subj":"js.orders.secret"}"#).denial?.verdict == .deny)
        #expect(
            self.decide("$JS.API.DIRECT.GET.S", #"{"multi_last":["js.orders.*","secret.*"]}"#).requirement?.subject
                == "secret.*")
        #expect(self.decide("$JS.API.DIRECT.GET.S.secret.x", "").requirement?.subject == "secret.x")
        // By sequence alone: the answer is checked where it arrives (`StoredMessage`).
        #expect(self.decide("$JS.API.STREAM.MSG.GET.S", #"{"seq":1}"#).denial == nil)
    }

    @Test func streamInfoListingSubjectsListsOnlyReceivableOnes() {
        #expect(self.decide("$JS.API.STREAM.INFO.S", "").denial == nil)
        #expect(self.decide("$JS.API.STREAM.INFO.S", #"{"subjects_filter":"js.orders.>"}"#).denial == nil)
        #expect(self.decide("$JS.API.STREAM.INFO.S", #"{"subjects_filter":">"}"#).requirement?.subject == ">")
    }

    @Test func snapshotsAndRestoresAreRefused() {
        #expect(
            self.decide("$JS.API.STREAM.SNAPSHOT.S", #"{"deliver_subject":"_INBOX.orders.s"}"#).denial?.reason
                == .notUnderstood)
        #expect(self.decide("$JS.API.STREAM.RESTORE.S", #"{}"#).denial?.reason == .notUnderstood)
    }

    @Test func refusalsAnswerAsTheJetStreamAPIAnswersErrors() throws {
        let consumer = JetStreamRefusal(
            call: try #require(JetStreamCall(subject: "$JS.API.CONSUMER.CREATE.S")), description: "no \"x\"\nhere")
        #expect(consumer.headers == nil)
        #expect(
            String(decoding: consumer.body, as: UTF8.self)
                == #"{"type":"io.nats.jetstream.api.v1.consumer_create_response","error":{"code":403,"description":"no \"x\" here"}}"#
        )
        let direct = JetStreamRefusal(
            call: try #require(JetStreamCall(subject: "$JS.API.DIRECT.GET.S")), description: "no")
        #expect(direct.headers.map { String(decoding: $0, as: UTF8.self) } == "NATS/1.0 403 no\r\n\r\n")
        #expect(direct.body.isEmpty)
    }
}
