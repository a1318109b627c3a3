import Testing
import ConvKit
import ConvKitBenchmark

/// `convkit bench`'s runner: every row's share of peak is its rate over the peak of its own thread
/// count, the peak the report gives (the better of the measurements before and after the rows).
@Suite("The benchmark runner")
struct BenchmarkRunnerTests {
    @Test("rows' shares of peak are against the report's peak of their thread count; progress sees each case once")
    func sharesOfPeak() throws {
        let cases = KernelBenchmark.allCases().filter { $0.kernel == "correlate_valid" && $0.shape.hasPrefix("1x1x12x12") }
        try #require(cases.count == 1)
        var runner = BenchmarkRunner(threadCounts: [1])
        runner.repeats = 3
        runner.budget = 0.01
        var seen: [String] = []
        let report = try runner.run(cases) { seen.append("\($0.kernel) \($0.shape)") }
        #expect(seen == cases.map { "\($0.kernel) \($0.shape)" })
        #expect(report.results.count == 2)  // scalar and SIMD, one thread
        let peak = try #require(report.peaks["1"])
        #expect(peak > 0 && report.peakGflops == peak)
        for row in report.results {
            let rate = try #require(row.gflops)
            let share = try #require(row.percentOfPeak)
            #expect(abs(share - 100 * rate / peak) <= 1e-9 * share, "\(row.variant)")
        }
    }
}
