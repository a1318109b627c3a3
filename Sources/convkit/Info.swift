import ArgumentParser
import ConvKit

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the version, OpenMP, threads and SIMD path.")

    @OptionGroup var compute: ComputeOptions

    func run() {
        compute.apply()
        print("convkit \(ConvKit.version)")
        print("OpenMP:  \(Kernels.openMP ? "on" : "off (single-threaded build)")")
        print("threads: \(Kernels.threads)")
        print("kernels: \(Kernels.variant.rawValue), SIMD path \(Kernels.simdInstructions)")
    }
}
