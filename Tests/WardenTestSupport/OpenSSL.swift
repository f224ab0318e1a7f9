import Foundation

/// Runs the `openssl` command line, an implementation independent of Warden's, to check what Warden wrote.
public enum OpenSSL {
    /// Exit status and combined output.
    public static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    public static func text(of certificate: String) throws -> String {
        try self.run(["x509", "-in", certificate, "-noout", "-text"]).output
    }

    public static func verify(_ certificate: String, caFile: String) throws -> (ok: Bool, output: String) {
        let result = try self.run(["verify", "-CAfile", caFile, certificate])
        return (result.status == 0, result.output)
    }
}

/// The permission bits of a file.
public func fileMode(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
}
