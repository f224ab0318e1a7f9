public import Foundation
import WardenDevelopment

#if canImport(Glibc)
import Glibc
#endif

/// Loopback-only networking helpers for tests: every address here is 127.0.0.1.
public enum Loopback {
    /// A TCP port on 127.0.0.1 that was free a moment ago.
    public static func freePort() throws -> Int {
        try LoopbackPort.free()
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    public static func isListening(port: Int) -> Bool {
        LoopbackPort.isListening(port)
    }

    /// Waits until 127.0.0.1:`port` accepts connections, for at most `timeout` seconds.
    public static func waitUntilListening(port: Int, timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if self.isListening(port: port) { return true }
            usleep(20_000)
        }
        return false
    }

    static func address(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}

/// A plain TCP connection to 127.0.0.1, for speaking to a server without TLS or without a NATS client.
public final class RawConnection {
    private let socket: Int32
    private var closed = false

    public init(port: Int) throws {
        self.socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Loopback.address(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(self.socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(self.socket)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED)
        }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(self.socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    public func send(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer {
            Glibc.send(self.socket, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL))
        }
    }

    /// Everything received until the peer closes or `seconds` pass; `closedByPeer` tells which.
    public func receive(for seconds: TimeInterval) -> (text: String, closedByPeer: Bool) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let count = recv(self.socket, &buffer, buffer.count, 0)
            if count == 0 { return (String(decoding: received, as: UTF8.self), true) }
            if count < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }
                return (String(decoding: received, as: UTF8.self), true)
            }
            received += buffer[0..<count]
        }
        return (String(decoding: received, as: UTF8.self), false)
    }

    public func close() {
        guard !self.closed else { return }
        self.closed = true
        Glibc.close(self.socket)
    }

    deinit { self.close() }
}

/// A response from `HTTPProbe`: status code, headers (names lowercased) and body.
public struct HTTPProbeResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: String
}

/// One HTTP/1.1 request to 127.0.0.1, answered and closed: enough to scrape a metrics endpoint the
/// way Prometheus does, without an HTTP client library.
public enum HTTPProbe {
    public static func request(_ method: String = "GET", port: Int, path: String, timeout: TimeInterval = 5) throws
        -> HTTPProbeResponse
    {
        let connection = try RawConnection(port: port)
        defer { connection.close() }
        connection.send("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n")
        let (text, closed) = connection.receive(for: timeout)
        guard closed, let end = text.range(of: "\r\n\r\n") else {
            throw HTTPProbeError(description: "no complete response within \(timeout) s: \(text.prefix(200))")
        }
        let lines = text[..<end.lowerBound].split(separator: "\r\n")
        guard let statusLine = lines.first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "")
        else {
            throw HTTPProbeError(description: "not an HTTP response: \(text.prefix(200))")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        return HTTPProbeResponse(status: status, headers: headers, body: String(text[end.upperBound...]))
    }
}

public struct HTTPProbeError: Error, CustomStringConvertible {
    public let description: String
}
