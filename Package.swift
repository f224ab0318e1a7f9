// swift-tools-version: 6.1
import PackageDescription

/// One set of compiler settings for every target, so the package builds one way everywhere.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

// Linux only: Warden uses Glibc, libnats from the system (pkg-config) and mimalloc, and is built and
// tested on Debian. No Apple platform is claimed.
let package = Package(
    name: "warden",
    products: [
        .executable(name: "warden", targets: ["WardenCLI"]),
        .executable(name: "warden-bench", targets: ["WardenBenchmark"]),
        .executable(name: "warden-fuzz", targets: ["WardenFuzz"]),
        .library(name: "WardenPolicy", targets: ["WardenPolicy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // Subject matching and ACL decisions. Standard library only: no I/O, no Foundation.
        .target(name: "WardenPolicy", swiftSettings: swiftSettings),
        // ACL files (YAML) compiled into a policy snapshot, with file:line errors.
        .target(
            name: "WardenACL",
            dependencies: ["WardenPolicy", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        // Warden's certificate authority: issuing, inventory, revocation, verification.
        .target(
            name: "WardenPKI",
            dependencies: [
                "WardenPolicy",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        // What nats-server does on a client's behalf, decided by its ACL: JetStream API calls, headers that
        // make nats-server publish, stored messages carried in answers. Standard library only.
        .target(name: "WardenContainment", dependencies: ["WardenPolicy"], swiftSettings: swiftSettings),
        // The NATS client protocol, both directions, as a streaming parser (NIOCore only), and the JSON of
        // the handshake: a client's CONNECT options, the INFO lines Warden sends (Foundation's JSON).
        .target(
            name: "NATSProtocol",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // The few system calls Swift's Glibc module does not declare (the decision log's write-behind).
        .target(name: "CWardenSystem"),
        // Decision records: their encoding, the decision log and its writer, audit events on NATS and
        // their budget, and the reader of the log that `warden denials` and the tests share.
        .target(
            name: "WardenAudit",
            dependencies: [
                "WardenPolicy", "NATSProtocol", "CWardenSystem", "NATSClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The broker: TLS listener, upstream connections, enforcement, decision log, metrics endpoint.
        .target(
            name: "WardenProxy",
            dependencies: [
                "WardenPolicy", "WardenACL", "WardenPKI", "WardenContainment", "NATSProtocol", "WardenAudit",
                "WardenMetrics", "WardenPeers", "WardenFleet",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // What a running Warden counts, for Prometheus, and the HTTP endpoint that serves it.
        .target(
            name: "WardenMetrics",
            dependencies: [
                "WardenPolicy", "WardenAudit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // Wardens on one NATS cluster finding each other: heartbeats, and the live peers' client URLs.
        .target(
            name: "WardenPeers",
            dependencies: [
                "WardenAudit", "NATSClient",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // One state for a fleet of Wardens: signed bundles of ACLs and inventory in the JetStream KeyValue
        // bucket WARDEN, pushed by the CLI, verified against the CA and followed by every Warden.
        .target(
            name: "WardenFleet",
            dependencies: [
                "WardenACL", "WardenPKI", "WardenPolicy", "WardenAudit", "WardenPeers", "NATSClient",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // For development, tests and the benchmark: the one way to start a nats-server, loopback ports,
        // the open-file limit.
        .target(
            name: "WardenDevelopment",
            dependencies: [
                "WardenPKI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // libnats (nats.c), for wherever Warden or its tools act as an ordinary NATS client.
        .systemLibrary(name: "CNATS", pkgConfig: "libnats", providers: [.apt(["libnats-dev"])]),
        .target(name: "NATSClient", dependencies: ["CNATS"], swiftSettings: swiftSettings),
        // Shared by the test targets: temporary folders, free ports, a real nats-server process.
        .target(
            name: "WardenTestSupport",
            dependencies: ["WardenPKI", "WardenDevelopment", "NATSClient"],
            path: "Tests/WardenTestSupport",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "WardenCLI",
            dependencies: [
                "WardenPolicy", "WardenACL", "WardenPKI", "WardenProxy", "WardenAudit", "WardenFleet", "NATSClient",
                // Metrics and peers for their errors' codes only (`ErrorHints`): the broker runs them.
                "WardenDevelopment", "WardenMetrics", "WardenPeers",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings,
            // mimalloc replaces glibc's malloc in the whole process (it comes before libc in the lookup
            // order): an idle connection is many small allocations, and costs less with it
            // (docs/PERFORMANCE.md, "Memory per idle connection").
            linkerSettings: [.linkedLibrary("mimalloc", .when(platforms: [.linux]))]
        ),
        .executableTarget(
            name: "WardenBenchmark",
            dependencies: [
                "WardenPolicy", "WardenACL", "WardenPKI", "WardenDevelopment", "NATSClient",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // Fuzzing targets: any bytes into the parsers, the handshake JSON, ACL files and JetStream
        // checks, with the invariants each must keep.
        .target(
            name: "WardenFuzzTargets",
            dependencies: ["NATSProtocol", "WardenACL", "WardenPolicy", "WardenContainment"],
            swiftSettings: swiftSettings
        ),
        // `warden-fuzz`: libFuzzer's driver when built by scripts/fuzz.sh, a replayer of inputs otherwise.
        .executableTarget(name: "WardenFuzz", dependencies: ["WardenFuzzTargets"], swiftSettings: swiftSettings),
        .testTarget(
            name: "WardenFuzzTargetsTests", dependencies: ["WardenFuzzTargets"], swiftSettings: swiftSettings),
        .testTarget(
            name: "WardenPolicyTests",
            dependencies: ["WardenPolicy", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WardenAuditTests",
            dependencies: [
                "WardenAudit", "WardenPolicy", "WardenTestSupport", "NATSProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WardenFleetTests", dependencies: ["WardenFleet", "WardenPKI", "WardenTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "WardenPeersTests", dependencies: ["WardenPeers"], swiftSettings: swiftSettings),
        .testTarget(name: "WardenDevelopmentTests", dependencies: ["WardenDevelopment"], swiftSettings: swiftSettings),
        .testTarget(
            name: "WardenMetricsTests", dependencies: ["WardenMetrics", "WardenAudit", "WardenPolicy"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WardenContainmentTests", dependencies: ["WardenContainment", "WardenPolicy", "WardenACL"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "WardenACLTests", dependencies: ["WardenACL", "WardenPolicy"], swiftSettings: swiftSettings),
        .testTarget(
            name: "WardenPKITests",
            dependencies: ["WardenPKI", "NATSClient", "WardenTestSupport", "WardenDevelopment"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NATSProtocolTests",
            dependencies: [
                "NATSProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WardenProxyTests",
            dependencies: [
                "WardenProxy", "WardenACL", "WardenPKI", "WardenPolicy", "NATSProtocol", "NATSClient",
                "WardenTestSupport",
                "WardenAudit", "WardenMetrics", "WardenDevelopment",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "WardenCLITests",
            dependencies: [
                "WardenCLI", "WardenPKI", "WardenTestSupport", "NATSClient", "WardenAudit",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
