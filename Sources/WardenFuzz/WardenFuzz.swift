import Foundation
import WardenFuzzTargets

/// Built by `scripts/fuzz.sh` (`FUZZING`), `warden-fuzz` is libFuzzer's driver; an ordinary build
/// replays inputs through a target instead: a crash found by fuzzing is reproduced with
/// `warden-fuzz TARGET FILE`.
@main
struct WardenFuzz {
    static func main() {
        #if FUZZING
        exit(FuzzerDriver.run())
        #else
        Replay.run()
        #endif
    }
}

enum Replay {
    static func run() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first, name != "--help", name != "--list" else {
            print("usage: warden-fuzz TARGET FILE|FOLDER...   replay inputs through a fuzzing target")
            for target in FuzzTarget.all {
                print("  \(target.name.padding(toLength: 14, withPad: " ", startingAt: 0))\(target.summary)")
            }
            return
        }
        guard let target = FuzzTarget.named(name) else {
            FileHandle.standardError.write(Data("warden-fuzz: no target \(name); see --list\n".utf8))
            exit(2)
        }
        var count = 0
        for path in arguments.dropFirst() {
            for file in Self.files(path) {
                guard let data = FileManager.default.contents(atPath: file) else {
                    FileHandle.standardError.write(Data("warden-fuzz: cannot read \(file)\n".utf8))
                    exit(1)
                }
                data.withUnsafeBytes { target.run($0) }
                count += 1
            }
        }
        print("\(target.name): \(count) inputs replayed, no failure")
    }

    static func files(_ path: String) -> [String] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue else {
            return [path]
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { path + "/" + $0 }
    }
}
