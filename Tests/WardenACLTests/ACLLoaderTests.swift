import Testing
import WardenACL
import WardenPolicy

/// Loads ACL documents given inline, as files named in order.
func load(_ files: [String: String]) throws(ACLLoadError) -> PolicySnapshot {
    try ACLLoader.load(sources: files.sorted { $0.key < $1.key }.map { (path: $0.key, contents: $0.value) })
}

/// The diagnostics for documents that must fail to load.
func diagnostics(_ files: [String: String]) -> [String] {
    do {
        _ = try load(files)
        return []
    } catch {
        return error.diagnostics.map(\.description)
    }
}

@Suite struct ACLLoaderTests {
    @Test func aFullDocumentCompiles() throws {
        let snapshot = try load([
            "a.yaml": """
            defaults:
              subscribe:
                allow: ["_INBOX.{{service}}.>"]
            services:
              orders:
                mode: enforce
                publish:
                  allow: ["orders.>"]
                  deny: ["orders.internal.>"]
                subscribe:
                  allow: ["payments.completed", "jobs.* workers"]
                  deny: ["payments.completed.test"]
                allow_responses: true
            """,
            "b.yaml": """
            services:
              payments:
                mode: audit
                publish: ["payments.completed"]
                allow_responses: {max: 3, expires: 5s}
            """,
        ])
        let orders = try #require(snapshot.policy(for: "orders"))
        #expect(orders.mode == .enforce)
        #expect(
            orders.decidePublish(subject: "orders.created").ruleDescription == "a.yaml:8 publish.allow \"orders.>\"")
        #expect(
            orders.decidePublish(subject: "orders.internal.x").ruleDescription
                == "a.yaml:9 publish.deny \"orders.internal.>\"")
        let inbox = orders.decideSubscribe(subject: "_INBOX.orders.>").decision
        #expect(inbox.ruleDescription == "a.yaml:3 defaults.subscribe.allow \"_INBOX.orders.>\"")
        #expect(orders.decideSubscribe(subject: "_INBOX.payments.>").decision.verdict == .deny)
        #expect(orders.decideSubscribe(subject: "jobs.x", queue: "workers").decision.verdict == .allow)
        #expect(orders.decideSubscribe(subject: "jobs.x").decision.verdict == .deny)
        #expect(orders.allowResponses?.maxMessages == 1)
        #expect(orders.allowResponses?.expires == .seconds(120))

        let payments = try #require(snapshot.policy(for: "payments"))
        #expect(payments.mode == .audit)
        #expect(payments.decidePublish(subject: "payments.completed").verdict == .allow)
        #expect(payments.allowResponses?.maxMessages == 3)
        #expect(payments.allowResponses?.expires == .seconds(5))
        #expect(payments.decideSubscribe(subject: "_INBOX.payments.x").decision.verdict == .allow)
        #expect(snapshot.policy(for: "unknown") == nil)
    }

    @Test func defaultsMayBeInTheirOwnFile() throws {
        let snapshot = try load([
            "0-defaults.yaml": "defaults:\n  mode: audit\n  publish:\n    allow: [\"health.{{service}}\"]\n",
            "svc.yaml": "services:\n  api:\n    publish: [\"api.>\"]\n  strict:\n    mode: enforce\n",
        ])
        #expect(snapshot.policy(for: "api")?.mode == .audit)
        #expect(snapshot.policy(for: "api")?.decidePublish(subject: "health.api").verdict == .allow)
        #expect(snapshot.policy(for: "strict")?.mode == .enforce)
        #expect(snapshot.policy(for: "strict")?.decidePublish(subject: "health.api").verdict == .deny)
    }

    @Test func emptyServicesAndFilesDefineNothing() throws {
        let snapshot = try load(["a.yaml": "", "b.yaml": "services:\n  idle:\n"])
        #expect(snapshot.policy(for: "idle")?.rules.isEmpty == true)
    }

    @Test(arguments: [
        (
            "services:\n  orders:\n    publsh: [\"x\"]\n",
            "f.yaml:3: unknown key 'publsh': did you mean 'publish'? expected one of 'mode', 'publish', 'subscribe', 'allow_responses', 'replies'"
        ),
        (
            "servces:\n  a: {}\n",
            "f.yaml:1: unknown key 'servces': did you mean 'services'? expected one of 'defaults', 'services'"
        ),
        (
            "services:\n  a:\n    publish:\n      allw: [\"x\"]\n",
            "f.yaml:4: unknown key 'allw': did you mean 'allow'? expected one of 'allow', 'deny'"
        ),
        (
            "services:\n  a:\n    publish: [\"orders..x\"]\n",
            "f.yaml:3: invalid subject \"orders..x\": empty token (leading, trailing or doubled '.')"
        ),
        (
            "services:\n  a:\n    subscribe:\n      allow:\n        - \"orders.>.x\"\n",
            "f.yaml:5: invalid subject \"orders.>.x\": '>' must be the last token"
        ),
        (
            "services:\n  a:\n    publish: [\"a b c\"]\n",
            "f.yaml:3: entry \"a b c\" has 3 parts: write \"subject\" or \"subject queue\""
        ),
        (
            "services:\n  a:\n    publish: [\"a workers\"]\n",
            "f.yaml:3: publish entry \"a workers\" cannot name a queue group"
        ),
        ("services:\n  a:\n    subscribe: [\"a _sys_\"]\n", "f.yaml:3: queue group \"_sys_\" is reserved by NATS"),
        (
            "services:\n  a:\n    publish: [\"x.{{team}}\"]\n",
            "f.yaml:3: unknown template variable \"team\" in \"x.{{team}}\": the only variable is {{service}}"
        ),
        (
            "defaults:\n  publish: [\"x.{{service\"]\n",
            "f.yaml:2: unclosed \"{{\" in \"x.{{service\": write {{service}}"
        ),
        (
            "services:\n  orders.v2: {}\n",
            "f.yaml:2: invalid service name \"orders.v2\": use only letters, digits, '-' and '_'"
        ),
        ("services:\n  a:\n    mode: strict\n", "f.yaml:3: 'mode' must be enforce or audit"),
        (
            "services:\n  a:\n    allow_responses: {max: 1, expires: 2 minutes}\n",
            "f.yaml:3: 'allow_responses.expires': invalid duration \"2 minutes\": use a number and a unit (ms, s, m, h, d), e.g. 90s, 2m, 1h30m"
        ),
        (
            "services:\n  a:\n    allow_responses: {max: 0}\n",
            "f.yaml:3: 'allow_responses.max' must be a whole number of at least 1"
        ),
        (
            "services:\n  a:\n    allow_responses: yes please\n",
            "f.yaml:3: 'allow_responses' must be true, false or {max: N, expires: DURATION}"
        ),
        (
            "services:\n  a:\n    publish:\n      allow: [{x: 1}]\n",
            "f.yaml:4: each entry of 'services.a.publish.allow' must be a subject string like \"orders.>\""
        ),
        (
            "services:\n  a:\n    publish: [\"x\"\n",
            "f.yaml:4: YAML syntax error: did not find expected ',' or ']' (quote subjects that start with '*' or '>')"
        ),
        ("- just\n- a list\n", "f.yaml:1: expected a mapping with 'defaults' and/or 'services' at the top level"),
        (
            "services:\n  a: {}\n  a: {}\n",
            "f.yaml:2: duplicate key 'a' in one mapping: define each service and key once"
        ),
    ])
    func errorsNameFileLineAndFix(_ yaml: String, _ expected: String) {
        #expect(diagnostics(["f.yaml": yaml]) == [expected])
    }

    @Test func aServiceDefinedInTwoFilesIsAnError() {
        let found = diagnostics([
            "a.yaml": "services:\n  orders: {}\n",
            "b.yaml": "\nservices:\n  orders: {}\n",
        ])
        #expect(found == ["b.yaml:3: service \"orders\" is already defined at a.yaml:2; define each service once"])
    }

    @Test func everyProblemIsReportedNotOnlyTheFirst() {
        let found = diagnostics([
            "a.yaml": "services:\n  a:\n    publish: [\"x..y\", \"ok\", \"z y w\"]\n    mode: sometimes\n",
            "b.yaml": "nope: 1\n",
        ])
        #expect(found.count == 4)
        #expect(found.allSatisfy { $0.hasPrefix("a.yaml:") || $0.hasPrefix("b.yaml:1:") })
    }

    @Test func defaultsSettingsMayBeSetOnce() {
        let found = diagnostics(["a.yaml": "defaults:\n  mode: audit\n", "b.yaml": "defaults:\n  mode: enforce\n"])
        #expect(found == ["b.yaml:2: defaults.mode is already set at a.yaml:2"])
    }

    @Test func theShippedExampleIsValid() throws {
        let snapshot = try ACLLoader.load(directory: exampleACLDirectory())
        #expect(Set(snapshot.services.keys) == ["orders", "payments", "inventory", "notifications", "security"])
        let orders = try #require(snapshot.policy(for: "orders"))
        #expect(orders.decidePublish(subject: "orders.created").verdict == .allow)
        #expect(orders.decidePublish(subject: "orders.internal.audit").verdict == .deny)
        #expect(snapshot.policy(for: "notifications")?.mode == .audit)
        #expect(snapshot.policy(for: "security")?.decideSubscribe(subject: "warden.audit.>").decision.verdict == .allow)
    }

    @Test func aMissingOrEmptyFolderIsAnError() throws {
        #expect(throws: ACLLoadError.self) { try ACLLoader.load(directory: "/nonexistent/acls") }
        let empty = try temporaryDirectory()
        let error = #expect(throws: ACLLoadError.self) { try ACLLoader.load(directory: empty) }
        #expect(error?.diagnostics.first?.message == "no ACL files (*.yaml) in this folder")
    }
}
