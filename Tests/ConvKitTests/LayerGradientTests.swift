import Testing
@testable import ConvKit

/// Each layer's backward pass against central finite differences of its forward pass, for the
/// scalar E = Σ G ⊙ layer(x) with a random G (so ∂E/∂y = G).
@Suite("Layer gradients against finite differences")
struct LayerGradientTests {
    static func check(_ layer: any BatchLayer, batch: Int, seed: UInt64, input: ((inout SeededGenerator) -> Float)? = nil,
                      sourceLocation: SourceLocation = #_sourceLocation) {
        var rng = SeededGenerator(seed: seed)
        for p in layer.parameters { for i in 0..<p.count { p.value.pointer[i] = rng.nextUnitFloat() * 2 - 1 } }
        layer.reserve(batch: batch)
        let draw = input ?? { $0.nextUnitFloat() * 2 - 1 }
        var x = (0..<batch * layer.inputCount).map { _ in draw(&rng) }
        let g = (0..<batch * layer.outputCount).map { _ in rng.nextUnitFloat() * 2 - 1 }
        var y = [Float](repeating: 0, count: g.count)
        var dx = [Float](repeating: .nan, count: x.count)

        func energy() -> Double {
            layer.forward(x, &y, batch: batch, pass: Pass(variant: .simd, training: true))
            return zip(y, g).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        layer.forward(x, &y, batch: batch, pass: Pass(variant: .simd, training: true))
        layer.backward(x, y, g, &dx, batch: batch, pass: Pass(variant: .simd))
        let analytic = layer.parameters.map { $0.gradient.array }

        let h: Float = 1e-3
        func numeric(_ set: (Float) -> Void, _ value: Float) -> Double {
            set(value + h); let up = energy()
            set(value - h); let down = energy()
            set(value)
            return (up - down) / (2 * Double(h))
        }
        // Outputs that do not move cancel exactly in up − down, so the error is the rounding of
        // the few outputs that do (about 1e-7/h) plus the curvature term (h²).
        func close(_ a: Double, _ b: Float) -> Bool { abs(a - Double(b)) <= 2e-3 + 1e-2 * abs(a) }

        for i in 0..<x.count {
            let n = numeric({ x[i] = $0 }, x[i])
            #expect(close(n, dx[i]), "\(layer) dx[\(i)]: \(dx[i]) vs numeric \(n)", sourceLocation: sourceLocation)
        }
        for (p, grad) in zip(layer.parameters, analytic) {
            for i in stride(from: 0, to: p.count, by: max(1, p.count / 60)) {
                let n = numeric({ p.value.pointer[i] = $0 }, p.value.pointer[i])
                #expect(close(n, grad[i]), "\(layer) \(p.name)[\(i)]: \(grad[i]) vs numeric \(n)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func conv2DUntiedAndChannelBias() throws {
        Self.check(try Conv2D(input: [2, 6, 7], filters: 3, kernelHeight: 3, kernelWidth: 2, bias: .untied), batch: 2, seed: 1)
        Self.check(try Conv2D(input: [1, 9, 9], filters: 4, kernelHeight: 5, kernelWidth: 5, bias: .channel), batch: 3, seed: 2)
        Self.check(try Conv2D(input: [3, 5, 12], filters: 2, kernelHeight: 1, kernelWidth: 3, bias: .none), batch: 1, seed: 3)
    }

    @Test func dense() throws {
        Self.check(try Dense(input: [13], outputs: 5), batch: 3, seed: 4)
        Self.check(try Dense(input: [40], outputs: 9), batch: 1, seed: 5)
    }

    @Test func activations() throws {
        Self.check(try Sigmoid(input: [3, 5]), batch: 2, seed: 6, input: { $0.nextUnitFloat() * 8 - 4 })
        Self.check(try Tanh(input: [17]), batch: 2, seed: 7, input: { $0.nextUnitFloat() * 4 - 2 })
        // Away from the kink at 0, where the derivative is not defined.
        Self.check(try ReLU(input: [2, 3, 4]), batch: 2, seed: 8, input: { rng in
            let v = rng.nextUnitFloat() * 2 - 1
            return v < 0 ? v - 0.05 : v + 0.05
        })
    }

    @Test func maxPoolAndReshape() throws {
        // Distinct values at least 0.01 apart, so no window's maximum changes under ±h.
        var order = Array(0..<(2 * 2 * 6 * 6))
        var shuffler = SeededGenerator(seed: 9)
        shuffler.shuffle(&order)
        var next = 0
        Self.check(try MaxPool2D(input: [2, 6, 6], size: 2), batch: 2, seed: 9, input: { _ in
            defer { next += 1 }
            return Float(order[next]) * 0.01
        })
        Self.check(try Reshape(input: [2, 3, 4], output: [24]), batch: 2, seed: 10)
    }
}
