import Testing

@testable import WardenContainment

/// Headers that make nats-server act elsewhere, and stored messages carried inside deliveries.
struct HeaderAndCarrierTests {
    func requirements(_ block: String) throws -> [Requirement] {
        var block = block
        return try block.withUTF8 { try PublishHeaders.requirements($0) }
    }

    func carried(headers: String = "", body: String) -> StoredMessage.Carried {
        var headers = headers
        var body = body
        return headers.withUTF8 { headers in body.withUTF8 { StoredMessage.carried(headers: headers, body: $0) } }
    }

    @Test func traceAndScheduleHeadersAreRequirementsInEveryCase() throws {
        let block =
            "NATS/1.0\r\nX-Id: 1\r\nNats-Trace-Dest: payments.failed\r\nnats-schedule-target:  jobs.run \r\n"
            + "Nats-Schedule-Source: secret.last\r\nNATS-TRACE-DEST: second.dest\r\n"
            + "Nats-Expected-Last-Subject-Sequence-Subject: secret.other\r\n\r\n"
        #expect(
            try self.requirements(block) == [
                Requirement(.publish, "payments.failed", field: "Nats-Trace-Dest"),
                Requirement(.publish, "jobs.run", field: "Nats-Schedule-Target"),
                Requirement(.receive, "secret.last", field: "Nats-Schedule-Source"),
                Requirement(.publish, "second.dest", field: "Nats-Trace-Dest"),
                Requirement(.receive, "secret.other", field: "Nats-Expected-Last-Subject-Sequence-Subject"),
            ])
    }

    @Test func disabledTracesAndSubjectRollupsRequireNothing() throws {
        #expect(
            try self.requirements("NATS/1.0\r\nNats-Trace-Dest: trace disabled\r\nNats-Rollup: sub\r\n\r\n").isEmpty)
        #expect(try self.requirements("NATS/1.0\r\nNats-Rollup: ALL\r\n\r\n").map(\.subject) == [">"])
        // A line without a colon is no header; nats-server reads none there either.
        #expect(try self.requirements("NATS/1.0\r\nNats-Trace-Dest payments.failed\r\n\r\n").isEmpty)
    }

    @Test func aHeaderSubjectThatIsNotUTF8IsRefused() {
        var block: [UInt8] = Array("NATS/1.0\r\nNats-Trace-Dest: a.".utf8) + [0xFF] + Array("\r\n\r\n".utf8)
        let refusal = #expect(throws: ContainmentRefusal.self) {
            try block.withUnsafeMutableBufferPointer { try PublishHeaders.requirements(UnsafeBufferPointer($0)) }
        }
        #expect(refusal?.code == .unreadable)
    }

    @Test func directGetAnswersAndRepublishedMessagesCarryTheirStoredSubject() {
        let direct = "NATS/1.0\r\nNats-Stream: S\r\nNats-Subject: secret.x\r\nNats-Sequence: 1\r\n\r\n"
        #expect(self.carried(headers: direct, body: "data") == .subjects(["secret.x"]))
        #expect(self.carried(headers: "NATS/1.0\r\nX: y\r\n\r\n", body: "data") == .nothing)
        #expect(self.carried(body: "plain data") == .nothing)
    }

    @Test func messageGetAnswersCarryTheirMessagesSubject() {
        let answer =
            #"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":"secret.x","seq":1,"data":"eA==","time":"2026-12-02T00:00:00Z"}}"#
        #expect(self.carried(body: answer) == .subjects(["secret.x"]))
        let error =
            #"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","error":{"code":404,"err_code":10037,"description":"no message found"}}"#
        #expect(self.carried(body: error) == .nothing)
        let mangled =
            #"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":"a","SUBJECT":"b"}}"#
        guard case .unreadable = self.carried(body: mangled) else {
            Issue.record("a message get answer with two subjects must be unreadable")
            return
        }
        guard
            case .unreadable = self.carried(body: #"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response", oops"#)
        else {
            Issue.record("a truncated message get answer must be unreadable")
            return
        }
    }

    @Test func transformDestinationsStandForEverySubjectTheyCanProduce() throws {
        #expect(try TransformDestination.pattern("a.$1.{{wildcard(2)}}.{{ Partition(3,1) }}.b") == "a.*.*.*.b")
        #expect(try TransformDestination.pattern("a.{{SplitFromLeft(1,2)}}.b") == "a.>")
        #expect(try TransformDestination.pattern("a.$x.>") == "a.$x.>")
        let refusal = #expect(throws: ContainmentRefusal.self) { try TransformDestination.pattern("a.{{unknown(1)}}") }
        #expect(refusal?.code == .unknown)
    }
}

extension HeaderAndCarrierTests {
    @Test func theNoRespondersStatusCarriesNothingStored() {
        let noResponders = "NATS/1.0 503\r\nNats-Subject: rpc.nobody\r\n\r\n"
        #expect(self.carried(headers: noResponders, body: "") == .nothing)
        // The same status line with a body or more headers is no longer nats-server's status alone.
        #expect(self.carried(headers: noResponders, body: "data") == .subjects(["rpc.nobody"]))
        #expect(
            self.carried(headers: "NATS/1.0 503\r\nNats-Subject: s\r\nNats-Stream: S\r\n\r\n", body: "")
                == .subjects(["s"]))
    }
}
