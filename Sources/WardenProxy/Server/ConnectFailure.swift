#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOPosix

/// Why a connection to nats-server could not be made, in words an operator reads in the log:
/// `connection refused by 127.0.0.1:4222`, not NIO's error chain (`connection reset (error set):
/// Connection refused) (errno: 111)`).
enum ConnectFailure {
    static func describe(_ error: any Error) -> String {
        if let failure = error as? NIOConnectionError {
            guard !failure.connectionErrors.isEmpty else {
                return "cannot resolve \(failure.host): \(failure.dnsAError.map { "\($0)" } ?? "no address")"
            }
            return failure.connectionErrors.map { "\(Self.reason(first: $0.error)) by \($0.target.peerDescription)" }
                .joined(separator: "; ")
        }
        if case ChannelError.connectTimeout(let timeout) = error {
            return "no answer within \(timeout.nanoseconds / 1_000_000_000) s"
        }
        return Self.reason(first: error)
    }

    private static func reason(first error: any Error) -> String {
        guard let io = error as? IOError else { return "\(error)" }
        switch io.errnoCode {
        case ECONNREFUSED: return "connection refused"
        case ETIMEDOUT: return "timed out"
        case EHOSTUNREACH, ENETUNREACH: return "no route to the host"
        default: return String(cString: strerror(io.errnoCode)).lowercased()
        }
    }
}
