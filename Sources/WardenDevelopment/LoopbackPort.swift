import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// TCP on 127.0.0.1, for what Warden starts beside itself (the development nats-server) and for the
/// tools that start Warden (benchmark, tests).
public enum LoopbackPort {
    /// Every port `free()` has returned in this process.
    nonisolated(unsafe) private static var handedOut = Set<Int>()
    private static let lock = NSLock()

    /// A port on 127.0.0.1 that was free a moment ago, and that this process was never given before.
    ///
    /// The kernel readily hands out a port it has just released again, so two picks in a row, made
    /// before either port is listened on, could be the same port (the benchmark once started
    /// nats-server and Warden on one).
    public static func free() throws(LoopbackPortError) -> Int {
        for _ in 0..<64 {
            let port = try Self.unbound()
            if Self.lock.withLock({ Self.handedOut.insert(port).inserted }) { return port }
        }
        throw LoopbackPortError(errno: EADDRINUSE)
    }

    private static func unbound() throws(LoopbackPortError) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LoopbackPortError(errno: errno) }
        defer { close(fd) }
        var address = Self.address(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw LoopbackPortError(errno: errno) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    public static func isListening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = Self.address(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    private static func address(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return address
    }
}

/// No loopback port could be had: the one code of `LoopbackPort`, and `errno`, which says why.
public struct LoopbackPortError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { self.name }

        /// No port on 127.0.0.1 could be bound.
        public static let noFreePort = Code("noFreePort")
    }

    public let code = Code.noFreePort
    public let errno: Int32
    public var message: String { "no free port on 127.0.0.1: \(String(cString: strerror(self.errno)))" }
    public var description: String { self.message }
}
