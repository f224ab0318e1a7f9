import Foundation
import NIOSSL

/// Warden's two TLS contexts, made from the files in `configuration.certs`.
struct TLSContexts: Sendable {
    let listener: NIOSSLContext
    let upstream: NIOSSLContext
    let listenerNotAfter: Date
    let upstreamNotAfter: Date

    init(configuration: ProxyConfiguration) throws {
        let layout = configuration.certs
        let ca = try NIOSSLCertificate.fromPEMFile(layout.caCertificate)
        let listenerChain = try NIOSSLCertificate.fromPEMFile(layout.serverCertificate)
        let upstreamChain = try NIOSSLCertificate.fromPEMFile(layout.upstreamCertificate)
        guard let listenerLeaf = listenerChain.first, let upstreamLeaf = upstreamChain.first else {
            throw NIOSSLError.failedToLoadCertificate
        }
        self.listenerNotAfter = Date(timeIntervalSince1970: TimeInterval(listenerLeaf.notValidAfter))
        self.upstreamNotAfter = Date(timeIntervalSince1970: TimeInterval(upstreamLeaf.notValidAfter))
        // Listener: TLS 1.2 or newer, and a client certificate is required (checked in full by the
        // verification callback against the CA and the inventory).
        var listener = TLSConfiguration.makeServerConfiguration(
            certificateChain: listenerChain.map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: layout.serverKey, format: .pem)))
        listener.minimumTLSVersion = .tlsv12
        listener.certificateVerification = .noHostnameVerification
        listener.trustRoots = .certificates(ca)
        listener.sendCANameList = true
        self.listener = try NIOSSLContext(configuration: listener)

        // Upstream: Warden's own identity; nats-server must present a certificate from Warden's CA
        // (or --upstream-ca) naming the host Warden dials.
        var upstream = TLSConfiguration.makeClientConfiguration()
        upstream.minimumTLSVersion = .tlsv12
        upstream.certificateVerification = .fullVerification
        upstream.trustRoots = .certificates(
            try NIOSSLCertificate.fromPEMFile(configuration.upstreamCAFile ?? layout.caCertificate))
        upstream.certificateChain = upstreamChain.map { .certificate($0) }
        upstream.privateKey = .privateKey(try NIOSSLPrivateKey(file: layout.upstreamKey, format: .pem))
        self.upstream = try NIOSSLContext(configuration: upstream)
    }
}
