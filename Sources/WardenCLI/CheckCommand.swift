import ArgumentParser
import WardenACL

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the ACL files.",
        discussion: "Exits 0 when every file is valid, 1 with one 'file:line: message' line per problem when not."
    )

    @OptionGroup var acls: ACLOptions

    func run() throws {
        do {
            let snapshot = try ACLLoader.load(directory: self.acls.directory)
            let files = try ACLLoader.files(in: self.acls.directory)
            print("ok: \(files.count) file(s), \(snapshot.services.count) service(s), \(snapshot.ruleCount) rule(s)")
        } catch {
            ErrorHints.report(error)
            throw ExitCode(1)
        }
    }
}
