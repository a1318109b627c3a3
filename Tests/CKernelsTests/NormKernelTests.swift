import Foundation
import Testing
import ConvKit
import CKernels

// Naive references for batch norm, dropout and average pooling, in Double.

/// Per channel of X (N,C,S): mean and biased variance over N·S values.
func referenceBatchStatistics(_ X: [Float], N: Int, C: Int, S: Int) -> (mean: [Double], variance: [Double]) {
    var mean = [Double](repeating: 0, count: C), variance = [Double](repeating: 0, count: C)
    for c in 0..<C {
        var sum = 0.0
        for n in 0..<N { for s in 0..<S { sum += Double(X[(n * C + c) * S + s]) } }
        mean[c] = sum / Double(N * S)
        var squares = 0.0
        for n in 0..<N { for s in 0..<S { let d = Double(X[(n * C + c) * S + s]) - mean[c]; squares += d * d } }
        variance[c] = squares / Double(N * S)
    }
    return (mean, variance)
}

/// The batch-norm gradient written from the chain rule through mean and variance (not from the
/// simplified form the kernel uses): y = γ·(x − μ)/σ + β, σ = √(v + ε).
func referenceBatchNormBackward(_ dY: [Float], _ X: [Float], _ gamma: [Float], eps: Double, N: Int, C: Int, S: Int)
    -> (dX: [Double], dgamma: [Double], dbeta: [Double]) {
    let (mean, variance) = referenceBatchStatistics(X, N: N, C: C, S: S)
    let M = Double(N * S)
    var dX = [Double](repeating: 0, count: X.count), dgamma = [Double](repeating: 0, count: C), dbeta = [Double](repeating: 0, count: C)
    for c in 0..<C {
        let sigma = (variance[c] + eps).squareRoot()
        var dVariance = 0.0, dMean = 0.0
        for n in 0..<N { for s in 0..<S {
            let i = (n * C + c) * S + s, centred = Double(X[i]) - mean[c], dxhat = Double(dY[i]) * Double(gamma[c])
            dbeta[c] += Double(dY[i])
            dgamma[c] += Double(dY[i]) * centred / sigma
            dVariance += dxhat * centred * -0.5 / (sigma * sigma * sigma)
            dMean += -dxhat / sigma
        } }
        for n in 0..<N { for s in 0..<S {
            let i = (n * C + c) * S + s, centred = Double(X[i]) - mean[c]
            // ∂v/∂x = 2(x − μ)/M; ∂μ/∂x = 1/M (the Σ(x − μ) term of ∂v/∂μ is zero).
            dX[i] = Double(dY[i]) * Double(gamma[c]) / sigma + dVariance * 2 * centred / M + dMean / M
        } }
    }
    return (dX, dgamma, dbeta)
}

/// |actual − expected| ≤ tolerance·(|expected| + scale + magnitude[i]) for every element, scale the
/// largest |expected|·1e-2: relative where values are large, absolute near the array's zeros; a
/// sum's `magnitude` (the sum of its terms' absolute values) bounds its rounding.
func expectRelative(_ actual: [Float], _ expected: [Double], _ tolerance: Double, _ what: String, magnitude: [Double]? = nil,
                    sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(what): count", sourceLocation: sourceLocation)
    let scale = 1e-2 * (expected.map(abs).max() ?? 0)
    var worstAt = -1
    for i in 0..<min(actual.count, expected.count)
    where !(abs(Double(actual[i]) - expected[i]) <= tolerance * (abs(expected[i]) + scale + (magnitude?[i] ?? 0))) {
        worstAt = i
        break
    }
    #expect(worstAt < 0, "\(what): element \(worstAt) is \(worstAt >= 0 ? actual[worstAt] : 0), expected \(worstAt >= 0 ? expected[worstAt] : 0)",
            sourceLocation: sourceLocation)
}

@Suite("Batch norm, dropout and average pooling kernels against the Swift reference")
struct NormKernelTests {
    /// (N, C, S): after a convolution (S = H·W, on both sides of the vector width), after a dense
    /// layer (S = 1), one sample, one channel.
    static let normShapes = [(4, 3, 16), (2, 5, 7), (8, 10, 1), (3, 1, 25), (1, 4, 9), (16, 8, 576), (5, 13, 1), (2, 2, 8)]

    @Test("batch norm statistics, forward and backward", arguments: variants)
    func batchNorm(variant: ck_variant) {
        var rng = SeededGenerator(seed: 20)
        let eps: Float = 1e-5
        for (N, C, S) in Self.normShapes {
            // An offset mean, which a one-pass E[x²] − E[x]² variance would lose.
            let X = randomFloats(N * C * S, &rng).map { $0 * 3 + 20 }
            let gamma = randomFloats(C, &rng).map { $0 + 1.5 }, beta = randomFloats(C, &rng)
            let dY = randomFloats(N * C * S, &rng)
            var mean = [Float](repeating: .nan, count: C), variance = [Float](repeating: .nan, count: C)
            ck_batchnorm_statistics(variant, &mean, &variance, X, Int32(N), Int32(C), Int32(S))
            let expected = referenceBatchStatistics(X, N: N, C: C, S: S)
            expectRelative(mean, expected.mean, 1e-6, "mean \((N, C, S))")
            expectRelative(variance, expected.variance, 2e-5, "variance \((N, C, S))")
            // In two steps, the planes' parts first: the same bits.
            var stats = [Float](repeating: .nan, count: N * C * 2), mean2 = mean, variance2 = variance
            ck_batchnorm_plane_statistics(variant, &stats, X, Int32(N), Int32(C), Int32(S))
            ck_batchnorm_statistics_of_planes(&mean2, &variance2, stats, Int32(N), Int32(C), Int32(S))
            #expect(mean2.map(\.bitPattern) == mean.map(\.bitPattern) && variance2.map(\.bitPattern) == variance.map(\.bitPattern),
                    "statistics of planes \((N, C, S))")

            var Y = [Float](repeating: .nan, count: X.count)
            ck_batchnorm_forward(variant, &Y, X, mean, variance, gamma, beta, eps, Int32(N), Int32(C), Int32(S))
            var expectedY = [Double](repeating: 0, count: X.count)
            for n in 0..<N { for c in 0..<C { for s in 0..<S {
                let i = (n * C + c) * S + s
                expectedY[i] = (Double(X[i]) - expected.mean[c]) / (expected.variance[c] + Double(eps)).squareRoot()
                    * Double(gamma[c]) + Double(beta[c])
            } } }
            expectRelative(Y, expectedY, 1e-4, "normalised \((N, C, S))")

            var dX = [Float](repeating: .nan, count: X.count), dgamma = [Float](repeating: .nan, count: C)
            var dbeta = [Float](repeating: .nan, count: C)
            ck_batchnorm_backward(variant, &dX, &dgamma, &dbeta, dY, X, mean, variance, gamma, eps, Int32(N), Int32(C), Int32(S))
            let grads = referenceBatchNormBackward(dY, X, gamma, eps: Double(eps), N: N, C: C, S: S)
            // Sums of N·S terms of both signs: bounded relative to the sum of their magnitudes.
            let dyMagnitude = (0..<C).map { c in (0..<N).reduce(0.0) { sum, n in sum + (0..<S).reduce(0.0) { $0 + Double(abs(dY[(n * C + c) * S + $1])) } } }
            let xhatBound = dyMagnitude.map { $0 * 2 }  // uniform inputs: |x̂| ≤ √3
            expectRelative(dbeta, grads.dbeta, 1e-5, "dbeta \((N, C, S))", magnitude: dyMagnitude)
            expectRelative(dgamma, grads.dgamma, 1e-5, "dgamma \((N, C, S))", magnitude: xhatBound)
            if N * S > 1 { expectRelative(dX, grads.dX, 1e-3, "dX \((N, C, S))") }

            // Without dX, the parameter gradients are the same.
            var dgamma2 = [Float](repeating: .nan, count: C), dbeta2 = dgamma2
            ck_batchnorm_backward(variant, nil, &dgamma2, &dbeta2, dY, X, mean, variance, gamma, eps, Int32(N), Int32(C), Int32(S))
            #expect(dgamma2 == dgamma && dbeta2 == dbeta)
        }
    }

    @Test("running statistics follow PyTorch's update with the unbiased variance")
    func runningUpdate() {
        var runningMean: [Float] = [0, 1, -2], runningVariance: [Float] = [1, 2, 0.5]
        let mean: [Float] = [0.5, -1, 3], variance: [Float] = [2, 0.25, 4]
        let count = 10
        ck_batchnorm_update_running(&runningMean, &runningVariance, mean, variance, 0.1, count, 3)
        for c in 0..<3 {
            let m0: [Double] = [0, 1, -2], v0: [Double] = [1, 2, 0.5]
            #expect(abs(Double(runningMean[c]) - (0.9 * m0[c] + 0.1 * Double(mean[c]))) < 1e-6)
            #expect(abs(Double(runningVariance[c]) - (0.9 * v0[c] + 0.1 * Double(variance[c]) * 10 / 9)) < 1e-6)
        }
    }

    @Test("1 and 2 threads give bit-identical batch norm", arguments: variants)
    func batchNormThreads(variant: ck_variant) {
        var rng = SeededGenerator(seed: 21)
        let (N, C, S) = (32, 16, 576)  // large enough for the team
        let X = randomFloats(N * C * S, &rng), dY = randomFloats(N * C * S, &rng)
        let gamma = randomFloats(C, &rng), beta = randomFloats(C, &rng)
        var results: [[Float]] = []
        for threads in [1, 2] {
            var mean = [Float](repeating: 0, count: C), variance = mean, dgamma = mean, dbeta = mean
            var Y = [Float](repeating: 0, count: X.count), dX = Y
            withThreads(threads) {
                ck_batchnorm_statistics(variant, &mean, &variance, X, Int32(N), Int32(C), Int32(S))
                ck_batchnorm_forward(variant, &Y, X, mean, variance, gamma, beta, 1e-5, Int32(N), Int32(C), Int32(S))
                ck_batchnorm_backward(variant, &dX, &dgamma, &dbeta, dY, X, mean, variance, gamma, 1e-5, Int32(N), Int32(C), Int32(S))
            }
            results.append(mean + variance + Y + dX + dgamma + dbeta)
        }
        #expect(results[0].map(\.bitPattern) == results[1].map(\.bitPattern))
    }

    @Test("dropout: the mask is a function of key, sample position and element")
    func dropout() {
        var rng = SeededGenerator(seed: 22)
        let (N, D) = (64, 203)  // not a multiple of the vector width
        let X = randomFloats(N * D, &rng)
        func run(_ variant: ck_variant, p: Float, key: UInt64, first: Int = 0, n: Int = N, threads: Int = 1) -> (y: [Float], mask: [Float]) {
            var Y = [Float](repeating: .nan, count: n * D), mask = Y
            let x = Array(X[(first * D)..<((first + n) * D)])
            withThreads(threads) { ck_dropout_forward(variant, &Y, &mask, x, p, key, first, Int32(n), Int32(D)) }
            return (Y, mask)
        }
        for p: Float in [0.5, 0.1, 0.9] {
            let scalar = run(CK_SCALAR, p: p, key: 7)
            // The SIMD variant hashes the same 32-bit integers: the same mask, bit for bit.
            #expect(run(CK_SIMD, p: p, key: 7).mask == scalar.mask)
            #expect(run(CK_SIMD, p: p, key: 7, threads: 2).mask == scalar.mask)
            let scale = 1 / (1 - p)
            #expect(scalar.mask.allSatisfy { $0 == 0 || $0 == scale })
            for i in 0..<X.count { #expect(scalar.y[i] == X[i] * scalar.mask[i]) }
            let dropped = Double(scalar.mask.filter { $0 == 0 }.count) / Double(X.count)
            // 12,992 draws: 4 standard deviations is under 0.018.
            #expect(abs(dropped - Double(p)) < 0.02, "dropped \(dropped) for p = \(p)")
            // Split as two shares, each at its place in the batch: the same masks.
            let a = run(CK_SIMD, p: p, key: 7, first: 0, n: 20), b = run(CK_SIMD, p: p, key: 7, first: 20, n: N - 20)
            #expect(a.mask + b.mask == scalar.mask)
            // Another key, another mask; and samples differ from one another.
            let other = run(CK_SCALAR, p: p, key: 8).mask
            #expect(zip(other, scalar.mask).filter { ($0 == 0) != ($1 == 0) }.count > X.count / 20)
            #expect(Array(scalar.mask[0..<D]) != Array(scalar.mask[D..<(2 * D)]))
        }
        // p = 0 keeps everything unchanged.
        #expect(run(CK_SIMD, p: 0, key: 3).y == X)
        // The backward pass multiplies by the same mask.
        let forward = run(CK_SIMD, p: 0.3, key: 5)
        let dY = randomFloats(N * D, &rng)
        for variant in variants {
            var dX = [Float](repeating: .nan, count: N * D)
            ck_dropout_backward(variant, &dX, dY, forward.mask, Int32(N), Int32(D))
            for i in 0..<dX.count { #expect(dX[i] == dY[i] * forward.mask[i]) }
        }
    }

    /// (N, C, H, W, P, S): windows side by side, overlapping, a stride past the window, odd sizes.
    static let poolShapes = [(2, 3, 8, 8, 2, 2), (1, 2, 7, 9, 3, 2), (3, 1, 24, 24, 2, 2), (1, 1, 5, 5, 2, 1),
                             (2, 2, 11, 13, 2, 3), (1, 3, 12, 20, 4, 4), (2, 1, 3, 3, 3, 1)]

    @Test("average pooling forward and backward", arguments: variants)
    func avgPool(variant: ck_variant) {
        var rng = SeededGenerator(seed: 23)
        for (N, C, H, W, P, S) in Self.poolShapes {
            let OH = (H - P) / S + 1, OW = (W - P) / S + 1
            let X = randomFloats(N * C * H * W, &rng), dY = randomFloats(N * C * OH * OW, &rng)
            var expectedY = [Double](repeating: 0, count: N * C * OH * OW), expectedDX = [Double](repeating: 0, count: X.count)
            for p in 0..<N * C { for y in 0..<OH { for x in 0..<OW {
                for i in 0..<P { for j in 0..<P {
                    let at = p * H * W + (y * S + i) * W + x * S + j
                    expectedY[(p * OH + y) * OW + x] += Double(X[at]) / Double(P * P)
                    expectedDX[at] += Double(dY[(p * OH + y) * OW + x]) / Double(P * P)
                } }
            } } }
            var Y = [Float](repeating: .nan, count: expectedY.count), dX = [Float](repeating: .nan, count: X.count)
            ck_avgpool_forward(variant, &Y, X, Int32(N), Int32(C), Int32(H), Int32(W), Int32(P), Int32(S))
            ck_avgpool_backward(variant, &dX, dY, Int32(N), Int32(C), Int32(H), Int32(W), Int32(P), Int32(S))
            expectRelative(Y, expectedY, 1e-5, "avgpool \((N, C, H, W, P, S))")
            expectRelative(dX, expectedDX, 1e-5, "avgpool dX \((N, C, H, W, P, S))")
        }
    }

    @Test("global average pooling forward and backward", arguments: variants)
    func globalAvgPool(variant: ck_variant) {
        var rng = SeededGenerator(seed: 24)
        for (N, C, S) in [(2, 3, 16), (1, 5, 7), (4, 8, 144), (3, 2, 1)] {
            let X = randomFloats(N * C * S, &rng), dY = randomFloats(N * C, &rng)
            var Y = [Float](repeating: .nan, count: N * C), dX = [Float](repeating: .nan, count: X.count)
            ck_global_avgpool_forward(variant, &Y, X, Int32(N), Int32(C), Int32(S))
            ck_global_avgpool_backward(variant, &dX, dY, Int32(N), Int32(C), Int32(S))
            let expectedY = (0..<N * C).map { p in (0..<S).reduce(0.0) { $0 + Double(X[p * S + $1]) } / Double(S) }
            expectRelative(Y, expectedY, 1e-5, "global avgpool \((N, C, S))")
            expectRelative(dX, (0..<X.count).map { Double(dY[$0 / S]) / Double(S) }, 1e-6, "global avgpool dX \((N, C, S))")
        }
    }

    @Test("1 and 2 threads give bit-identical pooling", arguments: variants)
    func poolingThreads(variant: ck_variant) {
        var rng = SeededGenerator(seed: 25)
        let (N, C, H, W) = (64, 16, 24, 24)
        let X = randomFloats(N * C * H * W, &rng), dY = randomFloats(N * C * 12 * 12, &rng)
        var results: [[Float]] = []
        for threads in [1, 2] {
            var Y = [Float](repeating: 0, count: N * C * 12 * 12), dX = [Float](repeating: 0, count: X.count)
            var G = [Float](repeating: 0, count: N * C)
            withThreads(threads) {
                ck_avgpool_forward(variant, &Y, X, Int32(N), Int32(C), Int32(H), Int32(W), 2, 2)
                ck_avgpool_backward(variant, &dX, dY, Int32(N), Int32(C), Int32(H), Int32(W), 2, 2)
                ck_global_avgpool_forward(variant, &G, X, Int32(N), Int32(C), Int32(H * W))
            }
            results.append(Y + dX + G)
        }
        #expect(results[0].map(\.bitPattern) == results[1].map(\.bitPattern))
    }
}
