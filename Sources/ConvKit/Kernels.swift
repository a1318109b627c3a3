import CKernels

/// The C kernels' run-time settings: which implementation, how many threads, what was compiled in.
public enum Kernels {
    /// Every kernel exists twice: a scalar loop with vectorisation disabled (the reference the
    /// speed-ups are measured against) and a SIMD version with register tiles.
    public enum Variant: String, CaseIterable, Sendable {
        /// `scalar`: plain loops, the reference; `simd`: the vectorised, register-tiled kernels.
        case scalar, simd
        package var c: ck_variant { self == .simd ? CK_SIMD : CK_SCALAR }
    }

    /// Whether the C target was compiled with OpenMP; without it every kernel runs on the calling thread.
    public static var openMP: Bool { ck_openmp_enabled() != 0 }
    /// The vector instructions the SIMD variants were compiled for, e.g. "AVX2+FMA (8-lane vectors)".
    public static var simdInstructions: String { String(cString: ck_simd_isa()) }
    /// Floats per vector in the SIMD variants: 16 where the CPU has AVX-512, else 8. Sums along
    /// a vector's lanes, and so the last bits of some results, depend on it (docs/kernels.md).
    public static var simdLanes: Int { Int(ck_simd_lanes()) }

    /// Threads a parallel kernel uses: `OMP_NUM_THREADS`, else one per core, until set.
    /// Process-wide, as OpenMP's own setting is. Values below 1 are taken as 1.
    public static var threads: Int {
        get { Int(ck_max_threads()) }
        set { ck_set_num_threads(Int32(clamping: max(newValue, 1))) }
    }
}
