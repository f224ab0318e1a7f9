#if FUZZING
import Foundation
import WardenFuzzTargets

/// libFuzzer's driver, linked in by `-sanitize=fuzzer` (`scripts/fuzz.sh`): it reads libFuzzer's
/// options from the command line and calls `callback` with every input it makes.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// The target libFuzzer drives, named by `WARDEN_FUZZ_TARGET` (`scripts/fuzz.sh` sets it).
let fuzzed: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["WARDEN_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget.named(name) else {
        let names = FuzzTarget.all.map(\.name).joined(separator: ", ")
        FileHandle.standardError.write(Data("warden-fuzz: set WARDEN_FUZZ_TARGET to one of: \(names)\n".utf8))
        exit(2)
    }
    return target
}()

/// libFuzzer's entry for each input. With SwiftPM's link, libFuzzer's own `main` starts the program
/// and calls this; `FuzzerDriver.run` starts the same driver should `WardenFuzz.main` come first.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzed.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

enum FuzzerDriver {
    static func run() -> Int32 {
        _ = fuzzed  // an unknown target is reported before libFuzzer starts
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        return LLVMFuzzerRunDriver(&argc, &argv, fuzzerTestOneInput)
    }
}
#endif
