// End-to-end rows of `convkit bench`, after the kernel rows: whole training steps, reported in
// samples/s or images/s rather than GFLOP/s.
//
// Extension point: once the networks exist, return one BenchmarkCase per row here, e.g.
//   BenchmarkCase(kernel: "tutorial_train", shape: "1x1x28x28 batch 1", work: 200, unit: .samples,
//                 body: { variant in /* one epoch of 200 samples */ }, output: { /* final loss */ })
//   BenchmarkCase(kernel: "lenet_train", shape: "64x1x28x28 batch 64", work: 64 * steps, unit: .images, ...)
// The runner times them like the kernels (both variants, every thread count), checks SIMD
// against scalar through `output`, and prints their rate per second with no share of peak.
public enum EndToEndBenchmarks {
    public static func cases() -> [BenchmarkCase] { [] }
}
