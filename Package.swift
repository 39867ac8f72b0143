// swift-tools-version:6.0
import Foundation
import PackageDescription

// The numeric kernels are written for 8-lane SIMD. On x86-64 the baseline
// (SSE2) splits those in halves and has no FMA or F16C; when the building
// machine has AVX2, FMA and F16C (read from /proc/cpuinfo, the way llama.cpp's
// GGML_NATIVE does) the compute targets are compiled for them. Set
// LIMRANK_PORTABLE=1 to build binaries for other x86-64 machines.
let vectorSettings: [SwiftSetting] = {
    #if arch(x86_64) && os(Linux)
    guard ProcessInfo.processInfo.environment["LIMRANK_PORTABLE"] == nil,
          let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    let flags = Set(line.split(separator: " ").map(String.init))
    guard ["avx2", "fma", "f16c"].allSatisfy(flags.contains) else { return [] }
    return [.unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma", "-Xcc", "-mf16c"]), .define("LIMRANK_FMA"), .define("LIMRANK_F16C"), .define("LIMRANK_AVX2")]
    #else
    return []
    #endif
}()

// Layers, dependencies pointing down:
//   CBLAS, CSpinHint -> Tensor -> ModelFormats, Tokenizers, Grammar -> Models -> Training
//   Datasets -> Retrieval, Evaluation
//   everything -> LimRankCLI (the `limrank` executable)
// Each target lists every LimRank module it imports (none arrives only transitively).
let package = Package(
    name: "LimRank",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "limrank", targets: ["LimRankCLI"]),
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "ModelFormats", targets: ["ModelFormats"]),
        .library(name: "Tokenizers", targets: ["Tokenizers"]),
        .library(name: "Grammar", targets: ["Grammar"]),
        .library(name: "Randomness", targets: ["Randomness"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "Retrieval", targets: ["Retrieval"]),
        .library(name: "Evaluation", targets: ["Evaluation"]),
        .library(name: "LanguageModels", targets: ["LanguageModels"]),
        .library(name: "RemoteModels", targets: ["RemoteModels"]),
        .library(name: "Reranking", targets: ["Reranking"]),
        .library(name: "Synthesis", targets: ["Synthesis"]),
        .library(name: "Server", targets: ["Server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        // Already in the graph through the packages above; named so that the
        // targets importing NIOCore and Logging declare them.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]
        ),
        // Header-only: the CPU's spin-wait hint for Tensor's thread pool.
        .systemLibrary(name: "CSpinHint", path: "Sources/CSpinHint"),
        .target(name: "Tensor", dependencies: ["CBLAS", "CSpinHint"], swiftSettings: vectorSettings),
        .target(name: "ModelFormats", dependencies: ["Tensor"]),
        .target(name: "Tokenizers"),
        // Grammars and JSON schemas as byte-level automata for constrained decoding;
        // no dependency, so the engine stays testable without a model.
        .target(name: "Grammar"),
        // One seedable generator for training, sampling, synthesis and the
        // significance tests: no dependencies, so every layer can share it.
        .target(name: "Randomness"),
        .target(name: "Models", dependencies: ["Randomness", "Tensor", "ModelFormats", "Tokenizers", "Grammar"], swiftSettings: vectorSettings),
        // Backward passes, optimisers, LoRA and data loading, beside the forward-only Models.
        .target(name: "Training", dependencies: ["Randomness", "Tensor", "ModelFormats", "Tokenizers", "Models"], swiftSettings: vectorSettings),
        .target(name: "Datasets"),
        .target(name: "Retrieval", dependencies: ["Datasets", "Tensor"]),
        .target(name: "Evaluation", dependencies: ["Datasets", "Randomness"]),
        .target(name: "LanguageModels", dependencies: ["Models", "Grammar", "Tokenizers"]),
        // The HTTP backend lives apart so that only what talks to servers
        // compiles swift-nio and BoringSSL.
        .target(name: "RemoteModels", dependencies: [
            "LanguageModels", "Grammar", .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        .target(name: "Reranking", dependencies: ["Datasets", "Models", "LanguageModels"]),
        .target(name: "Server", dependencies: [
            "Models", "Grammar", "LanguageModels", "RemoteModels", "Reranking", "Datasets",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Synthesis", dependencies: ["Randomness", "Datasets", "Retrieval", "Models", "Grammar", "LanguageModels", "Reranking"]),
        .executableTarget(
            name: "LimRankCLI",
            dependencies: [
                "Randomness", "Tensor", "ModelFormats", "Tokenizers", "Grammar", "Models", "Training",
                "Datasets", "Retrieval", "Evaluation", "LanguageModels", "RemoteModels", "Reranking",
                "Synthesis", "Server",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "ModelFormatsTests", dependencies: ["TestSupport", "ModelFormats", "Tensor"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TokenizersTests", dependencies: ["TestSupport", "Tokenizers"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ModelsTests", dependencies: ["TestSupport", "Models", "ModelFormats", "Tensor", "Tokenizers", "Grammar"], resources: [.copy("Fixtures")]),
        .testTarget(name: "DatasetsTests", dependencies: ["TestSupport", "Datasets"], resources: [.copy("Fixtures")]),
        .testTarget(name: "RetrievalTests", dependencies: ["TestSupport", "Retrieval", "Datasets"], resources: [.copy("Fixtures")]),
        .testTarget(name: "EvaluationTests", dependencies: ["TestSupport", "Evaluation", "Datasets", "Randomness"], resources: [.copy("Fixtures")]),
        .testTarget(name: "RerankingTests", dependencies: ["TestSupport", "Reranking", "Datasets", "LanguageModels", "Models", "Tokenizers"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "ServerTests", dependencies: [
            "TestSupport", "Server", "LanguageModels", "RemoteModels", "Reranking", "Models", "Synthesis", "Datasets", "Tokenizers",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        .testTarget(name: "SynthesisTests", dependencies: ["TestSupport", "Randomness", "Synthesis", "Datasets", "Retrieval", "Grammar", "Models", "LanguageModels", "Reranking"], resources: [.copy("Fixtures")]),
        .testTarget(name: "GrammarTests", dependencies: ["TestSupport", "Grammar", "Models", "Tokenizers", "LanguageModels"]),
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "LimRankCLI", "Datasets", "Evaluation", "Models", "Training",
                                                  .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "TrainingTests", dependencies: ["TestSupport", "Training", "Models", "ModelFormats", "Tensor", "Tokenizers"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
