import ConvKit
import CKernels
#if canImport(Glibc)
import Glibc
#endif

// The kernel benchmark behind `convkit bench` and the Benchmarks/ suite: the shapes that matter,
// their flop counts, a monotonic-clock timer with median and spread, and the machine's FMA peak.

/// A convolution shape, `NxCxHxW->O,KHxKW` (then `pP` and `sS` unless padding 0 and stride 1);
/// single-plane kernels use N = C = O = 1.
public struct ConvShape: Sendable, CustomStringConvertible {
    public var n, c, h, w, o, kh, kw: Int
    public var padding = 0, stride = 1
    public init(_ n: Int, _ c: Int, _ h: Int, _ w: Int, _ o: Int, _ kh: Int, _ kw: Int, padding: Int = 0, stride: Int = 1) {
        (self.n, self.c, self.h, self.w, self.o, self.kh, self.kw) = (n, c, h, w, o, kh, kw)
        (self.padding, self.stride) = (padding, stride)
    }
    /// The output size, as the kernels compute it.
    public var oh: Int { Int(geometry.OH) }
    public var ow: Int { Int(geometry.OW) }
    /// Multiply-adds of the correlation (padding zeros included), ×2; the same count for both gradients.
    public var flops: Double { 2.0 * Double(n * o * c * oh * ow * kh * kw) }
    public var description: String {
        "\(n)x\(c)x\(h)x\(w)->\(o),\(kh)x\(kw)" + (padding == 0 ? "" : "p\(padding)") + (stride == 1 ? "" : "s\(stride)")
    }
    /// The kernels' geometry of the shape, which must be a valid one.
    var geometry: ck_conv2d_geometry {
        var g = ck_conv2d_geometry()
        let status = ck_conv2d_geometry_make(&g, Int32(n), Int32(c), Int32(h), Int32(w), Int32(o), Int32(kh), Int32(kw),
                                             Int32(padding), Int32(padding), Int32(stride), Int32(stride))
        precondition(status == CK_CONV2D_OK, "benchmark shape \(description) is not a valid convolution")
        return g
    }
}

/// A fully connected shape, `NxI->O`.
public struct DenseShape: Sendable, CustomStringConvertible {
    public var n, i, o: Int
    public init(_ n: Int, _ i: Int, _ o: Int) { (self.n, self.i, self.o) = (n, i, o) }
    public var description: String { "\(n)x\(i)->\(o)" }
}

/// One thing to time: a kernel on a shape, runnable as either variant.
/// Unchecked Sendable: its buffers are written only by the kernel a benchmark runs, one at a
/// time (package-benchmark hands the cases to @Sendable closures).
public final class BenchmarkCase: @unchecked Sendable {
    public let kernel: String
    public let shape: String
    /// Work per call: flops for kernels (the rate is reported in GFLOP/s); items (samples,
    /// images) for end-to-end rows, whose rate is reported per second.
    public let work: Double
    public let unit: Unit
    private let body: (ck_variant) -> Void
    private let output: () -> [Float]
    private let outputs: [Buffer]

    public enum Unit: String, Sendable { case flops, samples, images }

    /// For end-to-end rows: at least how many bytes one item (sample, image) moves between the
    /// cores and memory, and the bytes the step passes over each time (its working set), for the
    /// roofline `convkit bench` prints after the table.
    public var bytesPerItem: Double?
    public var workingSetBytes: Int?
    /// For end-to-end rows: the arithmetic of one item's step (the convolutions' and dense
    /// layers' forward pass, kernel gradient and input gradient), so the row can say what share
    /// of the machine's FMA peak the whole step reaches.
    public var flopsPerItem: Double?

    /// `body` runs the kernel once; `output` reads what the last run wrote, for the
    /// scalar-against-SIMD check. The case owns its buffers through the closures.
    public convenience init(kernel: String, shape: String, work: Double, unit: Unit = .flops,
                            body: @escaping (ck_variant) -> Void, output: @escaping () -> [Float]) {
        self.init(kernel: kernel, shape: shape, work: work, unit: unit, body: body, output: output, outputs: [])
    }

    /// `outputs` are filled with NaN before each checked run, so an output a variant fails to
    /// write cannot pass for the other variant's value.
    init(kernel: String, shape: String, work: Double, unit: Unit = .flops,
         body: @escaping (ck_variant) -> Void, output: @escaping () -> [Float], outputs: [Buffer]) {
        self.kernel = kernel; self.shape = shape; self.work = work; self.unit = unit
        self.body = body; self.output = output; self.outputs = outputs
    }

    public func run(_ variant: Kernels.Variant) { body(variant.c) }
    public func result(_ variant: Kernels.Variant) -> [Float] {
        for b in outputs { b.pointer.update(repeating: .nan, count: b.count) }
        run(variant)
        return output()
    }
}

extension Buffer {
    /// A buffer filled with reproducible values in [-1, 1).
    convenience init(_ count: Int, seed: UInt64 = 0) {
        self.init(count: max(count, 1))
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        for i in 0..<self.count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            pointer[i] = Float(state >> 40) / Float(1 << 24) * 2 - 1
        }
    }
}

public enum KernelBenchmark {
    // MARK: shapes

    /// The tutorial layer, LeNet's two convolutions at batch 64, a one-channel layer with many
    /// outputs, a layer large enough to be compute bound, a "same" padded layer with and
    /// without stride 2, and the `fashion` recipe's two padded convolutions.
    public static let convShapes: [ConvShape] = [
        ConvShape(1, 1, 28, 28, 5, 3, 3),
        ConvShape(64, 1, 28, 28, 8, 5, 5),
        ConvShape(64, 8, 12, 12, 16, 5, 5),
        ConvShape(64, 1, 28, 28, 32, 3, 3),
        ConvShape(64, 32, 26, 26, 64, 3, 3),
        ConvShape(64, 8, 28, 28, 16, 3, 3, padding: 1),
        ConvShape(64, 8, 28, 28, 16, 3, 3, padding: 1, stride: 2),
        ConvShape(64, 1, 28, 28, 32, 3, 3, padding: 1),
        ConvShape(64, 32, 14, 14, 40, 3, 3, padding: 1),
    ]
    /// Single planes: the tutorial's 28×28 ⋆ 3×3, LeNet's planes, the large layer's plane.
    public static let planeShapes: [ConvShape] = [
        ConvShape(1, 1, 28, 28, 1, 3, 3),
        ConvShape(1, 1, 28, 28, 1, 5, 5),
        ConvShape(1, 1, 12, 12, 1, 5, 5),
        ConvShape(1, 1, 26, 26, 1, 3, 3),
    ]
    /// The tutorial's 3380 → 100 layer (batch 1 and 64) and LeNet's classifier.
    public static let denseShapes: [DenseShape] = [
        DenseShape(1, 3380, 100),
        DenseShape(64, 256, 10),
        DenseShape(64, 3380, 100),
    ]

    // MARK: cases

    /// Every kernel on every shape that matters for it.
    public static func kernelCases() -> [BenchmarkCase] {
        var cases: [BenchmarkCase] = []
        for s in planeShapes {
            cases.append(correlateValid(s))
            cases.append(planeFull(s, convolve: false))
            cases.append(planeFull(s, convolve: true))
        }
        for s in convShapes { cases.append(convForward(s)) }
        for s in convShapes { cases.append(convBackwardKernel(s)) }
        for s in convShapes { cases.append(convBackwardInput(s)) }
        for s in denseShapes { cases.append(denseForward(s)) }
        for s in denseShapes { cases.append(denseBackward(s)) }
        return cases
    }

    /// Every row `convkit bench` reports: kernels, then the end-to-end rows.
    public static func allCases() -> [BenchmarkCase] { kernelCases() + EndToEndBenchmarks.cases() }

    public static func correlateValid(_ s: ConvShape) -> BenchmarkCase {
        let input = Buffer(s.h * s.w, seed: 1), k = Buffer(s.kh * s.kw, seed: 2), out = Buffer(s.oh * s.ow)
        let (h, w, kh, kw) = (Int32(s.h), Int32(s.w), Int32(s.kh), Int32(s.kw))
        return BenchmarkCase(kernel: "correlate_valid", shape: s.description, work: s.flops,
                             body: { v in ck_correlate_valid(v, out.pointer, input.pointer, k.pointer, h, w, kh, kw) },
                             output: { out.array }, outputs: [out])
    }

    /// Full correlation or convolution of one plane; flops count every tap of the padded plane.
    public static func planeFull(_ s: ConvShape, convolve: Bool) -> BenchmarkCase {
        let (h, w, kh, kw) = (Int32(s.h), Int32(s.w), Int32(s.kh), Int32(s.kw))
        let input = Buffer(s.h * s.w, seed: 1), k = Buffer(s.kh * s.kw, seed: 2)
        let out = Buffer((s.h + s.kh - 1) * (s.w + s.kw - 1))
        let work = Buffer(ck_correlate_full_work_size(h, w, kh, kw))
        let flops = 2.0 * Double((s.h + s.kh - 1) * (s.w + s.kw - 1) * s.kh * s.kw)
        let f = convolve ? ck_convolve_full : ck_correlate_full
        return BenchmarkCase(kernel: convolve ? "convolve_full" : "correlate_full", shape: s.description, work: flops,
                             body: { v in f(v, out.pointer, input.pointer, k.pointer, work.pointer, h, w, kh, kw) },
                             output: { out.array }, outputs: [out])
    }

    public static func convForward(_ s: ConvShape) -> BenchmarkCase {
        let X = Buffer(s.n * s.c * s.h * s.w, seed: 1), K = Buffer(s.o * s.c * s.kh * s.kw, seed: 2)
        let B = Buffer(s.o, seed: 3), Y = Buffer(s.n * s.o * s.oh * s.ow)
        let g = s.geometry, work = Buffer(ck_conv2d_forward_work_size(g))
        return BenchmarkCase(kernel: "conv_forward", shape: s.description, work: s.flops,
                             body: { v in ck_conv2d_forward(v, Y.pointer, X.pointer, K.pointer, B.pointer, CK_BIAS_CHANNEL, work.pointer, g) },
                             output: { Y.array }, outputs: [Y])
    }

    public static func convBackwardKernel(_ s: ConvShape) -> BenchmarkCase {
        let X = Buffer(s.n * s.c * s.h * s.w, seed: 1), dY = Buffer(s.n * s.o * s.oh * s.ow, seed: 4)
        let dK = Buffer(s.o * s.c * s.kh * s.kw)
        let g = s.geometry, work = Buffer(ck_conv2d_backward_kernel_work_size(g))
        return BenchmarkCase(kernel: "conv_backward_kernel", shape: s.description, work: s.flops,
                             body: { v in ck_conv2d_backward_kernel(v, dK.pointer, X.pointer, dY.pointer, work.pointer, g) },
                             output: { dK.array }, outputs: [dK])
    }

    /// Flops are the multiply-adds of the definition, the same count as the forward pass.
    public static func convBackwardInput(_ s: ConvShape) -> BenchmarkCase {
        let dY = Buffer(s.n * s.o * s.oh * s.ow, seed: 4), K = Buffer(s.o * s.c * s.kh * s.kw, seed: 2)
        let dX = Buffer(s.n * s.c * s.h * s.w)
        let g = s.geometry, work = Buffer(ck_conv2d_backward_input_work_size(g))
        return BenchmarkCase(kernel: "conv_backward_input", shape: s.description, work: s.flops,
                             body: { v in ck_conv2d_backward_input(v, dX.pointer, dY.pointer, K.pointer, work.pointer, g) },
                             output: { dX.array }, outputs: [dX])
    }

    public static func denseForward(_ s: DenseShape) -> BenchmarkCase {
        let X = Buffer(s.n * s.i, seed: 1), Wt = Buffer(s.o * s.i, seed: 2), b = Buffer(s.o, seed: 3)
        let Y = Buffer(s.n * s.o)
        let (n, i, o) = (Int32(s.n), Int32(s.i), Int32(s.o))
        return BenchmarkCase(kernel: "dense_forward", shape: s.description, work: 2.0 * Double(s.n * s.i * s.o),
                             body: { v in ck_dense_forward(v, Y.pointer, X.pointer, Wt.pointer, b.pointer, n, i, o) },
                             output: { Y.array }, outputs: [Y])
    }

    /// dX and dWt: two products of N·I·O multiply-adds each.
    public static func denseBackward(_ s: DenseShape) -> BenchmarkCase {
        let X = Buffer(s.n * s.i, seed: 1), Wt = Buffer(s.o * s.i, seed: 2), dY = Buffer(s.n * s.o, seed: 4)
        let dX = Buffer(s.n * s.i), dWt = Buffer(s.o * s.i), db = Buffer(s.o)
        let (n, i, o) = (Int32(s.n), Int32(s.i), Int32(s.o))
        return BenchmarkCase(kernel: "dense_backward", shape: s.description, work: 4.0 * Double(s.n * s.i * s.o),
                             body: { v in ck_dense_backward(v, dX.pointer, dWt.pointer, db.pointer, dY.pointer, X.pointer, Wt.pointer, n, i, o) },
                             output: { dX.array + dWt.array + db.array }, outputs: [dX, dWt, db])
    }

    // MARK: checking

    /// The largest difference between the SIMD and scalar results, and whether it is within
    /// 1e-4 of the largest scalar magnitude (a wrong index or a dropped term is far outside).
    public static func check(_ bench: BenchmarkCase) -> (ok: Bool, maxDifference: Float) {
        let scalar = bench.result(.scalar), simd = bench.result(.simd)
        guard scalar.count == simd.count else { return (false, .infinity) }
        var worst: Float = 0, scale: Float = 1
        for (a, b) in zip(scalar, simd) {
            let d = abs(a - b)
            if !(d <= worst) { worst = d.isNaN ? .infinity : max(worst, d) }
            scale = max(scale, abs(a))
        }
        return (worst <= 1e-4 * scale, worst)
    }

    // MARK: timing

    /// What a measurement's seconds are.
    public enum TimeBase: String, Sendable, CaseIterable {
        /// Elapsed time on the monotonic clock: what a user waits for.
        case wall
        /// CPU time of the calling thread: time it actually ran. On a machine shared with other
        /// jobs this leaves out the time spent waiting for a core, so it estimates the unloaded
        /// rate. The calling thread is the master of every OpenMP region and spins at its
        /// barrier until the team is done, so imbalance and slow team members still count;
        /// work below the parallel threshold runs on this thread alone, as it should.
        case cpu
    }

    /// Seconds of one call of body on `base` (monotonic wall clock, or this thread's CPU time).
    public static func seconds(_ base: TimeBase = .wall, threads: Int = 1, _ body: () -> Void) -> Double {
        switch base {
        case .wall:
            let start = ContinuousClock.now
            body()
            let d = ContinuousClock.now - start
            return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
        case .cpu:
            let start = threadCPUSeconds()
            body()
            return threadCPUSeconds() - start
        }
    }

    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Median and spread ((max − min) / median) of the rate over samples.
    public struct Timing: Sendable {
        public var median: Double
        public var spread: Double
        public var samples: Int
    }

    public static func summarize(_ rates: [Double]) -> Timing {
        let sorted = rates.sorted()
        let mid = sorted.count / 2
        let median = sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
        let spread = median > 0 ? (sorted.last! - sorted.first!) / median : 0
        return Timing(median: median, spread: spread, samples: sorted.count)
    }

    /// Time-boxed measurement of `work` per call of body: a warm-up call, then samples of enough
    /// calls to last at least `minSample` seconds each; as many samples as `repeats` asks unless
    /// they would take longer than `budget` seconds in all, but never fewer than 3 (2 when one
    /// call takes over a quarter of a second: the scalar variants on the large layer).
    public static func measure(work: Double, repeats: Int, minSample: Double = 0.005, budget: Double = 0.15,
                               base: TimeBase = .wall, threads: Int = 1, warmUp: Bool = true,
                               _ body: () -> Void) -> Timing {
        var once = seconds(base, threads: threads, body)
        if warmUp && once < budget { once = min(once, seconds(base, threads: threads, body)) }
        let calls = max(1, Int((minSample / max(once, 1e-9)).rounded(.up)))
        let sampleTime = once * Double(calls)
        let floor = min(sampleTime > 0.25 ? 2 : 3, repeats)
        let samples = max(min(repeats, Int(budget / max(sampleTime, 1e-9))), floor, 1)
        var rates: [Double] = []
        for _ in 0..<samples {
            let t = seconds(base, threads: threads) { for _ in 0..<calls { body() } }
            rates.append(work * Double(calls) / t)
        }
        return summarize(rates)
    }

    /// Memory bandwidth in bytes/s for a working set of `bytes` split across `threads` (see
    /// ck_stream_bandwidth): the best of `repeats` runs of ~50 ms, as for the peak.
    public static func bandwidth(bytes: Int, threads: Int, repeats: Int = 5, base: TimeBase = .wall) -> Double {
        let count = max(bytes / 4, 1024)
        let buffer = Buffer(count: count)
        buffer.pointer.update(repeating: 1, count: count)
        var passes = 1
        while true {
            let t = seconds { _ = ck_stream_bandwidth(buffer.pointer, count, Int32(threads), passes) }
            if t > 0.01 { passes = max(1, Int(Double(passes) * 0.05 / t)); break }
            passes *= 4
        }
        var best = 0.0
        for _ in 0..<max(repeats, 3) {
            var moved = 0.0
            let t = seconds(base, threads: threads) { moved = ck_stream_bandwidth(buffer.pointer, count, Int32(threads), passes) }
            best = max(best, moved / t)
        }
        return best
    }

    /// Peak fp32 FMA rate in flop/s of `threads` threads over `repeats` runs of ~50 ms. `median`
    /// is the best run, not the middle one: other work on the machine can only lower a peak.
    /// `lanes` is 16, AVX-512's widest vectors, or (nil) the kernels' own, `Kernels.simdLanes`:
    /// where the kernels have 8 lanes, the 16-lane peak is the rate wider kernels could reach.
    public static func peak(threads: Int, lanes: Int? = nil, repeats: Int = 5, base: TimeBase = .wall) -> Timing {
        let run = lanes == 16 ? ck_peak_fma_16 : ck_peak_fma
        var iterations = 1 << 14
        while true {
            let t = seconds { _ = run(Int32(threads), iterations) }
            if t > 0.01 { iterations = max(1, Int(Double(iterations) * 0.05 / t)); break }
            iterations *= 4
        }
        var rates: [Double] = []
        for _ in 0..<max(repeats, 3) {
            var flops = 0.0
            let t = seconds(base, threads: threads) { flops = run(Int32(threads), iterations) }
            rates.append(flops / t)
        }
        var timing = summarize(rates)
        timing.median = rates.max() ?? 0
        return timing
    }
}
