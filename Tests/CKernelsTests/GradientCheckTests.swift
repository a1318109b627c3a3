import Testing
import ConvKit
import CKernels

/// The convolution gradients against central finite differences of the forward kernel, for the
/// scalar loss E = Σ G ⊙ Y with a random G (so ∂E/∂Y = G).
@Suite("Convolution gradients against finite differences")
struct GradientCheckTests {
    @Test(arguments: variants)
    func convolutionGradients(variant: ck_variant) {
        var rng = SeededGenerator(seed: 20)
        for (N, C, H, W, O, KH, KW) in [(2, 2, 6, 7, 3, 3, 2), (1, 1, 5, 5, 2, 5, 5), (2, 3, 9, 10, 2, 3, 3)] {
            let OH = H - KH + 1, OW = W - KW + 1
            let X = randomFloats(N * C * H * W, &rng), K = randomFloats(O * C * KH * KW, &rng)
            let B = randomFloats(O * OH * OW, &rng)
            let G = randomFloats(N * O * OH * OW, &rng)
            let shape = (Int32(N), Int32(C), Int32(H), Int32(W), Int32(O), Int32(KH), Int32(KW))
            let g = convGeometry(N, C, H, W, O, KH, KW)

            func loss(_ X: [Float], _ K: [Float], _ B: [Float]) -> Double {
                var Y = [Float](repeating: 0, count: N * O * OH * OW)
                convForward(variant, &Y, X, K, B, CK_BIAS_UNTIED, g)
                return zip(Y, G).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            }
            // ∂E/∂p by central differences, for the i-th scalar of X (0), K (1) or B (2).
            func numeric(_ which: Int, _ i: Int) -> Double {
                let h: Float = 1e-2
                var inputs = [X, K, B]
                inputs[which][i] += h
                let up = loss(inputs[0], inputs[1], inputs[2])
                inputs[which][i] -= 2 * h
                let down = loss(inputs[0], inputs[1], inputs[2])
                return (up - down) / (2 * Double(h))
            }

            var dK = [Float](repeating: 0, count: K.count), dB = [Float](repeating: 0, count: B.count)
            var dX = [Float](repeating: 0, count: X.count)
            var work = [Float](repeating: 0, count: ck_conv2d_backward_input_work_size(g))
            convBackwardKernel(variant, &dK, X, G, g)
            ck_conv2d_backward_bias(&dB, G, CK_BIAS_UNTIED, shape.0, shape.4, Int32(OH), Int32(OW))
            ck_conv2d_backward_input(variant, &dX, G, K, &work, g)

            // E is linear in each parameter, so the difference quotient is exact up to float
            // rounding of E (|E| ≲ 10, rounding ≲ 1e-5, divided by 2h).
            let tolerance = 2e-3
            for i in 0..<K.count { let n = numeric(1, i); #expect(abs(n - Double(dK[i])) < tolerance, "dK[\(i)] \(dK[i]) vs \(n)") }
            for i in stride(from: 0, to: B.count, by: 3) { let n = numeric(2, i); #expect(abs(n - Double(dB[i])) < tolerance, "dB[\(i)] \(dB[i]) vs \(n)") }
            for i in 0..<X.count { let n = numeric(0, i); #expect(abs(n - Double(dX[i])) < tolerance, "dX[\(i)] \(dX[i]) vs \(n)") }
        }
    }
}
