import CKernels

/// Which implementation of the C kernels runs, and on how many threads.
public enum Kernels {
    public enum Variant: String, CaseIterable, Sendable {
        case scalar, simd
        var c: ck_variant { self == .simd ? CK_SIMD : CK_SCALAR }
    }

    /// The variant every layer uses; `.simd` unless a benchmark or test says otherwise.
    nonisolated(unsafe) public static var variant: Variant = .simd

    public static var openMP: Bool { ck_openmp_enabled() != 0 }
    public static var simdInstructions: String { String(cString: ck_simd_isa()) }

    /// Threads a parallel kernel uses: `OMP_NUM_THREADS`, else one per core, until set.
    public static var threads: Int {
        get { Int(ck_max_threads()) }
        set { ck_set_num_threads(Int32(newValue)) }
    }
}
