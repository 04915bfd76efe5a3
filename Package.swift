// swift-tools-version: 6.2
// The mirrored hummingbird, async-http-client and swift-prometheus declare 6.2, so this package does too.

import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "nostr-signer",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "signer", targets: ["Signer"]),
        .executable(name: "loadgen", targets: ["LoadGen"]),
        .library(name: "NostrCrypto", targets: ["NostrCrypto"]),
        .library(name: "Custody", targets: ["Custody"]),
        .library(name: "Nip46", targets: ["Nip46"]),
        .library(name: "Cluster", targets: ["Cluster"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // libsecp256k1 from the distribution (Debian: libsecp256k1-dev 0.2.0 or later, with schnorrsig, extrakeys, ecdh).
        .systemLibrary(
            name: "CSecp256k1",
            pkgConfig: "libsecp256k1",
            providers: [.apt(["libsecp256k1-dev"])]
        ),
        // hiredis from the distribution (Debian: libhiredis-dev 0.14): the Redis protocol for the cluster.
        // Its pkg-config file adds a flag SwiftPM refuses (-D_FILE_OFFSET_BITS=64), so the header is found in /usr/include.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        // glibc's <malloc.h> (heap-in-use statistics for the benchmarks); no library to link.
        .systemLibrary(name: "CGlibcMalloc"),
        // glibc's <sys/random.h> (getrandom); no library to link.
        .systemLibrary(name: "CGetRandom"),
        // The folder is Sources/Crypto; the module cannot be called Crypto because swift-crypto owns that name.
        .target(
            name: "NostrCrypto",
            dependencies: [
                "CSecp256k1",
                "CGetRandom",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            path: "Sources/Crypto",
            swiftSettings: swiftSettings
        ),
        // Who owns which key and who may use it: envelope encryption, KEK backends, stores, policies, audit, cache.
        .target(
            name: "Custody",
            dependencies: [
                "NostrCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // NIP-46 over relays: the relay client, the protocol codec, and the service; custody through a protocol it declares.
        .target(
            name: "Nip46",
            dependencies: [
                "NostrCrypto",
                .product(name: "WSClient", package: "swift-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        // Which instance owns which bunker: the consistent hash ring, membership and the broadcast over Redis.
        .target(
            name: "Cluster",
            dependencies: [
                "NostrCrypto",
                "CHiredis",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "Signer",
            dependencies: [
                "NostrCrypto",
                "Custody",
                "Nip46",
                "Cluster",
                "CGlibcMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        // `loadgen`: the load generator behind `make bench` (HTTP RPC and NIP-46 through a relay, open or closed loop,
        // HdrHistogram latencies, every reply checked). A client of the daemon: it shares only the protocol code.
        .executableTarget(
            name: "LoadGen",
            dependencies: [
                "NostrCrypto",
                "Nip46",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "tools/loadgen",
            swiftSettings: swiftSettings
        ),
        // Helpers the test targets share (temporary directories, loopback ports); never linked into the product.
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: swiftSettings),
        .testTarget(
            name: "NostrCryptoTests",
            dependencies: ["NostrCrypto"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CustodyTests",
            dependencies: [
                "Custody",
                "NostrCrypto",
                "TestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The daemon's parts together with real peers: custody on SQLite, a real relay, a real NIP-46 app.
        .testTarget(
            name: "SignerTests",
            dependencies: [
                "Signer", "Custody", "Nip46", "Cluster", "NostrCrypto", "TestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ClusterTests",
            dependencies: [
                "Cluster",
                "NostrCrypto",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LoadGenTests",
            dependencies: ["LoadGen", "Nip46", "NostrCrypto"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "Nip46Tests",
            dependencies: [
                "Nip46",
                "NostrCrypto",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
