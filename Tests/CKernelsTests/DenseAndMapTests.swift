import Foundation
import Testing
import ConvKit
import CKernels

@Suite("Dense, elementwise, pooling and optimizer kernels against the Swift reference")
struct DenseAndMapTests {
    // (N, I, O): a batch of one, odd widths, the tutorial's 3380 → 100 and LeNet's 256 → 10.
    static let denseShapes = [(1, 1, 1), (1, 3380, 100), (3, 7, 5), (64, 256, 10), (5, 31, 13), (2, 8, 3), (9, 100, 2), (4, 24, 12)]

    @Test("dense forward and backward", arguments: variants)
    func dense(variant: ck_variant) {
        var rng = SeededGenerator(seed: 10)
        for (N, I, O) in Self.denseShapes {
            let X = randomFloats(N * I, &rng), Wt = randomFloats(O * I, &rng), b = randomFloats(O, &rng)
            let dY = randomFloats(N * O, &rng)
            var Y = [Float](repeating: .nan, count: N * O)
            ck_dense_forward(variant, &Y, X, Wt, b, Int32(N), Int32(I), Int32(O))
            expectClose(Y, referenceDenseForward(X, Wt, b, N: N, I: I, O: O), "dense forward \((N, I, O))")

            var dX = [Float](repeating: .nan, count: N * I), dWt = [Float](repeating: .nan, count: O * I)
            var db = [Float](repeating: .nan, count: O)
            ck_dense_backward(variant, &dX, &dWt, &db, dY, X, Wt, Int32(N), Int32(I), Int32(O))
            let expected = referenceDenseBackward(dY, X, Wt, N: N, I: I, O: O)
            expectClose(dX, expected.dX, "dense dX \((N, I, O))")
            expectClose(dWt, expected.dWt, "dense dW \((N, I, O))")
            expectClose(db, expected.db, "dense db \((N, I, O))")

            // Without an input gradient the weight gradients are unchanged.
            var dWt2 = [Float](repeating: .nan, count: O * I)
            ck_dense_backward(variant, nil, &dWt2, &db, dY, X, Wt, Int32(N), Int32(I), Int32(O))
            #expect(dWt2 == dWt)
        }
    }

    @Test("activations, forward and backward", arguments: variants)
    func activations(variant: ck_variant) {
        var rng = SeededGenerator(seed: 11)
        // Wide range, including saturation, zero and the vector tail.
        var x = randomFloats(1003, &rng).map { $0 * 30 }
        x += [0, -0.0, 100, -100, 88.5, -88.5, 1e-8]
        let dy = randomFloats(x.count, &rng)
        let n = x.count
        var y = [Float](repeating: .nan, count: n), dx = [Float](repeating: .nan, count: n)

        ck_sigmoid_forward(variant, &y, x, n)
        for i in 0..<n {
            let expected = 1 / (1 + exp(-Double(x[i])))
            #expect(abs(Double(y[i]) - expected) <= 2e-7 + 4e-7 * expected, "sigmoid(\(x[i])) = \(y[i]), expected \(expected)")
        }
        ck_sigmoid_backward(variant, &dx, dy, y, n)
        for i in 0..<n { #expect(abs(dx[i] - dy[i] * y[i] * (1 - y[i])) <= 1e-7) }

        ck_tanh_forward(variant, &y, x, n)
        for i in 0..<n {
            let expected = tanh(Double(x[i]))
            #expect(abs(Double(y[i]) - expected) <= 3e-7, "tanh(\(x[i])) = \(y[i]), expected \(expected)")
        }
        ck_tanh_backward(variant, &dx, dy, y, n)
        for i in 0..<n { #expect(abs(dx[i] - dy[i] * (1 - y[i] * y[i])) <= 1e-7) }

        ck_relu_forward(variant, &y, x, n)
        for i in 0..<n { #expect(y[i] == max(x[i], 0)) }
        ck_relu_backward(variant, &dx, dy, y, n)
        for i in 0..<n { #expect(dx[i] == (x[i] > 0 ? dy[i] : 0)) }
    }

    @Test("max pooling routes the gradient to each window's maximum; without argmax it gives the same Y")
    func maxPool() {
        var rng = SeededGenerator(seed: 12)
        for (N, C, H, W, P, S) in [(2, 3, 8, 8, 2, 2), (1, 2, 7, 9, 3, 2), (3, 1, 24, 24, 2, 2), (1, 1, 5, 5, 2, 1), (2, 3, 14, 14, 2, 2), (1, 2, 15, 21, 2, 2), (1, 1, 7, 7, 2, 2)] {
            let OH = (H - P) / S + 1, OW = (W - P) / S + 1
            let X = randomFloats(N * C * H * W, &rng), dY = randomFloats(N * C * OH * OW, &rng)
            var Y = [Float](repeating: .nan, count: N * C * OH * OW)
            var argmax = [Int32](repeating: -1, count: Y.count)
            ck_maxpool_forward(&Y, &argmax, X, Int32(N), Int32(C), Int32(H), Int32(W), Int32(P), Int32(S))
            var inferred = [Float](repeating: .nan, count: Y.count)
            ck_maxpool_forward(&inferred, nil, X, Int32(N), Int32(C), Int32(H), Int32(W), Int32(P), Int32(S))
            #expect(inferred.map(\.bitPattern) == Y.map(\.bitPattern))
            var expectedDX = [Float](repeating: 0, count: X.count)
            for p in 0..<N * C { for y in 0..<OH { for x in 0..<OW {
                var best = -Float.infinity, at = 0
                for i in 0..<P { for j in 0..<P {
                    let idx = p * H * W + (y * S + i) * W + x * S + j
                    if X[idx] > best { best = X[idx]; at = idx }
                } }
                #expect(Y[(p * OH + y) * OW + x] == best)
                expectedDX[at] += dY[(p * OH + y) * OW + x]
            } } }
            var dX = [Float](repeating: .nan, count: X.count)
            ck_maxpool_backward(&dX, dY, argmax, Int32(N), Int32(C), Int32(H), Int32(W), Int32(OH), Int32(OW))
            for i in 0..<dX.count { #expect(abs(dX[i] - expectedDX[i]) <= 1e-6) }
        }
    }

    /// SGD, momentum, Nesterov and Adam on n values from one seed, on the given thread count: the
    /// updated weights and states, in that order.
    private func optimizerUpdates(n: Int, threads: Int) -> [[Float]] {
        var rng = SeededGenerator(seed: 13)
        let w0 = randomFloats(n, &rng), g = randomFloats(n, &rng), state = randomFloats(n, &rng)
        let (lr, wd, mu): (Float, Float, Float) = (0.1, 0.01, 0.9)
        let (b1, b2, eps, t): (Float, Float, Float, Float) = (0.9, 0.999, 1e-8, 3)
        return withThreads(threads) {
            var results: [[Float]] = []
            var w = w0
            ck_sgd_update(&w, g, lr, wd, n)
            results.append(w)
            for nesterov in [0, 1] {
                var w = w0, u = state
                ck_momentum_update(&w, &u, g, lr, mu, wd, Int32(nesterov), n)
                results += [w, u]
            }
            var wa = w0, m = state, s = state.map { $0 * $0 }
            ck_adam_update(&wa, &m, &s, g, lr, b1, b2, eps, wd, 1 - pow(b1, t), 1 - pow(b2, t), n)
            return results + [wa, m, s]
        }
    }

    // 37 values; three chunks of the team's 4096 and a tail; and enough that every update runs on
    // the team (Adam from 65,536 values, SGD from 32,768).
    @Test("optimizer updates", arguments: [37, 3 * 4096 + 5, 70_001])
    func optimizers(n: Int) {
        var rng = SeededGenerator(seed: 13)
        let w0 = randomFloats(n, &rng), g = randomFloats(n, &rng), state = randomFloats(n, &rng)
        let (lr, wd, mu): (Float, Float, Float) = (0.1, 0.01, 0.9)
        let (b1, b2, eps, t): (Float, Float, Float, Float) = (0.9, 0.999, 1e-8, 3)
        let c1 = 1 - pow(b1, t), c2 = 1 - pow(b2, t)
        let results = optimizerUpdates(n: n, threads: 2)
        #expect(results == optimizerUpdates(n: n, threads: 1), "the same bits on 1 and 2 threads")

        // The largest deviation from the reference over all n values, per array.
        func worst(_ actual: [Float], _ expected: (Int) -> Float) -> Float {
            (0..<n).map { abs(actual[$0] - expected($0)) }.max() ?? 0
        }
        #expect(worst(results[0]) { w0[$0] - lr * (g[$0] + wd * w0[$0]) } <= 1e-6)
        for nesterov in [0, 1] {
            let gi = { g[$0] + wd * w0[$0] }, ui = { mu * state[$0] + gi($0) }
            #expect(worst(results[2 + 2 * nesterov], ui) <= 1e-6)
            #expect(worst(results[1 + 2 * nesterov]) { w0[$0] - lr * (nesterov == 1 ? gi($0) + mu * ui($0) : ui($0)) } <= 1e-6)
        }
        let gi = { g[$0] + wd * w0[$0] }
        let mi = { b1 * state[$0] + (1 - b1) * gi($0) }, si = { b2 * state[$0] * state[$0] + (1 - b2) * gi($0) * gi($0) }
        #expect(worst(results[6], mi) <= 1e-6 && worst(results[7], si) <= 1e-6)
        #expect(worst(results[5]) { w0[$0] - lr * (mi($0) / c1) / ((si($0) / c2).squareRoot() + eps) } <= 1e-5)
    }
}

@Suite("Dense backward fused with SGD")
struct DenseSGDTests {
    @Test("equals backward then SGD, and does not depend on threads", arguments: variants)
    func fusedEqualsSeparate(variant: ck_variant) {
        var rng = SeededGenerator(seed: 14)
        for (N, I, O) in [(1, 3380, 100), (3, 7, 5), (64, 256, 10), (2, 40, 33), (1, 1, 1)] {
            let X = randomFloats(N * I, &rng), W0 = randomFloats(O * I, &rng), b0 = randomFloats(O, &rng)
            let dY = randomFloats(N * O, &rng)
            let lr: Float = 0.1
            let expected = referenceDenseBackward(dY, X, W0, N: N, I: I, O: O)
            var results: [[Float]] = []
            for threads in [1, 2] {
                var W = W0, b = b0, dX = [Float](repeating: .nan, count: N * I)
                var work = [Float](repeating: .nan, count: ck_dense_backward_sgd_work_size(Int32(N), Int32(I), Int32(O)))
                withThreads(threads) {
                    ck_dense_backward_sgd(variant, &dX, &W, &b, dY, X, lr, &work, Int32(N), Int32(I), Int32(O))
                }
                expectClose(dX, expected.dX, "fused dX \((N, I, O))")
                for k in 0..<W.count {
                    let want = Double(W0[k]) - Double(lr) * expected.dWt.value[k]
                    #expect(abs(Double(W[k]) - want) <= 1e-6 + 1e-5 * Double(lr) * expected.dWt.magnitude[k] + 1e-7 * abs(want))
                }
                for o in 0..<O { #expect(abs(Double(b[o]) - (Double(b0[o]) - Double(lr) * expected.db.value[o])) <= 1e-6) }
                results.append(dX + W + b)
            }
            #expect(results[0] == results[1], "1 and 2 threads differ for \((N, I, O))")
        }
    }
}
