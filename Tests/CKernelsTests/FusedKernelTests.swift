import Testing
import ConvKit
import CKernels

/// The fused passes (fused.c) against the separate kernels they stand for, bit for bit: batch
/// norm with the batch's statistics, then ReLU, then max pooling, forward and backward.
@Suite("Batch norm, ReLU and max pooling fused")
struct FusedKernelTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var N, C, H, W, K, S: Int
        var OH: Int { (H - K) / S + 1 }
        var OW: Int { (W - K) / S + 1 }
        var testDescription: String { "\(N)x\(C)x\(H)x\(W), pool \(K) stride \(S)" }
    }

    /// 2×2 windows on even planes, on odd ones whose last row and column no window takes (rows
    /// of 4 windows and of 9, one vector of 8 and the last one moved back over it), overlapping
    /// 3×3 windows 2 apart, a plane of one value per channel (after a dense layer), and a batch
    /// above the parallel threshold (both threads at work).
    static let cases = [Case(N: 3, C: 4, H: 10, W: 12, K: 2, S: 2), Case(N: 2, C: 3, H: 7, W: 9, K: 2, S: 2),
                        Case(N: 2, C: 3, H: 17, W: 19, K: 2, S: 2),
                        Case(N: 2, C: 2, H: 9, W: 11, K: 3, S: 2), Case(N: 5, C: 6, H: 1, W: 1, K: 1, S: 1),
                        Case(N: 16, C: 8, H: 28, W: 28, K: 2, S: 2)]

    /// Inputs with exact zeros and repeats, so ReLU ties and equal maxima happen.
    static func inputs(_ count: Int, _ rng: inout SeededGenerator) -> [Float] {
        randomFloats(count, &rng).map { ($0 * 4).rounded() / 4 }
    }

    /// A batch of case c from `seed`: inputs X (N,C,H,W), γ and β, gradients dP after the pooling
    /// and dZ before it, and X's batch statistics.
    static func batch(_ c: Case, variant v: ck_variant, seed: UInt64)
        -> (X: [Float], gamma: [Float], beta: [Float], dP: [Float], dZ: [Float], mean: [Float], variance: [Float]) {
        var rng = SeededGenerator(seed: seed)
        let (N, C, HW, OHW) = (c.N, c.C, c.H * c.W, c.OH * c.OW)
        let X = inputs(N * C * HW, &rng), gamma = randomFloats(C, &rng), beta = randomFloats(C, &rng)
        let dP = randomFloats(N * C * OHW, &rng), dZ = randomFloats(N * C * HW, &rng)
        var mean = [Float](repeating: 0, count: C), variance = [Float](repeating: 0, count: C)
        ck_batchnorm_statistics(v, &mean, &variance, X, Int32(N), Int32(C), Int32(HW))
        return (X, gamma, beta, dP, dZ, mean, variance)
    }

    /// ck_conv2d_backward_bias of dY = dX (N,C,H,W): what the fused backward passes' sums stand for.
    static func biasGradient(_ dX: [Float], _ c: Case) -> [Float] {
        var dB = [Float](repeating: .nan, count: c.C)
        ck_conv2d_backward_bias(&dB, dX, CK_BIAS_CHANNEL, Int32(c.N), Int32(c.C), Int32(c.H), Int32(c.W))
        return dB
    }

    @Test("forward and backward equal the separate passes", arguments: variants, cases)
    func fusedEqualsSeparate(variant v: ck_variant, c: Case) {
        let (N, C, HW, OHW) = (c.N, c.C, c.H * c.W, c.OH * c.OW)
        let (X, gamma, beta, dP, dZ, mean, variance) = Self.batch(c, variant: v, seed: 31)
        let (n, ch, h, w, k, s, oh, ow) = (Int32(N), Int32(C), Int32(c.H), Int32(c.W), Int32(c.K), Int32(c.S), Int32(c.OH), Int32(c.OW))
        let eps: Float = 1e-5

        // Separately: B = BN(X), Z = relu(B), P = pool(Z); and back from dP (through the pool) or
        // from dZ (BN then ReLU alone).
        var B = [Float](repeating: .nan, count: X.count), Z = B
        ck_batchnorm_forward(v, &B, X, mean, variance, gamma, beta, eps, n, ch, Int32(HW))
        ck_relu_forward(v, &Z, B, Z.count)
        var P = [Float](repeating: .nan, count: N * C * OHW), A = [Int32](repeating: -1, count: P.count)
        ck_maxpool_forward(&P, &A, Z, n, ch, h, w, k, s)
        var dZpool = [Float](repeating: .nan, count: X.count), dB = dZpool, dX = dZpool
        var dgamma = [Float](repeating: .nan, count: C), dbeta = dgamma
        ck_maxpool_backward(&dZpool, dP, A, n, ch, h, w, oh, ow)
        ck_relu_backward(v, &dB, dZpool, Z, dB.count)
        ck_batchnorm_backward(v, &dX, &dgamma, &dbeta, dB, X, mean, variance, gamma, eps, n, ch, Int32(HW))
        var dBrelu = [Float](repeating: .nan, count: X.count), dXrelu = dBrelu
        var dgammaRelu = [Float](repeating: .nan, count: C), dbetaRelu = dgammaRelu
        ck_relu_backward(v, &dBrelu, dZ, Z, dBrelu.count)
        ck_batchnorm_backward(v, &dXrelu, &dgammaRelu, &dbetaRelu, dBrelu, X, mean, variance, gamma, eps, n, ch, Int32(HW))
        var dBpool = [Float](repeating: .nan, count: X.count)  // ReLU then pooling, without batch norm
        ck_maxpool_backward(&dZpool, dP, A, n, ch, h, w, oh, ow)
        ck_relu_backward(v, &dBpool, dZpool, Z, dBpool.count)

        // Batch norm then ReLU.
        var Zf = [Float](repeating: .nan, count: X.count)
        ck_batchnorm_relu_forward(v, &Zf, X, mean, variance, gamma, beta, eps, n, ch, Int32(HW))
        #expect(Zf == Z, "relu(BN(X)) \(c)")
        var dXf = [Float](repeating: .nan, count: X.count), dgammaF = [Float](repeating: .nan, count: C), dbetaF = dgammaF
        var sumsF = [Float](repeating: .nan, count: C)
        ck_batchnorm_relu_backward(v, &dXf, &dgammaF, &dbetaF, &sumsF, dZ, Z, X, mean, variance, gamma, eps, n, ch, Int32(HW))
        #expect(dXf == dXrelu && dgammaF == dgammaRelu && dbetaF == dbetaRelu, "BN, ReLU backward \(c)")
        // The sum over each channel of dX: a convolution's bias gradient from it, bit for bit.
        #expect(sumsF.map(\.bitPattern) == Self.biasGradient(dXrelu, c).map(\.bitPattern), "BN, ReLU: Σ dX \(c)")

        // ReLU then pooling, from B as input.
        var Pf = [Float](repeating: .nan, count: P.count), Af = [Int32](repeating: -1, count: A.count)
        ck_relu_maxpool_forward(&Pf, &Af, B, n, ch, h, w, k, s)
        #expect(Pf == P && Af == A, "pool(relu(B)) \(c)")
        var dBf = [Float](repeating: .nan, count: X.count)
        ck_relu_maxpool_backward(&dBf, dP, P, A, n, ch, h, w, k, s)
        #expect(dBf == dBpool, "ReLU, pool backward \(c)")

        // All three.
        var Pa = [Float](repeating: .nan, count: P.count), Aa = [Int32](repeating: -1, count: A.count)
        ck_batchnorm_relu_maxpool_forward(v, &Pa, &Aa, X, mean, variance, gamma, beta, eps, n, ch, h, w, k, s)
        #expect(Pa == P && Aa == A, "pool(relu(BN(X))) \(c)")
        var dXa = [Float](repeating: .nan, count: X.count), dgammaA = [Float](repeating: .nan, count: C), dbetaA = dgammaA
        var sumsA = [Float](repeating: .nan, count: C)
        ck_batchnorm_relu_maxpool_backward(v, &dXa, &dgammaA, &dbetaA, &sumsA, dP, P, A, X, mean, variance, gamma, eps,
                                           n, ch, h, w, k, s)
        #expect(dXa == dX && dgammaA == dgamma && dbetaA == dbeta, "BN, ReLU, pool backward \(c)")
        #expect(sumsA.map(\.bitPattern) == Self.biasGradient(dX, c).map(\.bitPattern), "BN, ReLU, pool: Σ dX \(c)")
        #expect(sumsA.contains(where: { $0 != 0 }), "Σ dX is rounding, not zero, \(c)")
        // The inputs really had ReLU ties and pooled zeros, and some gradient got through.
        #expect(Z.contains(0) && P.contains(where: { $0 > 0 }) && dX.contains(where: { $0 != 0 }))
    }

    /// What a caller may do with dX: give it X's own memory (in place), dY's (batch norm then ReLU,
    /// whose dY has X's shape), or none (dgamma and dbeta alone). Each gives what separate
    /// buffers give: the fused pass rebuilds its planes into dX only where dX is memory of its own.
    @Test("backward in place, and without dX", arguments: variants, [cases[0], cases[5]])
    func inPlaceAndWithoutDX(variant v: ck_variant, c: Case) {
        let (N, C, HW, OHW) = (c.N, c.C, c.H * c.W, c.OH * c.OW)
        let (X, gamma, beta, dP, dZ, mean, variance) = Self.batch(c, variant: v, seed: 33)
        let (n, ch, h, w, k, s) = (Int32(N), Int32(C), Int32(c.H), Int32(c.W), Int32(c.K), Int32(c.S))
        let eps: Float = 1e-5
        var Z = [Float](repeating: .nan, count: X.count), P = [Float](repeating: .nan, count: N * C * OHW)
        var A = [Int32](repeating: -1, count: P.count)
        ck_batchnorm_relu_forward(v, &Z, X, mean, variance, gamma, beta, eps, n, ch, Int32(HW))
        ck_batchnorm_relu_maxpool_forward(v, &P, &A, X, mean, variance, gamma, beta, eps, n, ch, h, w, k, s)

        // Separate buffers.
        var dX = [Float](repeating: .nan, count: X.count), dgamma = [Float](repeating: .nan, count: C), dbeta = dgamma
        ck_batchnorm_relu_maxpool_backward(v, &dX, &dgamma, &dbeta, nil, dP, P, A, X, mean, variance, gamma, eps,
                                           n, ch, h, w, k, s)
        var dXrelu = dX, dgammaRelu = dgamma, dbetaRelu = dbeta
        ck_batchnorm_relu_backward(v, &dXrelu, &dgammaRelu, &dbetaRelu, nil, dZ, Z, X, mean, variance, gamma, eps,
                                   n, ch, Int32(HW))

        // dX over X.
        var overX = X, dg = [Float](repeating: .nan, count: C), db = dg, sums = dg
        overX.withUnsafeMutableBufferPointer { x in
            ck_batchnorm_relu_maxpool_backward(v, x.baseAddress, &dg, &db, &sums, dP, P, A, x.baseAddress, mean, variance,
                                               gamma, eps, n, ch, h, w, k, s)
        }
        #expect(overX == dX && dg == dgamma && db == dbeta, "BN, ReLU, pool backward over X \(c)")
        #expect(sums.map(\.bitPattern) == Self.biasGradient(dX, c).map(\.bitPattern), "Σ dX over X \(c)")
        var overXrelu = X
        overXrelu.withUnsafeMutableBufferPointer { x in
            ck_batchnorm_relu_backward(v, x.baseAddress, &dg, &db, nil, dZ, Z, x.baseAddress, mean, variance, gamma, eps,
                                       n, ch, Int32(HW))
        }
        #expect(overXrelu == dXrelu && dg == dgammaRelu && db == dbetaRelu, "BN, ReLU backward over X \(c)")

        // dX over dY.
        var overDY = dZ
        overDY.withUnsafeMutableBufferPointer { d in
            ck_batchnorm_relu_backward(v, d.baseAddress, &dg, &db, &sums, d.baseAddress, Z, X, mean, variance, gamma, eps,
                                       n, ch, Int32(HW))
        }
        #expect(overDY == dXrelu && dg == dgammaRelu && db == dbetaRelu, "BN, ReLU backward over dY \(c)")
        #expect(sums.map(\.bitPattern) == Self.biasGradient(dXrelu, c).map(\.bitPattern), "Σ dX over dY \(c)")

        // No dX.
        dg = [Float](repeating: .nan, count: C)
        db = dg
        ck_batchnorm_relu_maxpool_backward(v, nil, &dg, &db, nil, dP, P, A, X, mean, variance, gamma, eps, n, ch, h, w, k, s)
        #expect(dg == dgamma && db == dbeta, "BN, ReLU, pool backward without dX \(c)")
        dg = [Float](repeating: .nan, count: C)
        db = dg
        ck_batchnorm_relu_backward(v, nil, &dg, &db, nil, dZ, Z, X, mean, variance, gamma, eps, n, ch, Int32(HW))
        #expect(dg == dgammaRelu && db == dbetaRelu, "BN, ReLU backward without dX \(c)")
    }

    @Test("inference: no argmax, the same outputs")
    func withoutArgmax() {
        var rng = SeededGenerator(seed: 32)
        let c = Self.cases[0]
        let X = Self.inputs(c.N * c.C * c.H * c.W, &rng), stats = randomFloats(c.C, &rng).map(abs)
        let (n, ch, h, w) = (Int32(c.N), Int32(c.C), Int32(c.H), Int32(c.W))
        var with = [Float](repeating: .nan, count: c.N * c.C * c.OH * c.OW), without = with
        var A = [Int32](repeating: 0, count: with.count)
        ck_batchnorm_relu_maxpool_forward(CK_SIMD, &with, &A, X, stats, stats, stats, stats, 1e-5, n, ch, h, w, 2, 2)
        ck_batchnorm_relu_maxpool_forward(CK_SIMD, &without, nil, X, stats, stats, stats, stats, 1e-5, n, ch, h, w, 2, 2)
        #expect(with == without)
        ck_relu_maxpool_forward(&with, &A, X, n, ch, h, w, 2, 2)
        ck_relu_maxpool_forward(&without, nil, X, n, ch, h, w, 2, 2)
        #expect(with == without)
    }
}
