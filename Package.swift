// swift-tools-version:6.1
import PackageDescription
import Foundation

// OpenMP: Debian's libomp-dev puts omp.h and libomp.so under /usr/lib/llvm-<v>/, where Swift's
// own clang does not look. Find them here so no path is edited by hand; without them the C
// target still builds (every pragma is ignored) and runs single-threaded.
// CONVKIT_OPENMP=0 forces the single-threaded build (ThreadSanitizer runs use it).
struct OpenMP {
    var includeDir: String
    var libDir: String

    static func find() -> OpenMP? {
        if ProcessInfo.processInfo.environment["CONVKIT_OPENMP"] == "0" { return nil }
        let fm = FileManager.default
        let llvmDirs = ((try? fm.contentsOfDirectory(atPath: "/usr/lib")) ?? [])
            .filter { $0.hasPrefix("llvm-") }
            .sorted { (Int($0.dropFirst(5)) ?? 0) > (Int($1.dropFirst(5)) ?? 0) }
        for llvm in llvmDirs {
            let lib = "/usr/lib/\(llvm)/lib"
            guard fm.fileExists(atPath: "\(lib)/libomp.so") else { continue }
            let clangDir = "\(lib)/clang"
            for version in (try? fm.contentsOfDirectory(atPath: clangDir)) ?? [] {
                let include = "\(clangDir)/\(version)/include"
                if fm.fileExists(atPath: "\(include)/omp.h") {
                    return OpenMP(includeDir: include, libDir: lib)
                }
            }
        }
        return nil
    }
}

let openMP = OpenMP.find()

// MPI, for data-parallel training across processes (docs/mpi-design.md). Optional like OpenMP:
// Open MPI's compiler wrapper says which flags it adds (`mpicc --showme:compile` and
// `--showme:link`), else pkg-config's `ompi-c` does; without either, or with CONVKIT_MPI=0, the
// C target builds its single-process stubs. Linux only: that is where it is tested.
struct MPI {
    var compileFlags: [String]
    var linkFlags: [String]

    static func find() -> MPI? {
#if os(Linux)
        if ProcessInfo.processInfo.environment["CONVKIT_MPI"] == "0" { return nil }
        if let compile = run("mpicc", ["--showme:compile"]), let link = run("mpicc", ["--showme:link"]) {
            return MPI(compileFlags: compile, linkFlags: link)
        }
        if let compile = run("pkg-config", ["--cflags", "ompi-c"]), let link = run("pkg-config", ["--libs", "ompi-c"]) {
            return MPI(compileFlags: compile, linkFlags: link)
        }
#endif
        return nil
    }

    // The words a tool prints, or nil if it is not on PATH, fails, or prints no -I/-l flag.
    static func run(_ tool: String, _ arguments: [String]) -> [String]? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        let words = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isWhitespace).map(String.init)
        return words.contains { $0.hasPrefix("-I") || $0.hasPrefix("-l") } ? words : nil
    }

    // swiftc links: it takes -L and -l as they are; a library directory also becomes an rpath (an
    // MPI under /opt is found at run time too), and anything else (-Wl,…, -pthread) goes to the linker.
    static func swiftLinkerFlags(_ flag: String) -> [String] {
        if flag.hasPrefix("-L") { return [flag, "-Xlinker", "-rpath", "-Xlinker", String(flag.dropFirst(2))] }
        if flag.hasPrefix("-l") { return [flag] }
        if flag.hasPrefix("-Wl,") { return flag.dropFirst(4).split(separator: ",").flatMap { ["-Xlinker", String($0)] } }
        if flag == "-pthread" { return ["-lpthread"] }
        return ["-Xlinker", flag]
    }
}

let mpi = MPI.find()

// -march=native: SwiftPM builds ConvKit from source on the machine that runs it, so the C
// kernels use every vector unit that machine has (AVX-512/AVX2 + FMA on Zen 4, NEON on arm64)
// with no dispatch cost. See README, "SIMD".
var kernelFlags = ["-O3", "-march=native", "-ffp-contract=fast"]
var kernelLinkFlags: [String] = []
if let omp = openMP {
    kernelFlags += ["-fopenmp", "-isystem", omp.includeDir]
    kernelLinkFlags += ["-L\(omp.libDir)", "-lomp", "-Xlinker", "-rpath", "-Xlinker", omp.libDir]
}
if let mpi {
    kernelFlags += mpi.compileFlags + ["-DCK_WITH_MPI"]
    kernelLinkFlags += mpi.linkFlags.flatMap(MPI.swiftLinkerFlags)
}

let package = Package(
    name: "ConvKit",
    products: [
        .library(name: "ConvKit", targets: ["ConvKit"]),
        .executable(name: "convkit", targets: ["convkit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The command-line trainer.
        .executableTarget(
            name: "convkit",
            dependencies: ["ConvKit", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Tensors, layers, losses, optimizers, training, data and model files.
        .target(
            name: "ConvKit",
            dependencies: ["CKernels", "CZlib"]
        ),
        // The hot loops, in C: scalar and SIMD variants, OpenMP across independent work.
        .target(
            name: "CKernels",
            path: "CKernels",
            cSettings: [.unsafeFlags(kernelFlags)],
            linkerSettings: [.unsafeFlags(kernelLinkFlags)]
        ),
        // zlib, for gzip-compressed MNIST and PNG.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Runs ProcessGroup's collectives under mpirun for ProcessGroupTests (and times them).
        .executableTarget(name: "mpi-probe", dependencies: ["ConvKit"], path: "Tests/MPIProbe"),
        .testTarget(name: "CKernelsTests", dependencies: ["ConvKit", "CKernels"]),
        .testTarget(name: "ConvKitTests", dependencies: ["ConvKit", "CKernels"]),
    ]
)

// The libFuzzer target over every reader (Tests/Fuzz/README.md). Only declared when asked for,
// because it has no main of its own: `-sanitize=fuzzer` links libFuzzer's.
if ProcessInfo.processInfo.environment["CONVKIT_FUZZ"] == "1" {
    package.targets.append(.executableTarget(name: "convkit-fuzz", dependencies: ["ConvKit"], path: "Tests/Fuzz/Sources"))
}
