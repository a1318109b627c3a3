import Foundation
import Testing
import ConvKit

/// The tensor-level kernel calls (what a Swift user calls) against the naive references, both
/// variants, on shapes that include non-square planes, 1×1 kernels and kernels as large as the input.
@Suite("Tensor-level kernels against the Swift reference")
struct TensorKernelTests {
    /// (N, C, H, W, O, KH, KW)
    static let shapes: [(Int, Int, Int, Int, Int, Int, Int)] = [
        (1, 1, 3, 3, 1, 2, 2), (2, 3, 7, 5, 4, 3, 2), (3, 2, 6, 9, 5, 1, 1), (2, 2, 5, 4, 3, 5, 4),
        (1, 1, 28, 28, 5, 3, 3), (4, 8, 12, 12, 16, 5, 5), (2, 1, 1, 9, 3, 1, 4),
    ]

    static func random(_ shape: [Int], seed: UInt64) throws -> Tensor {
        var rng = SeededGenerator(seed: seed)
        return try Tensor(shape: shape, scalars: randomFloats(shape.reduce(1, *), &rng))
    }

    @Test("conv2d forward and its three gradients", arguments: Kernels.Variant.allCases)
    func convolutionLayer(variant: Kernels.Variant) throws {
        for (i, s) in Self.shapes.enumerated() {
            let (N, C, H, W, O, KH, KW) = s
            let (OH, OW) = (H - KH + 1, W - KW + 1)
            let x = try Self.random([N, C, H, W], seed: UInt64(i)), k = try Self.random([O, C, KH, KW], seed: UInt64(i + 100))
            let channelBias = try Self.random([O], seed: UInt64(i + 200)), untiedBias = try Self.random([O, OH, OW], seed: UInt64(i + 300))
            let dy = try Self.random([N, O, OH, OW], seed: UInt64(i + 400))
            let what = "\(s) \(variant)"

            let y = try conv2d(x, kernel: k, variant: variant)
            #expect(y.shape == [N, O, OH, OW])
            expectClose(y.scalars, referenceConvForward(x.scalars, k.scalars, [], bias: .none, N: N, C: C, H: H, W: W, O: O, KH: KH, KW: KW), "forward \(what)")
            expectClose(try conv2d(x, kernel: k, bias: channelBias, variant: variant).scalars,
                        referenceConvForward(x.scalars, k.scalars, channelBias.scalars, bias: .channel, N: N, C: C, H: H, W: W, O: O, KH: KH, KW: KW), "channel bias \(what)")
            expectClose(try conv2d(x, kernel: k, bias: untiedBias, variant: variant).scalars,
                        referenceConvForward(x.scalars, k.scalars, untiedBias.scalars, bias: .untied, N: N, C: C, H: H, W: W, O: O, KH: KH, KW: KW), "untied bias \(what)")
            #expect(try correlateValid(x, k, variant: variant) == y)

            let dk = try conv2dKernelGradient(input: x, outputGradient: dy, variant: variant)
            #expect(dk.shape == k.shape)
            expectClose(dk.scalars, referenceConvKernelGrad(x.scalars, dy.scalars, N: N, C: C, H: H, W: W, O: O, KH: KH, KW: KW), "kernel gradient \(what)")

            let dx = try conv2dInputGradient(outputGradient: dy, kernel: k, variant: variant)
            #expect(dx.shape == x.shape)
            expectClose(dx.scalars, referenceConvInputGrad(dy.scalars, k.scalars, N: N, C: C, H: H, W: W, O: O, KH: KH, KW: KW), "input gradient \(what)")
            #expect(try convolveFull(dy, k, variant: variant) == dx)

            var db = Reference(count: O), dbUntied = Reference(count: O * OH * OW)
            for n in 0..<N { for o in 0..<O { for p in 0..<(OH * OW) {
                db.add(o, dy.scalars[(n * O + o) * OH * OW + p]); dbUntied.add(o * OH * OW + p, dy.scalars[(n * O + o) * OH * OW + p])
            } } }
            expectClose(try conv2dBiasGradient(outputGradient: dy).scalars, db, "bias gradient \(what)")
            expectClose(try conv2dBiasGradient(outputGradient: dy, untied: true).scalars, dbUntied, "untied bias gradient \(what)")
        }
    }

    @Test("single planes: valid and full, correlation and convolution", arguments: Kernels.Variant.allCases)
    func planes(variant: Kernels.Variant) throws {
        for (i, s) in Self.shapes.enumerated() {
            let (_, _, H, W, _, KH, KW) = s
            let x = try Self.random([H, W], seed: UInt64(i + 500)), k = try Self.random([KH, KW], seed: UInt64(i + 600))
            expectClose(try correlateValid(x, k, variant: variant).scalars,
                        referenceConvForward(x.scalars, k.scalars, [], bias: .none, N: 1, C: 1, H: H, W: W, O: 1, KH: KH, KW: KW), "valid \(s)")
            expectClose(try convolveValid(x, k, variant: variant).scalars,
                        referenceConvForward(x.scalars, k.rotated180().scalars, [], bias: .none, N: 1, C: 1, H: H, W: W, O: 1, KH: KH, KW: KW), "valid conv \(s)")
            expectClose(try correlateFull(x, k, variant: variant).scalars, referenceCorrelateFull(x.scalars, k.scalars, H: H, W: W, KH: KH, KW: KW), "full \(s)")
            expectClose(try convolveFull(x, k, variant: variant).scalars,
                        referenceCorrelateFull(x.scalars, k.rotated180().scalars, H: H, W: W, KH: KH, KW: KW), "full conv \(s)")
        }
        // Batched full correlation sums over the kernel's first axis, like the input gradient.
        let dy = try Self.random([2, 3, 4, 5], seed: 7), k = try Self.random([3, 2, 2, 3], seed: 8)
        #expect(try correlateFull(dy, k, variant: variant) == conv2dInputGradient(outputGradient: dy, kernel: k.rotated180(), variant: variant))
    }

    @Test("dense forward and backward", arguments: Kernels.Variant.allCases)
    func denseLayer(variant: Kernels.Variant) throws {
        for (N, I, O) in [(1, 1, 1), (1, 3380, 100), (5, 7, 3), (64, 256, 10), (3, 17, 33)] {
            let x = try Self.random([N, I], seed: 1), w = try Self.random([O, I], seed: 2), b = try Self.random([O], seed: 3)
            let dy = try Self.random([N, O], seed: 4)
            expectClose(try dense(x, weight: w, bias: b, variant: variant).scalars,
                        referenceDenseForward(x.scalars, w.scalars, b.scalars, N: N, I: I, O: O), "dense \(N)x\(I)->\(O)")
            expectClose(try dense(x, weight: w, variant: variant).scalars,
                        referenceDenseForward(x.scalars, w.scalars, [Float](repeating: 0, count: O), N: N, I: I, O: O), "dense no bias")
            let g = try denseGradients(input: x, weight: w, outputGradient: dy, variant: variant)
            let r = referenceDenseBackward(dy.scalars, x.scalars, w.scalars, N: N, I: I, O: O)
            expectClose(g.input.scalars, r.dX, "dX"); expectClose(g.weight.scalars, r.dWt, "dW"); expectClose(g.bias.scalars, r.db, "db")
        }
    }

    @Test("activations, their gradients and max pooling", arguments: Kernels.Variant.allCases)
    func maps(variant: Kernels.Variant) throws {
        let x = try Self.random([2, 3, 5, 7], seed: 9), dy = try Self.random([2, 3, 5, 7], seed: 10)
        func close(_ a: Tensor, _ b: [Float], _ what: String) {
            #expect(a.shape == x.shape)
            #expect(zip(a.scalars, b).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }, "\(what)")
        }
        let s = sigmoid(x, variant: variant), t = tanh(x, variant: variant), r = relu(x, variant: variant)
        close(s, x.scalars.map { 1 / (1 + expf(-$0)) }, "sigmoid")
        close(t, x.scalars.map { tanhf($0) }, "tanh")
        close(r, x.scalars.map { max($0, 0) }, "relu")
        close(try sigmoidGradient(outputGradient: dy, output: s, variant: variant), zip(dy.scalars, s.scalars).map { $0 * $1 * (1 - $1) }, "sigmoid'")
        close(try tanhGradient(outputGradient: dy, output: t, variant: variant), zip(dy.scalars, t.scalars).map { $0 * (1 - $1 * $1) }, "tanh'")
        close(try reluGradient(outputGradient: dy, output: r, variant: variant), zip(dy.scalars, r.scalars).map { $1 > 0 ? $0 : 0 }, "relu'")

        let pooled = try maxPool2D(x, size: 2)
        #expect(pooled.output.shape == [2, 3, 2, 3])
        let g = try Self.random([2, 3, 2, 3], seed: 11)
        let dx = try maxPool2DGradient(outputGradient: g, pooled: pooled)
        for p in 0..<6 { for oy in 0..<2 { for ox in 0..<3 {
            let window = [(0, 0), (0, 1), (1, 0), (1, 1)].map { (2 * oy + $0.0, 2 * ox + $0.1) }
            let values = window.map { x.scalars[p * 35 + $0.0 * 7 + $0.1] }
            let best = values.indices.max { values[$0] < values[$1] }!
            #expect(pooled.output.scalars[p * 6 + oy * 3 + ox] == values[best])
            for (j, (y, xx)) in window.enumerated() {
                #expect(dx.scalars[p * 35 + y * 7 + xx] == (j == best ? g.scalars[p * 6 + oy * 3 + ox] : 0))
            }
        } } }
    }
}
