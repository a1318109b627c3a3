import ArgumentParser
import ConvKit
import ConvKitFiles
import Foundation

@main
struct ConvKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convkit",
        abstract: "Train and run small convolutional networks on the CPU.",
        version: ConvKit.version,
        subcommands: [Train.self, Evaluate.self, Predict.self, Export.self, Plot.self, Show.self, Summary.self, Bench.self, Info.self]
    )

    /// As ArgumentParser's own `main`, but a failure is one line on stderr (no usage block after
    /// it), so a script or a log shows exactly what was wrong: bad options exit 64, bad files
    /// and diverged training 1. Help, version and a bare `convkit` keep their usual output.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let message = (message(for: error) + hint(for: error)).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
            let code = exitCode(for: error)
            if code == .success || message.isEmpty { exit(withError: error) }
            writeStandardError("Error: \(message)\n")
            Foundation.exit(code.rawValue)
        }
    }
}

/// What the libraries' errors leave to the command line: which flag to change.
func hint(for error: Error) -> String {
    switch error {
    case TrainingError.nonFinite: "; try a smaller --lr"
    case ModelFileError.notACheckpoint: "; use --init to start from it"
    case DataError.bundledDataNotFound: "; pass --data DIR"
    case DataError.noTestSplit: "; add a test/ folder or pass --val-split F to test on a fraction of train/"
    default: ""
    }
}

/// Options every command that computes shares.
struct ComputeOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Threads for the C kernels (default: OMP_NUM_THREADS, else one per core).")
    var threads: Int?

    @Option(help: "Kernel variant: simd or scalar.")
    var kernels: Kernels.Variant = .simd

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    }

    func apply() {
        if let threads { Kernels.threads = threads }
    }
}

extension Kernels.Variant: ExpressibleByArgument {}
