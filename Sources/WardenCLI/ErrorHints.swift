import WardenACL
import WardenAudit
import WardenDevelopment
import WardenFleet
import WardenMetrics
import WardenPKI
import WardenPeers

/// What the command line adds to the errors of the library targets: the flag or command that does
/// something about them, chosen by the error's code. The libraries' messages say what went wrong, and
/// where, and name no flag: the same error reached another way (a reload, a test) needs another hint.
enum ErrorHints {
    /// The hint for `error`, when the command line has one.
    static func hint(for error: any Error) -> String? {
        switch error {
        case let error as PKIError:
            switch error.code {
            case .alreadyInitialized: return "to replace it anyway, run `warden init --force`"
            case .notInitialized: return "run `warden init` first"
            case .noListenerNames: return "give at least one --san"
            case .unreadableListenerNames: return "give the names with --san"
            case .invalidLifetime: return "give another --ttl"
            case .trustDomainChanged: return "restart `warden serve` to use the new CA"
            default: return nil
            }
        case let error as ACLLoadError:
            return error.code == .noFolder ? "set the folder with --acls DIR" : nil
        case let error as NATSServerError:
            return error.code == .notInstalled ? "or give a nats-server with --upstream tls://HOST:PORT" : nil
        case let error as AuditError:
            switch error.code {
            case .logUnavailable: return "give another file with --decision-log PATH"
            case .eventsUnavailable: return "check --upstream, or run with --no-audit-events"
            default: return nil
            }
        case let error as MetricsServerError:
            return error.code == .cannotListen ? "give another address with --metrics HOST:PORT" : nil
        case let error as FleetError:
            switch error.code {
            case .noState: return "push the fleet's state first: `warden fleet push --nats URL`"
            case .unreachable: return "check the NATS URLs (--nats, --upstream) and that JetStream is enabled there"
            case .conflict: return "another push ran at the same time; run this one again"
            default: return nil
            }
        case let error as PeerBeaconError:
            return error.code == .connectionFailed ? "check --upstream, or run with --no-peers" : nil
        default:
            return nil
        }
    }

    /// Writes `error: MESSAGE` to standard error, and `hint: HINT` when there is one. An ACL error gives
    /// each of its problems as `file:line: message`.
    static func report(_ error: any Error) {
        if let error = error as? ACLLoadError {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
        } else {
            printError("error: \(error)")
        }
        if let hint = Self.hint(for: error) { printError("hint: \(hint)") }
    }
}
