// swift-tools-version:6.1
import PackageDescription

// ConvKit's kernel benchmarks for ordo-one's package-benchmark: `swift package benchmark` here,
// baselines saved and compared per kernel, shape, variant and thread count. A package of its
// own so that the main package's `swift build` and `swift test` never fetch or build it.
let package = Package(
    name: "ConvKitBenchmarks",
    dependencies: [
        .package(name: "ConvKit", path: ".."),  // named: the directory name varies by checkout
        // The repository was renamed from package-benchmark; the plugin warns about the old identifier.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Every kernel on every shape of `convkit bench`, scalar and SIMD, 1 and N threads.
        .executableTarget(
            name: "KernelBenchmarks",
            dependencies: [
                .product(name: "ConvKit", package: "ConvKit"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/KernelBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
