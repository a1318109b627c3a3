// swift-tools-version:6.2
// 6.2 is the first manifest version whose unsafe C flags (-fopenmp, -march=native) SwiftPM accepts
// in a package that another package depends on by version.
import PackageDescription
import Foundation

// All optional, found once per manifest evaluation (see the structs at the end).
let openMP = OpenMP.find()
let mpi = MPI.find()
let turboJPEG = TurboJPEG.find()

let package = Package(
    name: "ConvKit",
    products: [
        // Tensors, kernels, layers, networks, losses, optimizers and training.
        .library(name: "ConvKit", targets: ["ConvKit"]),
        // Data sets (MNIST/IDX, CIFAR, image folders of PNG, Netpbm or JPEG), model files (safetensors,
        // checkpoints with their recipe) and training logs.
        .library(name: "ConvKitFiles", targets: ["ConvKitFiles"]),
        // Training curves as SVG, kernels, feature maps and augmentations as PNG.
        .library(name: "ConvKitVisualization", targets: ["ConvKitVisualization"]),
        // A model as an ONNX file, for ONNX Runtime and other tools (what `convkit export` writes).
        .library(name: "ConvKitONNX", targets: ["ConvKitONNX"]),
        // Kernel and training-step benchmarks (what `convkit bench` runs).
        .library(name: "ConvKitBenchmark", targets: ["ConvKitBenchmark"]),
        // The raw C kernels, for callers who manage their own buffers.
        .library(name: "CKernels", targets: ["CKernels"]),
        .executable(name: "convkit", targets: ["convkit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // The command-line trainer: flags, messages and hints live here, not in the libraries.
        .executableTarget(
            name: "convkit",
            dependencies: ["ConvKit", "ConvKitFiles", "ConvKitVisualization", "ConvKitBenchmark", "ConvKitONNX",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .target(name: "ConvKit", dependencies: ["CKernels"]),
        .target(name: "ConvKitFiles", dependencies: ["ConvKit", "CZlib"] + (turboJPEG?.dependencies ?? []),
                swiftSettings: turboJPEG?.swiftSettings ?? []),
        .target(name: "ConvKitVisualization", dependencies: ["ConvKit", "ConvKitFiles"]),
        .target(name: "ConvKitBenchmark", dependencies: ["ConvKit", "CKernels"]),
        // Its own target so that only ONNX users build swift-protobuf's runtime. The Swift of
        // onnx.proto is generated once, by scripts/generate-onnx-swift.sh, and committed.
        .target(name: "ConvKitONNX", dependencies: ["ConvKit", "ConvKitFiles", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["Proto"]),
        // The hot loops, in C: scalar and SIMD variants, OpenMP across independent work.
        .target(
            name: "CKernels",
            path: "CKernels",
            cSettings: kernelCSettings,
            linkerSettings: kernelLinkerSettings
        ),
        // zlib, for gzip-compressed MNIST and PNG.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        // Runs ProcessGroup's collectives under mpirun for ProcessGroupTests (and times them).
        .executableTarget(name: "mpi-probe", dependencies: ["ConvKit"], path: "Tests/MPIProbe"),
        .testTarget(name: "CKernelsTests", dependencies: ["ConvKit", "CKernels"]),
        .testTarget(name: "ConvKitTests", dependencies: ["ConvKit", "ConvKitFiles", "ConvKitVisualization", "ConvKitBenchmark", "CKernels", "ConvKitONNX"],
                    exclude: ["Fixtures"]),  // read from the source tree by path; the scripts that made them sit beside them
    ]
)

// MARK: - C flags, per platform

// Vector code for the machine that builds: SwiftPM builds ConvKit from source wherever it runs,
// so native code is always correct there (docs/kernels.md, "SIMD"). x86_64 clang takes -march=native;
// on arm64 the equivalent is -mcpu=native (Apple clang and LLVM clang alike).
var kernelCSettings: [CSetting] {
    // -fno-math-errno: sqrtf (Adam) then compiles to the vector instruction; with errno it stays a
    // call and the loop cannot vectorise. No result changes: sqrt is exact either way.
    var settings: [CSetting] = [.unsafeFlags(["-O3", "-ffp-contract=fast", "-fno-math-errno"])]
    #if arch(x86_64)
    // CONVKIT_MARCH builds another machine kind's kernels (x86-64-v3: AVX2's 8-lane ones;
    // znver4: Zen 4's), to test or time them on this one. -mprefer-vector-width=512: the kernels'
    // 16-lane vectors stay whole zmm registers; clang's default for Intel's AVX-512 cores splits
    // them into ymm halves, at half the peak of their two 512-bit FMA units.
    let march = ProcessInfo.processInfo.environment["CONVKIT_MARCH"] ?? "native"
    settings.append(.unsafeFlags(["-march=\(march)", "-mprefer-vector-width=512"]))
    #elseif arch(arm64)
    settings.append(.unsafeFlags(["-mcpu=native"]))
    #endif
    if let openMP { settings.append(contentsOf: openMP.cSettings) }
    if let mpi { settings.append(contentsOf: mpi.cSettings) }
    return settings
}

var kernelLinkerSettings: [LinkerSetting] { (openMP?.linkerSettings ?? []) + (mpi?.linkerSettings ?? []) }

// OpenMP is optional: without it every pragma is ignored and the kernels run on one thread
// (`convkit info` and `convkit train` say so). CONVKIT_OPENMP=0 forces that build.
// - Linux: Debian's libomp-dev puts omp.h and libomp.so under /usr/lib/llvm-<v>/, where the
//   Swift toolchain's clang does not look.
// - macOS: Apple clang has no -fopenmp driver flag; Homebrew's libomp is used through
//   -Xclang -fopenmp when it is installed (reasoned from Homebrew's layout, not built here).
struct OpenMP {
    var includeDir: String
    var libDir: String
    var compileFlags: [String]

    static func find() -> OpenMP? {
        if ProcessInfo.processInfo.environment["CONVKIT_OPENMP"] == "0" { return nil }
        let fm = FileManager.default
        #if os(Linux)
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
                    return OpenMP(includeDir: include, libDir: lib, compileFlags: ["-fopenmp"])
                }
            }
        }
        #elseif os(macOS)
        for prefix in ["/opt/homebrew/opt/libomp", "/usr/local/opt/libomp"]
        where fm.fileExists(atPath: "\(prefix)/include/omp.h") {
            return OpenMP(includeDir: "\(prefix)/include", libDir: "\(prefix)/lib", compileFlags: ["-Xclang", "-fopenmp"])
        }
        #endif
        return nil
    }

    #if os(Linux)
    static let platforms: [Platform] = [.linux]
    #else
    static let platforms: [Platform] = [.macOS]
    #endif

    var cSettings: [CSetting] {
        [.unsafeFlags(compileFlags + ["-isystem", includeDir], .when(platforms: Self.platforms))]
    }
    var linkerSettings: [LinkerSetting] {
        [.unsafeFlags(["-L\(libDir)", "-lomp", "-Xlinker", "-rpath", "-Xlinker", libDir], .when(platforms: Self.platforms))]
    }
}

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

    var cSettings: [CSetting] { [.unsafeFlags(compileFlags + ["-DCK_WITH_MPI"], .when(platforms: [.linux]))] }
    var linkerSettings: [LinkerSetting] {
        [.unsafeFlags(linkFlags.flatMap(Self.swiftLinkerFlags), .when(platforms: [.linux]))]
    }
}

// libjpeg-turbo's TurboJPEG API, for JPEG images (Sources/ConvKitFiles/Data/JPEG.swift). Optional
// like OpenMP and MPI: found when its header is (Debian's libturbojpeg0-dev; Homebrew's keg-only
// jpeg-turbo, whose flags the pkg-config file gives, reasoned from its layout, not built here);
// CONVKIT_JPEG=0 forces the build without it, where decoding a JPEG throws
// ImageError.noJPEGSupport and RasterImage.readsJPEG is false. The target is only declared when
// found, so a build without it does not warn about a missing pkg-config file.
struct TurboJPEG {
    static func find() -> TurboJPEG? {
        if ProcessInfo.processInfo.environment["CONVKIT_JPEG"] == "0" { return nil }
        let includeDirs = ["/usr/include", "/usr/local/include", "/opt/homebrew/opt/jpeg-turbo/include", "/usr/local/opt/jpeg-turbo/include"]
        return includeDirs.contains { FileManager.default.fileExists(atPath: "\($0)/turbojpeg.h") } ? TurboJPEG() : nil
    }

    var target: Target {
        .systemLibrary(name: "CTurboJPEG", path: "Sources/CTurboJPEG", pkgConfig: "libturbojpeg",
                       providers: [.apt(["libturbojpeg0-dev"]), .brew(["jpeg-turbo"])])
    }
    var dependencies: [Target.Dependency] { ["CTurboJPEG"] }
    var swiftSettings: [SwiftSetting] { [.define("CONVKIT_JPEG")] }
}
if let turboJPEG { package.targets.append(turboJPEG.target) }

// The libFuzzer target over every reader (Tests/Fuzz/README.md). Only declared when asked for,
// because it has no main of its own: `-sanitize=fuzzer` links libFuzzer's.
if ProcessInfo.processInfo.environment["CONVKIT_FUZZ"] == "1" {
    package.targets.append(.executableTarget(name: "convkit-fuzz", dependencies: ["ConvKit", "ConvKitFiles"], path: "Tests/Fuzz/Sources"))
}
