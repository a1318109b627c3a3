import Testing
import ConvKit
import CKernels

func randomFloats(_ count: Int, _ rng: inout SeededGenerator) -> [Float] {
    var values = [Float](repeating: 0, count: count)
    for i in 0..<count { values[i] = rng.nextUnitFloat() * 2 - 1 }
    return values
}

/// Float rounding error of a sum of n terms is at most about n·2⁻²⁴ times the sum of their
/// magnitudes; the kernels sum in blocks, so 1e-5 of that magnitude is a comfortable bound that a
/// wrong index or a dropped term still breaks by orders of magnitude.
let relativeToMagnitude = 1e-5

func expectClose(_ actual: [Float], _ expected: Reference, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.value.count, "\(what): count", sourceLocation: sourceLocation)
    var worst = 0.0, worstAt = -1
    for i in 0..<min(actual.count, expected.value.count) {
        let excess = abs(Double(actual[i]) - expected.value[i]) - (relativeToMagnitude * expected.magnitude[i] + 1e-7)
        if !(excess <= worst) { worst = excess.isNaN ? .infinity : excess; worstAt = i }  // NaN (an output never written) fails too
    }
    #expect(worstAt < 0, "\(what): element \(worstAt) is \(worstAt >= 0 ? actual[worstAt] : 0), expected \(worstAt >= 0 ? expected.value[worstAt] : 0)", sourceLocation: sourceLocation)
}

/// Runs body with the kernels' OpenMP team limited to `threads`, on this test's own thread.
func withThreads<R>(_ threads: Int, _ body: () -> R) -> R {
    let before = ck_max_threads()
    ck_set_num_threads(Int32(threads))
    defer { ck_set_num_threads(before) }
    return body()
}

extension Bias {
    var c: ck_bias {
        switch self {
        case .none: CK_BIAS_NONE
        case .channel: CK_BIAS_CHANNEL
        case .untied: CK_BIAS_UNTIED
        }
    }
}

let variants: [ck_variant] = [CK_SCALAR, CK_SIMD]

/// (N, C, H, W, O, KH, KW): square and not, 1×1, kernel as large as its input, widths on both
/// sides of the 8-lane vector width, and the tutorial's and LeNet's layers. The second half
/// reaches the input gradient's and kernel gradient's edge cases: one input channel with many
/// outputs (the contraction is over O), output widths of exactly one vector and of several plus
/// a ragged one, row counts that leave 1–3 rows after the last full row tile, 3- and 5-wide
/// kernels that are not square, O not a multiple of the channel block, more dY channels than
/// one L1-sized group (O = 19 with 108-wide rows) and more images than one (N = 3 there), and
/// output rows half a 16-lane vector wide (the input gradient in pairs of rows) with an odd number
/// of input rows, 3×3 and 5×5.
let convShapes: [(Int, Int, Int, Int, Int, Int, Int)] = [
    (1, 1, 3, 3, 1, 2, 2), (1, 1, 28, 28, 5, 3, 3), (2, 3, 7, 11, 5, 2, 4), (3, 2, 5, 5, 4, 5, 5),
    (2, 2, 9, 33, 6, 1, 1), (1, 3, 6, 6, 7, 6, 6), (4, 1, 28, 28, 8, 5, 5), (3, 8, 12, 12, 16, 5, 5),
    (2, 4, 20, 17, 9, 3, 3), (1, 2, 4, 40, 3, 4, 7), (2, 5, 13, 9, 4, 3, 1), (5, 3, 10, 14, 12, 3, 3),
    (1, 1, 1, 1, 1, 1, 1), (2, 2, 11, 25, 3, 4, 2),
    (2, 1, 28, 28, 32, 3, 3), (3, 2, 12, 12, 3, 5, 5), (2, 3, 6, 37, 10, 3, 3), (3, 2, 9, 110, 19, 3, 3),
    (2, 3, 11, 11, 5, 11, 11), (2, 4, 8, 15, 3, 1, 1), (1, 2, 13, 23, 4, 2, 7), (2, 2, 16, 16, 3, 3, 5),
    (2, 2, 14, 10, 3, 5, 3), (1, 1, 8, 8, 1, 1, 1), (2, 3, 15, 9, 6, 3, 3), (1, 2, 10, 13, 5, 5, 5),
    (2, 3, 11, 10, 4, 3, 3), (1, 2, 13, 12, 3, 5, 5), (2, 2, 13, 26, 5, 3, 3),
]

/// The kernels' geometry of X (N,C,H,W) padded by PH, PW and K (O,C,KH,KW) moved SH, SW at a
/// time, from the one constructor; the test's shapes are valid ones.
func convGeometry(_ N: Int, _ C: Int, _ H: Int, _ W: Int, _ O: Int, _ KH: Int, _ KW: Int,
                  PH: Int = 0, PW: Int = 0, SH: Int = 1, SW: Int = 1) -> ck_conv2d_geometry {
    var g = ck_conv2d_geometry()
    let status = ck_conv2d_geometry_make(&g, Int32(N), Int32(C), Int32(H), Int32(W), Int32(O), Int32(KH), Int32(KW),
                                         Int32(PH), Int32(PW), Int32(SH), Int32(SW))
    precondition(status == CK_CONV2D_OK, "not a convolution: \((N, C, H, W, O, KH, KW, PH, PW, SH, SW))")
    return g
}

/// `ck_conv2d_forward` with the workspace its size function asks for (planes narrower than a
/// vector need one even unpadded and unstrided).
func convForward(_ variant: ck_variant, _ Y: inout [Float], _ X: [Float], _ K: [Float], _ B: [Float], _ bias: ck_bias,
                 _ g: ck_conv2d_geometry) {
    var work = [Float](repeating: 0, count: max(ck_conv2d_forward_work_size(g), 1))
    ck_conv2d_forward(variant, &Y, X, K, B, bias, &work, g)
}

/// `ck_conv2d_backward_kernel` with the workspace its size function asks for.
func convBackwardKernel(_ variant: ck_variant, _ dK: inout [Float], _ X: [Float], _ dY: [Float], _ g: ck_conv2d_geometry) {
    var work = [Float](repeating: 0, count: max(ck_conv2d_backward_kernel_work_size(g), 1))
    ck_conv2d_backward_kernel(variant, &dK, X, dY, &work, g)
}
