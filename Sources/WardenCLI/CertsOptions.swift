import ArgumentParser
import WardenPKI

/// Options shared by the commands that read or write credentials.
struct CertsOptions: ParsableArguments {
    @Option(name: .customLong("certs"), help: "Folder of Warden's CA and credentials.")
    var directory: String = "certs"

    var layout: CertsLayout { CertsLayout(root: self.directory) }
}

/// Runs a PKI operation, turning its error into a message on standard error and exit code 1.
func runPKI<T>(_ body: () throws(PKIError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        ErrorHints.report(error)
        throw ExitCode(1)
    }
}
