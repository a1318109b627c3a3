import Testing
import ConvKit
import CKernels

@Suite("Correlation and convolution kernels against the Swift reference")
struct ConvKernelTests {
    @Test("the tutorial's worked example")
    func workedExample() throws {
        let input = try Tensor(rows: [[1, 6, 2], [5, 3, 1], [7, 0, 4]])
        let kernel = try Tensor(rows: [[1, 2], [-1, 0]])
        #expect(try correlateValid(input, kernel) == (try Tensor(rows: [[8, 7], [4, 5]])))
        #expect(try convolveValid(input, kernel) == (try Tensor(rows: [[7, 5], [11, 3]])))
        #expect(try correlateValid(input, kernel).shape == [3 - 2 + 1, 3 - 2 + 1])
        #expect(try correlateFull(input, kernel).shape == [4, 4])
        // Full convolution, by hand: the top-left corner only meets k[0][0]·in[0][0].
        let full = try convolveFull(input, kernel)
        #expect(full[0, 0] == 1 && full[0, 1] == 8 && full[3, 3] == 0 && full[3, 2] == -4)
    }

    @Test("shape errors are thrown, not trapped")
    func shapeErrors() {
        #expect(throws: ShapeError.self) { try correlateValid(try Tensor(zeros: [2, 2]), try Tensor(zeros: [3, 1])) }
        #expect(throws: ShapeError.self) { try correlateValid(try Tensor(zeros: [2, 2, 2]), try Tensor(zeros: [1, 1])) }
    }

    @Test("single-plane valid and full correlation, full convolution", arguments: variants)
    func planes(variant: ck_variant) {
        var rng = SeededGenerator(seed: 1)
        for (_, _, H, W, _, KH, KW) in convShapes {
            let input = randomFloats(H * W, &rng), k = randomFloats(KH * KW, &rng)
            var valid = [Float](repeating: .nan, count: (H - KH + 1) * (W - KW + 1))
            ck_correlate_valid(variant, &valid, input, k, Int32(H), Int32(W), Int32(KH), Int32(KW))
            expectClose(valid, referenceConvForward(input, k, [], bias: .none, N: 1, C: 1, H: H, W: W, O: 1, KH: KH, KW: KW),
                        "valid \(H)x\(W) ⋆ \(KH)x\(KW)")

            var work = [Float](repeating: .nan, count: ck_correlate_full_work_size(Int32(H), Int32(W), Int32(KH), Int32(KW)))
            var full = [Float](repeating: .nan, count: (H + KH - 1) * (W + KW - 1))
            ck_correlate_full(variant, &full, input, k, &work, Int32(H), Int32(W), Int32(KH), Int32(KW))
            expectClose(full, referenceCorrelateFull(input, k, H: H, W: W, KH: KH, KW: KW), "full corr \(H)x\(W) ⋆ \(KH)x\(KW)")

            ck_convolve_full(variant, &full, input, k, &work, Int32(H), Int32(W), Int32(KH), Int32(KW))
            let rotated = Array(k.reversed())
            expectClose(full, referenceCorrelateFull(input, rotated, H: H, W: W, KH: KH, KW: KW), "full conv \(H)x\(W) * \(KH)x\(KW)")
        }
    }

    @Test("layer forward, every bias mode", arguments: variants)
    func forward(variant: ck_variant) {
        var rng = SeededGenerator(seed: 2)
        for (N, C, H, W, O, KH, KW) in convShapes {
            let OH = H - KH + 1, OW = W - KW + 1
            let X = randomFloats(N * C * H * W, &rng), K = randomFloats(O * C * KH * KW, &rng)
            for bias in Bias.allCases {
                let B = randomFloats(bias == .untied ? O * OH * OW : O, &rng)
                var Y = [Float](repeating: .nan, count: N * O * OH * OW)
                convForward(variant, &Y, X, K, B, bias.c, convGeometry(N, C, H, W, O, KH, KW))
                expectClose(Y, referenceConvForward(X, K, B, bias: bias, N: N, C: C, H: H, W: W, O: O, KH: KH, KW: KW),
                            "forward \((N, C, H, W, O, KH, KW)) bias \(bias)")
            }
        }
    }

    @Test("layer backward: kernel, bias and input gradients", arguments: variants)
    func backward(variant: ck_variant) {
        var rng = SeededGenerator(seed: 3)
        for (N, C, H, W, O, KH, KW) in convShapes {
            let OH = H - KH + 1, OW = W - KW + 1
            let X = randomFloats(N * C * H * W, &rng), K = randomFloats(O * C * KH * KW, &rng)
            let dY = randomFloats(N * O * OH * OW, &rng)
            let shape = (Int32(N), Int32(C), Int32(H), Int32(W), Int32(O), Int32(KH), Int32(KW))
            let g = convGeometry(N, C, H, W, O, KH, KW)

            var dK = [Float](repeating: .nan, count: O * C * KH * KW)
            var kernelWork = [Float](repeating: .nan, count: ck_conv2d_backward_kernel_work_size(g))
            ck_conv2d_backward_kernel(variant, &dK, X, dY, &kernelWork, g)
            expectClose(dK, referenceConvKernelGrad(X, dY, N: N, C: C, H: H, W: W, O: O, KH: KH, KW: KW), "dK \(shape)")

            var work = [Float](repeating: .nan, count: ck_conv2d_backward_input_work_size(g))
            var dX = [Float](repeating: .nan, count: N * C * H * W)
            ck_conv2d_backward_input(variant, &dX, dY, K, &work, g)
            expectClose(dX, referenceConvInputGrad(dY, K, N: N, C: C, H: H, W: W, O: O, KH: KH, KW: KW), "dX \(shape)")

            var dBChannel = [Float](repeating: .nan, count: O)
            ck_conv2d_backward_bias(&dBChannel, dY, CK_BIAS_CHANNEL, shape.0, shape.4, Int32(OH), Int32(OW))
            var expectedChannel = Reference(count: O)
            var dBUntied = [Float](repeating: .nan, count: O * OH * OW)
            ck_conv2d_backward_bias(&dBUntied, dY, CK_BIAS_UNTIED, shape.0, shape.4, Int32(OH), Int32(OW))
            var expectedUntied = Reference(count: O * OH * OW)
            for n in 0..<N { for o in 0..<O { for p in 0..<OH * OW {
                expectedChannel.add(o, dY[(n * O + o) * OH * OW + p])
                expectedUntied.add(o * OH * OW + p, dY[(n * O + o) * OH * OW + p])
            } } }
            expectClose(dBChannel, expectedChannel, "dB per channel \(shape)")
            expectClose(dBUntied, expectedUntied, "dB untied \(shape)")
        }
    }

    @Test("SIMD agrees with scalar on the LeNet and larger shapes")
    func simdAgainstScalar() {
        var rng = SeededGenerator(seed: 4)
        for (N, C, H, W, O, KH, KW) in [(8, 1, 28, 28, 8, 5, 5), (8, 8, 12, 12, 16, 5, 5), (4, 8, 26, 26, 16, 3, 3)] {
            let X = randomFloats(N * C * H * W, &rng), K = randomFloats(O * C * KH * KW, &rng)
            let B = randomFloats(O, &rng)
            let OH = H - KH + 1, OW = W - KW + 1
            var outputs: [[Float]] = []
            for variant in variants {
                var Y = [Float](repeating: .nan, count: N * O * OH * OW)
                convForward(variant, &Y, X, K, B, CK_BIAS_CHANNEL, convGeometry(N, C, H, W, O, KH, KW))
                outputs.append(Y)
            }
            let largest = zip(outputs[0], outputs[1]).map { abs($0 - $1) }.max() ?? 0
            #expect(largest < 1e-4, "forward \((N, C, H, W, O, KH, KW)): SIMD and scalar differ by \(largest)")
        }
    }

    /// Both shapes are above the parallel threshold: LeNet's second layer, and a one-channel layer
    /// with a ragged 26-wide output.
    @Test("one thread and two give bit-identical results",
          arguments: variants, [(16, 8, 12, 12, 16, 5, 5), (8, 1, 28, 28, 32, 3, 3)])
    func threadIndependence(variant: ck_variant, shape: (Int, Int, Int, Int, Int, Int, Int)) {
        var rng = SeededGenerator(seed: 5)
        let (N, C, H, W, O, KH, KW) = shape
        let OH = H - KH + 1, OW = W - KW + 1
        let X = randomFloats(N * C * H * W, &rng), K = randomFloats(O * C * KH * KW, &rng)
        let B = randomFloats(O, &rng), dY = randomFloats(N * O * OH * OW, &rng)
        func run() -> [[Float]] {
            var Y = [Float](repeating: 0, count: N * O * OH * OW)
            var dK = [Float](repeating: 0, count: O * C * KH * KW)
            var dX = [Float](repeating: 0, count: N * C * H * W)
            let g = convGeometry(N, C, H, W, O, KH, KW)
            var work = [Float](repeating: 0, count: ck_conv2d_backward_input_work_size(g))
            convForward(variant, &Y, X, K, B, CK_BIAS_CHANNEL, g)
            convBackwardKernel(variant, &dK, X, dY, g)
            ck_conv2d_backward_input(variant, &dX, dY, K, &work, g)
            let I = min(1000, C * H * W), OD = 64
            let dX2 = Array(X.prefix(N * I)), Wt = randomFloatsFixed(OD * I), b = randomFloatsFixed(OD)
            var Yd = [Float](repeating: 0, count: N * OD), dXd = [Float](repeating: 0, count: N * I)
            var dWt = [Float](repeating: 0, count: OD * I), db = [Float](repeating: 0, count: OD)
            ck_dense_forward(variant, &Yd, dX2, Wt, b, Int32(N), Int32(I), Int32(OD))
            ck_dense_backward(variant, &dXd, &dWt, &db, Yd, dX2, Wt, Int32(N), Int32(I), Int32(OD))
            return [Y, dK, dX, Yd, dXd, dWt, db]
        }
        let one = withThreads(1) { run() }
        let two = withThreads(2) { run() }
        #expect(one == two)
    }
}

private func randomFloatsFixed(_ count: Int) -> [Float] {
    var rng = SeededGenerator(seed: 99)
    return randomFloats(count, &rng)
}
