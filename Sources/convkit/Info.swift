import ArgumentParser
import ConvKit
import ConvKitBenchmark
import ConvKitFiles
import ConvKitVisualization

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the version, OpenMP, threads and SIMD path.")

    @OptionGroup var compute: ComputeOptions

    func run() {
        compute.apply()
        print("convkit \(ConvKit.version)")
        print("OpenMP:  \(Kernels.openMP ? "on" : "off (single-threaded build)")")
        print("threads: \(Kernels.threads)")
        print("kernels: \(compute.kernels.rawValue), SIMD path \(Kernels.simdInstructions)")
    }
}
