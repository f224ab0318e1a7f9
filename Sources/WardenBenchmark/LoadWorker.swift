import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import WardenDevelopment

/// A load-generating process (`warden-bench load-worker PORT COUNT CERT KEY CA info-first|tls-first`,
/// started by `ManyClientsBenchmark`): opens COUNT `LoadClient`s to PORT (nats-server: INFO first;
/// Warden: TLS first) with the credential CERT and KEY,
/// a few at a time, and answers `status` on its standard input with a line of counts; `quit` ends it.
/// A process can hold at most 20,000 descriptors here, so the load is spread over several.
enum LoadWorker {
    /// Connections being set up at once: enough to keep Warden busy, few enough not to overflow its
    /// listen backlog.
    static let inFlight = 32

    static func run(_ arguments: [String]) throws {
        guard arguments.count == 6, let port = Int(arguments[0]), let count = Int(arguments[1]),
            ["info-first", "tls-first"].contains(arguments[5])
        else {
            throw BenchmarkError("usage: warden-bench load-worker PORT COUNT CERT KEY CA info-first|tls-first")
        }
        OpenFileLimit.raiseToMaximum()
        let infoFirst = arguments[5] == "info-first"
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(arguments[4]))
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(arguments[2]).map { .certificate($0) }
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: arguments[3], format: .pem))
        // Warden's certificate names 127.0.0.1; the chain is checked, the name is not the point here.
        tls.certificateVerification = .noHostnameVerification
        let context = try NIOSSLContext(configuration: tls)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let counts = NIOLockedValueBox(LoadClient.Counts())
        let started = NIOLockedValueBox(0)
        let clients = NIOLockedValueBox<[LoadClient]>([])

        @Sendable func startNext() {
            let index: Int? = started.withLockedValue {
                guard $0 < count else { return nil }
                $0 += 1
                return $0
            }
            guard index != nil else { return }
            let client = LoadClient(port: port, infoFirst: infoFirst, context: context, eventLoop: loop, counts: counts)
            {
                loop.execute { startNext() }
            }
            clients.withLockedValue { $0.append(client) }
            client.connect()
        }
        loop.execute {
            for _ in 0..<min(Self.inFlight, count) { startNext() }
        }

        while let command = readLine() {
            switch command {
            case "status":
                let now = counts.withLockedValue { $0 }
                let line = "\(now.subscribed) \(now.reconnected) \(now.delivered) \(now.errors)\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            case "quit":
                for client in clients.withLockedValue({ $0 }) { client.stop() }
                try? group.syncShutdownGracefully()
                return
            default:
                FileHandle.standardError.write(Data("load-worker: unknown command \(command)\n".utf8))
            }
        }
    }
}
