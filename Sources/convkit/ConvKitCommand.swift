import ArgumentParser
import ConvKit

@main
struct ConvKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convkit",
        abstract: "Train and run small convolutional networks on the CPU.",
        version: ConvKit.version,
        subcommands: [Train.self, Evaluate.self, Predict.self, Plot.self, Show.self, Summary.self, Bench.self, Info.self]
    )
}

/// Options every command that computes shares.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Threads for the C kernels (default: OMP_NUM_THREADS, else one per core).")
    var threads: Int?

    @Option(help: "Kernel variant: simd or scalar.")
    var kernels: Kernels.Variant = .simd

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func apply() {
        if let threads { Kernels.threads = threads }
        Kernels.variant = kernels
    }
}

extension Kernels.Variant: ExpressibleByArgument {}
