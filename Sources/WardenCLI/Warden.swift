import ArgumentParser
import Foundation

@main
struct Warden: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warden",
        abstract: "Message-bus security broker: mutual TLS, subject ACLs and a decision log in front of NATS.",
        subcommands: [
            InitCommand.self, EnrollCommand.self, RevokeCommand.self, RenewCommand.self, NATSConfigCommand.self,
            CheckCommand.self, ExplainCommand.self, ServeCommand.self, DenialsCommand.self, FleetCommand.self,
        ]
    )
}

/// Options shared by the commands that read ACL files.
struct ACLOptions: ParsableArguments {
    @Option(name: .customLong("acls"), help: "Folder of ACL files (*.yaml).")
    var directory: String = "acls"
}

/// Writes a line to standard error, for diagnostics that must not mix with a command's output.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
