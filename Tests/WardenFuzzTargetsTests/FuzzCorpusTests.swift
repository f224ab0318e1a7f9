import Foundation
import Testing
import WardenFuzzTargets

/// Every committed fuzzing input (`Fuzz/corpus/TARGET/`: the seeds, and every input that once made a
/// target fail) replayed through its target: a failure found by `scripts/fuzz.sh` stays fixed.
struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus").path

    static func inputs(_ target: String) -> [String] {
        let folder = Self.corpus + "/" + target
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.sorted().map { folder + "/" + $0 }
    }

    @Test(arguments: FuzzTarget.all.map(\.name))
    func everyCommittedInputPassesItsTarget(_ name: String) throws {
        let target = try #require(FuzzTarget.named(name))
        let inputs = Self.inputs(name)
        // Seeds are what the fuzzer starts from: a target without any starts blind.
        #expect(inputs.count >= 5, "Fuzz/corpus/\(name) holds \(inputs.count) inputs")
        for path in inputs {
            let data = try #require(FileManager.default.contents(atPath: path), "cannot read \(path)")
            data.withUnsafeBytes { target.run($0) }
        }
    }

    /// Every folder of the corpus belongs to a target, so no input is left unreplayed.
    @Test func everyCorpusFolderIsATarget() throws {
        let folders = try FileManager.default.contentsOfDirectory(atPath: Self.corpus)
        #expect(Set(folders) == Set(FuzzTarget.all.map(\.name)))
    }
}
