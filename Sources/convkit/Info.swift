import ArgumentParser
import ConvKit

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the version, OpenMP, threads, SIMD path and MPI.")

    @OptionGroup var compute: ComputeOptions

    func run() {
        compute.apply()
        print("convkit \(ConvKit.version)")
        print("OpenMP:  \(Kernels.openMP ? "on" : "off (single-threaded build)")")
        print("threads: \(Kernels.threads)")
        print("kernels: \(compute.kernels.rawValue), SIMD path \(Kernels.simdInstructions)")
        print("MPI:     \(mpi())")
    }

    /// Built with MPI or not, and under mpirun this process's rank (MPI is started and ended here).
    func mpi() -> String {
        let built = ProcessGroup.builtWithMPI ? "on" : "off (built without MPI)"
        guard ProcessGroup.launchedSize != nil else { return ProcessGroup.builtWithMPI ? "on (not started by mpirun: one process)" : built }
        do {
            let world = try ProcessGroup.world
            try world.finalize()
            return "\(built), rank \(world.rank) of \(world.size)"
        } catch {
            return ProcessGroup.builtWithMPI ? "on; \(error)" : "off: \(error)"
        }
    }
}
