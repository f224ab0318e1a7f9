import WardenPolicy

/// ns per publish decision for the policy engine alone, with few and with many rules, cached and uncached.
struct PolicyBenchmark {
    struct Result {
        var rules: Int
        var uncachedNanos: Double
        var cachedNanos: Double
    }

    var iterations: Int

    func run() throws -> [Result] {
        try [10, 10_000].map { try self.measure(ruleCount: $0) }
    }

    /// A service with `ruleCount` publish rules shaped like real ones: literal subjects, `*` in the
    /// middle, `>` at the end, and a few denies inside the allows.
    private func makePolicy(ruleCount: Int) throws -> ServicePolicy {
        var rules: [Rule] = []
        let source = SourceLocation(file: "bench.yaml", line: 1)
        for index in 0..<ruleCount {
            let pattern: String
            switch index % 4 {
            case 0: pattern = "team\(index % 97).svc\(index).events.>"
            case 1: pattern = "team\(index % 97).svc\(index).*.created"
            case 2: pattern = "team\(index % 97).svc\(index).orders.updated"
            default: pattern = "region.*.svc\(index).>"
            }
            let effect: Effect = index % 10 == 9 ? .deny : .allow
            rules.append(
                try Rule(
                    order: index, operation: .publish, effect: effect, pattern: pattern, queue: nil, source: source))
        }
        return ServicePolicy(name: "bench", mode: .enforce, rules: rules, allowResponses: nil)
    }

    /// Subjects that hit rules of every shape and some that match nothing.
    private func subjects(ruleCount: Int, count: Int) -> [String] {
        var generator = SplitMix64(seed: 42)
        return (0..<count).map { _ in
            let index = Int(generator.next() % UInt64(ruleCount))
            switch index % 5 {
            case 0: return "team\(index % 97).svc\(index).events.order.created"
            case 1: return "team\(index % 97).svc\(index).invoice.created"
            case 2: return "team\(index % 97).svc\(index).orders.updated"
            case 3: return "region.eu.svc\(index).x"
            default: return "unmatched.subject.\(index)"
            }
        }
    }

    private func measure(ruleCount: Int) throws -> Result {
        let policy = try self.makePolicy(ruleCount: ruleCount)
        let distinct = self.subjects(ruleCount: ruleCount, count: 4096)
        var allowed = 0

        // Uncached: every decision walks the trie.
        let clock = ContinuousClock()
        let uncached = clock.measure {
            for iteration in 0..<self.iterations {
                if policy.decidePublish(subject: distinct[iteration & 4095]).verdict == .allow { allowed &+= 1 }
            }
        }
        // Cached: a connection publishing to a working set of 64 subjects.
        var cache = PublishDecisionCache()
        let workingSet = Array(distinct.prefix(64))
        let cached = clock.measure {
            for iteration in 0..<self.iterations {
                if cache.decision(for: workingSet[iteration & 63], in: policy).verdict == .allow { allowed &+= 1 }
            }
        }
        blackHole(allowed)
        return Result(
            rules: ruleCount, uncachedNanos: Self.nanos(uncached) / Double(self.iterations),
            cachedNanos: Self.nanos(cached) / Double(self.iterations))
    }

    static func nanos(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e9 + Double(duration.components.attoseconds) / 1e9
    }
}

/// Keeps the optimizer from removing work whose result is otherwise unused.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

/// A small seeded generator, so every run measures the same subjects.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
