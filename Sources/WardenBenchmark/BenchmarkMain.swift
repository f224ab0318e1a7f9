#if canImport(Glibc)
import Glibc
#endif

/// `warden-bench [policy] [--quick]`: prints figures; never asserts on timing.
@main
struct BenchmarkMain {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        let quick = arguments.contains("--quick")
        if arguments.contains("--help") || arguments.contains("-h") {
            print("usage: warden-bench [policy] [--quick]\n  policy   ns per publish decision, 10 and 10,000 rules, cached and uncached")
            return
        }
        #if DEBUG
        print("note: this is a debug build; measure with `swift run -c release warden-bench`")
        #endif
        let results = try PolicyBenchmark(iterations: quick ? 200_000 : 5_000_000).run()
        print("policy engine: ns per publish decision (\(quick ? "quick" : "full") run)")
        print("rules".padding(8) + "uncached".padding(12) + "cached".padding(12))
        for result in results {
            print("\(result.rules)".padding(8) + format(result.uncachedNanos).padding(12) + format(result.cachedNanos).padding(12))
        }
        if let few = results.first, let many = results.last {
            print("uncached 10,000 rules / 10 rules: \(format(many.uncachedNanos / few.uncachedNanos))x")
        }
    }

    static func format(_ value: Double) -> String {
        let tenths = (value * 10).rounded() / 10
        return "\(tenths)"
    }
}

extension String {
    func padding(_ width: Int) -> String {
        self.count >= width ? self + " " : self + String(repeating: " ", count: width - self.count)
    }
}
