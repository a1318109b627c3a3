import ConvKit

/// One measured row: a kernel on a shape, one variant, one thread count.
public struct BenchmarkResult: Codable, Sendable {
    public var kernel: String
    public var shape: String
    public var threads: Int
    public var variant: String
    /// For kernels: GFLOP/s. End-to-end rows leave it out and give `perSecond` instead.
    public var gflops: Double?
    public var perSecond: Double?
    public var unit: String?
    /// For end-to-end rows: the GFLOP/s of the step's convolutions and dense layers, at `perSecond`.
    public var gflopsAchieved: Double?
    /// For kernels, `gflops` against the peak; for end-to-end rows, `gflopsAchieved` against it.
    public var percentOfPeak: Double?
    /// (max − min) / median of the samples.
    public var spread: Double
    public var samples: Int

    enum CodingKeys: String, CodingKey {
        case kernel, shape, threads, variant, gflops, unit, spread, samples
        case perSecond = "per_second"
        case gflopsAchieved = "gflops_achieved"
        case percentOfPeak = "percent_of_peak"
    }
}

/// How close an end-to-end row comes to the memory system's limit: the bytes a step moves at
/// least, against the bandwidth measured for working sets that fit L2, the step's own working
/// set, and one far beyond every cache (DRAM).
public struct Roofline: Codable, Sendable {
    public var kernel: String
    public var threads: Int
    public var bytesPerItem: Double
    public var workingSetBytes: Int
    /// GB/s for "l2" (256 KB per thread), "working_set" and "dram" (256 MB).
    public var bandwidth: [String: Double]
    /// Items per second if the step moved only its bytes at the working set's bandwidth.
    public var boundPerSecond: Double
    public var measuredPerSecond: Double
    public var percentOfBound: Double

    enum CodingKeys: String, CodingKey {
        case kernel, threads, bandwidth
        case bytesPerItem = "bytes_per_item"
        case workingSetBytes = "working_set_bytes"
        case boundPerSecond = "bound_per_second"
        case measuredPerSecond = "measured_per_second"
        case percentOfBound = "percent_of_bound"
    }
}

public struct BenchmarkReport: Codable, Sendable {
    /// "wall" or "cpu": see KernelBenchmark.TimeBase.
    public var clock: String
    /// Peak of the largest thread count measured, in GFLOP/s; per thread count in `peaks`.
    public var peakGflops: Double
    public var peaks: [String: Double]
    /// Per thread count, the peak with 16-lane vectors: the same as `peaks` where the kernels
    /// have 16 lanes (`Kernels.simdLanes`); where they have 8 and it is no higher than `peaks`,
    /// 16-lane kernels could not beat them.
    public var peaks16Lane: [String: Double] = [:]
    public var results: [BenchmarkResult]
    /// One per end-to-end row and thread count (SIMD variant).
    public var rooflines: [Roofline] = []

    enum CodingKeys: String, CodingKey {
        case results, peaks, clock, rooflines
        case peakGflops = "peak_gflops"
        case peaks16Lane = "peaks_16_lane"
    }
}

public enum BenchmarkError: Error, CustomStringConvertible {
    case mismatch(kernel: String, shape: String, difference: Float)
    public var description: String {
        switch self {
        case let .mismatch(kernel, shape, difference):
            "SIMD and scalar results of \(kernel) \(shape) differ by \(difference): not timing a wrong kernel"
        }
    }
}

/// Runs the cases: checks each SIMD kernel against the scalar one, then times both variants at
/// every thread count. Each row's share of peak is against the peak of its own thread count.
public struct BenchmarkRunner {
    public var threadCounts: [Int]
    public var variants: [Kernels.Variant] = [.scalar, .simd]
    public var repeats: Int = 5
    /// Seconds one measurement may take when each call is fast; slow calls get 3 samples.
    public var budget: Double = 0.15
    public var timeBase: KernelBenchmark.TimeBase = .wall

    public init(threadCounts: [Int]) { self.threadCounts = threadCounts }

    /// `progress` is called with each case before it is timed; the report's shares of peak are
    /// set once the peak has been measured again after the last case.
    public func run(_ cases: [BenchmarkCase], progress: (BenchmarkCase) -> Void = { _ in }) throws(BenchmarkError) -> BenchmarkReport {
        let saved = Kernels.threads
        defer { Kernels.threads = saved }
        // The peak is measured before the rows and again after them, and the higher kept: a
        // neighbour busy during one measurement can only lower it, and a low peak would raise
        // every row's share (seen on a shared host: 99 against 117 GFLOP/s a thread).
        var peaks: [Int: Double] = [:]
        var peaks16: [Int: Double] = [:]
        func measurePeaks() {
            for t in threadCounts {
                let p = KernelBenchmark.peak(threads: t, base: timeBase).median / 1e9
                let p16 = Kernels.simdLanes == 16 ? p : KernelBenchmark.peak(threads: t, lanes: 16, base: timeBase).median / 1e9
                peaks[t] = max(peaks[t] ?? 0, p)
                peaks16[t] = max(peaks16[t] ?? 0, p16)
            }
        }
        measurePeaks()
        var results: [BenchmarkResult] = []
        for bench in cases {
            progress(bench)
            Kernels.threads = threadCounts.max() ?? 1
            let check = KernelBenchmark.check(bench)
            guard check.ok else {
                throw .mismatch(kernel: bench.kernel, shape: bench.shape, difference: check.maxDifference)
            }
            for variant in variants {
                for t in threadCounts {
                    Kernels.threads = t
                    let timing = KernelBenchmark.measure(work: bench.work, repeats: repeats, budget: budget,
                                                        base: timeBase, threads: t) { bench.run(variant) }
                    var row = BenchmarkResult(kernel: bench.kernel, shape: bench.shape, threads: t,
                                              variant: variant.rawValue, spread: timing.spread, samples: timing.samples)
                    if bench.unit == .flops {
                        row.gflops = timing.median / 1e9
                    } else {
                        row.perSecond = timing.median
                        row.unit = "\(bench.unit.rawValue)/s"
                        row.gflopsAchieved = bench.flopsPerItem.map { timing.median * $0 / 1e9 }
                    }
                    results.append(row)
                }
            }
        }
        measurePeaks()
        for i in results.indices {
            if let rate = results[i].gflops ?? results[i].gflopsAchieved, let p = peaks[results[i].threads], p > 0 {
                results[i].percentOfPeak = 100 * rate / p
            }
        }
        let top = threadCounts.max() ?? 1
        var report = BenchmarkReport(clock: timeBase.rawValue, peakGflops: peaks[top] ?? 0,
                                     peaks: Dictionary(uniqueKeysWithValues: peaks.map { (String($0.key), $0.value) }),
                                     results: results)
        report.peaks16Lane = Dictionary(uniqueKeysWithValues: peaks16.map { (String($0.key), $0.value) })
        for bench in cases {
            guard let bytes = bench.bytesPerItem, let workingSet = bench.workingSetBytes else { continue }
            for t in threadCounts {
                guard let row = results.first(where: { $0.kernel == bench.kernel && $0.threads == t && $0.variant == "simd" }),
                      let measured = row.perSecond else { continue }
                let gbs = { (size: Int) in KernelBenchmark.bandwidth(bytes: size, threads: t, base: timeBase) / 1e9 }
                let bandwidth = ["l2": gbs(256 * 1024 * t), "working_set": gbs(workingSet), "dram": gbs(256 << 20)]
                let bound = bandwidth["working_set"]! * 1e9 / bytes
                report.rooflines.append(Roofline(kernel: bench.kernel, threads: t, bytesPerItem: bytes, workingSetBytes: workingSet,
                                                 bandwidth: bandwidth, boundPerSecond: bound, measuredPerSecond: measured,
                                                 percentOfBound: 100 * measured / bound))
            }
        }
        return report
    }
}
