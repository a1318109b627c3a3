import Benchmark
import ConvKit

// Every kernel of `convkit bench` on the same shapes, scalar and SIMD, at 1 thread and at one
// thread per core, as package-benchmark benchmarks named "kernel shape variant Nt", so a saved
// baseline flags a regression of any of them. GFLOP/s = the flops in the "flops" tag × the
// throughput metric (calls/s); `convkit bench` prints GFLOP/s and % of peak directly.
//
// Each benchmark's setup checks the SIMD result against the scalar one before it is timed
// (only for the benchmarks a --filter selects: scalar runs of the large layer take seconds).

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput],
        warmupIterations: 1,
        // Scalar calls on the large layer take about a second; everything else gets many samples.
        maxDuration: .milliseconds(500),
        maxIterations: 1000
    )
    let cores = Kernels.threads
    let threadCounts = cores > 1 ? [1, cores] : [1]
    for bench in KernelBenchmark.kernelCases() {
        for variant in Kernels.Variant.allCases {
            for threads in threadCounts {
                Benchmark(
                    "\(bench.kernel) \(bench.shape) \(variant.rawValue) \(threads)t",
                    configuration: .init(tags: ["flops": String(Int(bench.work))], setup: {
                        let check = KernelBenchmark.check(bench)
                        precondition(check.ok, "SIMD and scalar results of \(bench.kernel) \(bench.shape) differ by \(check.maxDifference)")
                    })
                ) { benchmark in
                    Kernels.threads = threads
                    benchmark.startMeasurement()
                    for _ in benchmark.scaledIterations { bench.run(variant) }
                    benchmark.stopMeasurement()
                }
            }
        }
    }
}
