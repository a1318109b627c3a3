import ArgumentParser
import ConvKit
import ConvKitBenchmark
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time every kernel, scalar and SIMD, at 1 and N threads, against the machine's FMA peak."
    )

    @Flag(help: "Print JSON for scripts instead of a table.")
    var json = false

    @Option(help: "Only kernels whose name or shape contains this text (e.g. conv_forward, 64x32).")
    var filter: String?

    @Option(help: "Thread counts, comma-separated (default: 1 and one per core).")
    var threads: String?

    @Option(help: "wall: elapsed time; cpu: CPU time of the calling (OpenMP master) thread, which leaves out time spent waiting for a core on a loaded machine.")
    var clock: KernelBenchmark.TimeBase = .wall

    @Option(help: "Samples per measurement, fewer when each call is slow (at least 3).")
    var `repeat` = 5

    func validate() throws {
        if `repeat` < 1 { throw ValidationError("--repeat must be at least 1, got \(`repeat`)") }
        _ = try threadCounts()
    }

    func threadCounts() throws -> [Int] {
        guard let threads else {
            let n = Kernels.threads
            return n > 1 ? [1, n] : [1]
        }
        let counts = threads.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--threads takes positive counts separated by commas, got \(threads)")
        }
        return Array(Set(counts.map { $0! })).sorted()
    }

    func run() throws {
        var cases = KernelBenchmark.allCases()
        if let filter {
            cases = cases.filter { $0.kernel.contains(filter) || $0.shape.contains(filter) || "\($0.kernel) \($0.shape)".contains(filter) }
            if cases.isEmpty { throw ValidationError("no kernel or shape matches \(filter)") }
        }
        var runner = BenchmarkRunner(threadCounts: try threadCounts())
        runner.repeats = `repeat`
        runner.timeBase = clock
        if !json {
            print("convkit bench: \(Kernels.simdInstructions), OpenMP \(Kernels.openMP ? "on" : "off"), \(clock.rawValue) clock, threads \(runner.threadCounts.map(String.init).joined(separator: ","))")
        }
        let report: BenchmarkReport
        do {
            report = try runner.run(cases) { bench in if !json { Console.progress("timing \(bench.kernel) \(bench.shape)") } }
        } catch {
            throw ValidationError(error.description)
        }
        if !json { Console.clearProgress() }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            // Rows print once the run is over: their shares of peak need the peak measured after them.
            var previous: [BenchmarkResult] = []
            for bench in cases {
                let rows = report.results.filter { $0.kernel == bench.kernel && $0.shape == bench.shape }
                printRows(rows, after: previous)
                previous = rows
            }
            let peaks = report.peaks.sorted { Int($0.key)! < Int($1.key)! }
                .map { "\($0.key) thr \(format($0.value, 1)) GFLOP/s" }.joined(separator: ", ")
            print("peak fp32 FMA (\(Kernels.simdLanes)-lane vectors, as the kernels): \(peaks); % peak is against the row's own thread count (for a training step: its convolution and dense arithmetic per second); spread = (max-min)/median")
            if Kernels.simdLanes != 16 {
                let wide = report.peaks16Lane.sorted { Int($0.key)! < Int($1.key)! }
                    .map { "\($0.key) thr \(format($0.value, 1))" }.joined(separator: ", ")
                print("peak with 16-lane vectors, which the kernels do not use here: \(wide) GFLOP/s")
            }
            printRooflines(report.rooflines)
        }
    }

    /// The memory roofline of each end-to-end row: bytes moved per item against the bandwidth of
    /// the working set's level of the memory system.
    private func printRooflines(_ rooflines: [Roofline]) {
        guard !rooflines.isEmpty else { return }
        print("")
        print("roofline (bytes per item: parameters 12 B each per step, activations and their gradients 16 B each per item; GB/s read+write as a step moves them):")
        for r in rooflines {
            let b = r.bandwidth
            print("  \(r.kernel), \(r.threads) thr: \(format(r.bytesPerItem / 1e6, 3)) MB/item, working set \(format(Double(r.workingSetBytes) / 1e6, 2)) MB; "
                  + "L2 \(format(b["l2"] ?? 0, 1)), working set \(format(b["working_set"] ?? 0, 1)), DRAM \(format(b["dram"] ?? 0, 1)) GB/s; "
                  + "bound \(format(r.boundPerSecond, 0))/s, measured \(format(r.measuredPerSecond, 0))/s = \(format(r.percentOfBound, 0)) % of bound")
        }
    }

    /// Prints one case's rows; a header before each new kernel.
    private func printRows(_ rows: [BenchmarkResult], after previous: [BenchmarkResult]) {
        if rows.first?.kernel != previous.first?.kernel {
            print("")
            print(pad("kernel", 21) + pad("shape", 24, right: false) + pad("thr", 4) + pad("scalar", 9) + pad("simd", 9)
                  + pad("speed-up", 9) + pad("% peak", 11) + pad("spread", 14))
        }
        for t in Set(rows.map(\.threads)).sorted() {
            let scalar = rows.first { $0.threads == t && $0.variant == "scalar" }
            let simd = rows.first { $0.threads == t && $0.variant == "simd" }
            let unit = scalar?.unit ?? ""
            let s = scalar?.gflops ?? scalar?.perSecond ?? 0, v = simd?.gflops ?? simd?.perSecond ?? 0
            let spread = "\(format(100 * (scalar?.spread ?? 0), 0))%/\(format(100 * (simd?.spread ?? 0), 0))%"
            print(pad(rows[0].kernel, 21) + pad(rows[0].shape, 24, right: false) + pad("\(t)", 4)
                  + pad(format(s, 2), 9) + pad(format(v, 2), 9) + pad(s > 0 ? format(v / s, 1) + "x" : "-", 9)
                  + pad(simd?.percentOfPeak.map { format($0, 1) } ?? "", 11) + pad(spread, 14) + (unit.isEmpty ? "" : "  " + unit))
        }
    }

}

extension KernelBenchmark.TimeBase: ExpressibleByArgument {}

private func format(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

private func pad(_ s: String, _ width: Int, right: Bool = true) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return right ? fill + s : "  " + s + fill
}
