import Foundation
public import WardenPolicy
import Yams

/// Reads every `*.yaml` file in an ACL folder and compiles them into one `PolicySnapshot`.
///
/// Files are read in name order and merged. Loading either succeeds completely or reports every
/// problem it found as `file:line: message`; there is no partially loaded policy.
public enum ACLLoader {
    /// The ACL files in `directory`: every `*.yaml`, in name order.
    public static func files(in directory: String) throws(ACLLoadError) -> [String] {
        let folder = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ACLLoadError([ACLDiagnostic(file: folder, line: 0, message: "no such ACL folder")], code: .noFolder)
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            let message = "cannot read the ACL folder: \(error.localizedDescription)"
            throw ACLLoadError([ACLDiagnostic(file: folder, line: 0, message: message)], code: .noFiles)
        }
        let yaml = names.filter { $0.hasSuffix(".yaml") && !$0.hasPrefix(".") }.sorted()
        guard !yaml.isEmpty else {
            let message = "no ACL files (*.yaml) in this folder"
            throw ACLLoadError([ACLDiagnostic(file: folder, line: 0, message: message)], code: .noFiles)
        }
        return yaml.map { "\(folder)/\($0)" }
    }

    /// Loads and compiles every ACL file in `directory`.
    public static func load(directory: String) throws(ACLLoadError) -> PolicySnapshot {
        var sources: [(path: String, contents: String)] = []
        var diagnostics: [ACLDiagnostic] = []
        for path in try self.files(in: directory) {
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                guard let text = String(data: data, encoding: .utf8) else {
                    diagnostics.append(ACLDiagnostic(file: path, line: 0, message: "file is not valid UTF-8"))
                    continue
                }
                sources.append((path, text))
            } catch {
                diagnostics.append(
                    ACLDiagnostic(file: path, line: 0, message: "cannot read file: \(error.localizedDescription)"))
            }
        }
        if !diagnostics.isEmpty { throw ACLLoadError(diagnostics) }
        return try self.load(sources: sources)
    }

    /// Compiles ACL documents given as (path, contents) pairs, in the order given.
    public static func load(sources: [(path: String, contents: String)]) throws(ACLLoadError) -> PolicySnapshot {
        var document = ACLDocument()
        for source in sources {
            document.parse(file: source.path, yaml: source.contents)
        }
        return try document.compile()
    }
}
