import Testing
import WardenPolicy

@Suite struct SubjectTests {
    @Test(arguments: ["foo", "foo.bar", "foo.*", "foo.>", "*", ">", "*.*.>", "foo.b*", "foo.>x", "a-b_c.$d"])
    func validSubjects(_ subject: String) {
        #expect(Subject.isValid(subject))
    }

    @Test(arguments: [
        "", ".", "foo.", ".foo", "foo..bar", "foo bar", "foo\tbar", "foo\r", "foo\nbar", "foo\u{0C}",
        "foo.>.bar", ">.foo",
    ])
    func invalidSubjects(_ subject: String) {
        #expect(!Subject.isValid(subject))
    }

    @Test func literalSubjectsHaveNoWildcardTokens() {
        #expect(Subject.isValidLiteral("foo.bar"))
        #expect(Subject.isValidLiteral("foo.b*"))  // a wildcard counts only as a whole token
        #expect(!Subject.isValidLiteral("foo.*"))
        #expect(!Subject.isValidLiteral("foo.>"))
    }

    @Test func tokensSplitOnDots() {
        #expect(Subject.tokens("a.bb.*.>") == ["a", "bb", "*", ">"])
    }

    @Test func subjectProblemsNameTheMistake() {
        #expect(Rule.subjectProblem("foo..bar").contains("empty token"))
        #expect(Rule.subjectProblem("foo bar").contains("whitespace"))
        #expect(Rule.subjectProblem("foo.>.bar").contains("'>' must be the last token"))
        #expect(Rule.subjectProblem("").contains("empty"))
    }
}

@Suite struct SupportTests {
    @Test(arguments: [
        ("90s", Duration.seconds(90)), ("2m", .seconds(120)), ("1h30m", .seconds(5400)),
        ("500ms", .milliseconds(500)), ("30d", .seconds(30 * 86400)), (" 5s ", .seconds(5)),
    ])
    func durationsParse(_ text: String, _ expected: Duration) throws {
        #expect(try DurationParser.parse(text) == expected)
    }

    @Test(arguments: ["", "5", "5x", "m", "1.5h", "-5s", "0s", "1h 30m", "99999999999s"])
    func badDurationsAreRefused(_ text: String) {
        #expect(throws: PolicyError(.invalidDuration, "")) { try DurationParser.parse(text) }
    }

    @Test func durationsFormatBack() throws {
        #expect(DurationParser.format(.seconds(5400)) == "1h30m")
        #expect(DurationParser.format(.milliseconds(250)) == "250ms")
        #expect(try DurationParser.parse(DurationParser.format(.seconds(90061))) == .seconds(90061))
    }

    @Test(arguments: ["orders", "Order-Service_2", String(repeating: "a", count: 64)])
    func validServiceNames(_ name: String) throws {
        try ServiceName.validate(name)
    }

    @Test(arguments: ["", "orders.v2", "a b", "ordérs", "*", ">", String(repeating: "a", count: 65), "../x"])
    func invalidServiceNames(_ name: String) {
        #expect(throws: PolicyError(.invalidServiceName, "")) { try ServiceName.validate(name) }
    }

    @Test func templatesExpandTheServiceName() throws {
        #expect(try SubjectTemplate.expand("_INBOX.{{service}}.>", service: "orders") == "_INBOX.orders.>")
        #expect(try SubjectTemplate.expand("{{ service }}.{{service}}", service: "a") == "a.a")
        #expect(try SubjectTemplate.expand("plain.subject", service: "a") == "plain.subject")
    }

    @Test func badTemplatesAreRefused() throws {
        let unknown = #expect(throws: PolicyError.self) { try SubjectTemplate.expand("x.{{team}}", service: "a") }
        #expect(unknown?.code == .invalidTemplate)
        #expect(unknown?.message.contains("unknown template variable \"team\"") == true)
        let unclosed = #expect(throws: PolicyError.self) { try SubjectTemplate.expand("x.{{service", service: "a") }
        #expect(unclosed?.message.contains("unclosed") == true)
    }
}
