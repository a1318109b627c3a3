import Foundation
import Testing
@testable import ConvKit

@Suite("Networks, losses and a training step")
struct NetworkTests {
    /// The same closed formula as Fixtures/tutorial_step.py.
    static func pattern(_ n: Int, _ salt: Int) -> [Float] {
        (0..<n).map { i in Float(Double((i * 7919 + salt * 104_729) % 1000) / 500 - 1) }
    }

    static func fixture() throws -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/tutorial_step.json")
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    @Test("one SGD step of the tutorial net matches numpy/scipy in float64")
    func tutorialStep() throws {
        let net = try Architecture.tutorial(classes: 2).build()
        let params = Dictionary(uniqueKeysWithValues: net.namedParameters.map { ($0.name, $0.parameter) })
        params["0.weight"]!.value.copy(from: Self.pattern(45, 1))
        params["0.bias"]!.value.copy(from: Self.pattern(3380, 2).map { $0 * 0.1 })
        params["3.weight"]!.value.copy(from: Self.pattern(338_000, 3).map { $0 * 0.05 })
        params["3.bias"]!.value.copy(from: Self.pattern(100, 4))
        params["5.weight"]!.value.copy(from: Self.pattern(200, 5).map { $0 * 0.3 })
        params["5.bias"]!.value.copy(from: Self.pattern(2, 6))
        let x = Self.pattern(784, 7).map { ($0 + 1) / 2 }
        let expected = try Self.fixture()

        net.reserve(batch: 1)
        net.input.update(from: x, count: 784)
        net.forward(batch: 1)
        let targets: [Float] = [1, 0]
        let loss = BinaryCrossEntropy().loss(unsafeOutputs: net.output, targets: targets, gradient: net.outputGradient, batch: 1, classes: 2)
        #expect(abs(Double(loss) - (expected["loss"] as! Double)) < 1e-6)
        for (k, v) in (expected["output"] as! [Double]).enumerated() { #expect(abs(Double(net.output[k]) - v) < 1e-6) }
        net.backward(batch: 1)

        // The input gradient, which the network skips for its first layer, from the layer itself.
        var dx = [Float](repeating: 0, count: 784)
        let conv = net.layers[0] as! Conv2D
        var y = [Float](repeating: 0, count: 3380), dY = [Float](repeating: 0, count: 3380)
        conv.forward(x, &y, batch: 1, pass: Pass(variant: .simd))
        net.batchLayers[1].backward(y, Array(UnsafeBufferPointer(start: sigmoidOutput(net), count: 3380)), gradientIntoSigmoid(net), &dY,
                                    batch: 1, pass: Pass(variant: .simd))
        conv.backward(x, y, dY, &dx, batch: 1, pass: Pass(variant: .simd))
        try Self.expectDigest(dx, expected["input_gradient"] as! [String: Any], "input gradient")

        try SGD(parameters: net.parameters, learningRate: 0.1).step()
        let updated = expected["updated"] as! [String: [String: Any]]
        for (name, p) in net.namedParameters {
            try Self.expectDigest(p.value.array, updated[name]!, name)
        }
    }

    static func expectDigest(_ values: [Float], _ digest: [String: Any], _ what: String,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        let absSum = digest["abs_sum"] as! Double
        let sum = values.reduce(0.0) { $0 + Double($1) }
        // float32 against float64: relative 1e-5 of the magnitude, element by element.
        #expect(abs(sum - (digest["sum"] as! Double)) <= 1e-5 * absSum + 1e-7, "\(what) sum", sourceLocation: sourceLocation)
        let head = digest["head"] as! [Double], tail = digest["tail"] as! [Double]
        let scale = absSum / Double(values.count)
        for (k, v) in head.enumerated() {
            #expect(abs(Double(values[k]) - v) <= 1e-5 * max(abs(v), scale) + 1e-9, "\(what)[\(k)] \(values[k]) vs \(v)", sourceLocation: sourceLocation)
        }
        for (k, v) in tail.enumerated() {
            let i = values.count - tail.count + k
            #expect(abs(Double(values[i]) - v) <= 1e-5 * max(abs(v), scale) + 1e-9, "\(what)[\(i)] \(values[i]) vs \(v)", sourceLocation: sourceLocation)
        }
    }

    @Test("binary cross-entropy is finite at saturated outputs")
    func bceClamp() {
        let out: [Float] = [0, 1, 1, 0], targets: [Float] = [1, 0, 1, 0]
        var grad = [Float](repeating: .nan, count: 4)
        let l = BinaryCrossEntropy().loss(unsafeOutputs: out, targets: targets, gradient: &grad, batch: 2, classes: 2)
        #expect(l.isFinite && l > 7)
        #expect(grad.allSatisfy { $0.isFinite })
        #expect(grad[0] < 0 && grad[1] > 0)
    }

    @Test("softmax cross-entropy against a direct computation, stable at large logits")
    func softmaxCE() {
        let logits: [Float] = [1, 2, 3, 1000, 1001, 999]
        let targets: [Float] = [0, 0, 1, 1, 0, 0]
        var grad = [Float](repeating: .nan, count: 6)
        let l = SoftmaxCrossEntropy().loss(unsafeOutputs: logits, targets: targets, gradient: &grad, batch: 2, classes: 3)
        func lse(_ z: [Double]) -> Double { let m = z.max()!; return m + log(z.map { exp($0 - m) }.reduce(0, +)) }
        let row1 = lse([1, 2, 3]) - 3, row2 = lse([1000, 1001, 999]) - 1000
        #expect(abs(Double(l) - (row1 + row2) / 2) < 1e-5)
        let p1 = [1.0, 2, 3].map { exp($0 - lse([1, 2, 3])) }
        for k in 0..<3 { #expect(abs(Double(grad[k]) - (p1[k] - Double(targets[k])) / 2) < 1e-6) }
        #expect(grad.allSatisfy { $0.isFinite })
        #expect(abs(grad[3..<6].reduce(0, +)) < 1e-6)
    }

    @Test("a batched gradient is the mean of per-sample gradients")
    func batchedEqualsMean() throws {
        let net = try Architecture(input: [1, 12, 12], spec: "conv 4 3, relu, maxpool 2, conv 6 3, tanh, flatten, dense 5").build()
        var rng = SeededGenerator(seed: 3)
        net.initialize(.auto, generator: &rng)
        let n = 4, classes = 5
        let x = (0..<n * 144).map { _ in rng.nextUnitFloat() }
        var targets = [Float](repeating: 0, count: n * classes)
        for b in 0..<n { targets[b * classes + b % classes] = 1 }
        let loss = SoftmaxCrossEntropy()

        net.reserve(batch: n)
        net.input.update(from: x, count: x.count)
        net.forward(batch: n)
        _ = loss.loss(unsafeOutputs: net.output, targets: targets, gradient: net.outputGradient, batch: n, classes: classes)
        net.backward(batch: n)
        let batched = net.parameters.map { $0.gradient.array }

        var mean = batched.map { [Double](repeating: 0, count: $0.count) }
        for b in 0..<n {
            x.withUnsafeBufferPointer { net.input.update(from: $0.baseAddress! + b * 144, count: 144) }
            net.forward(batch: 1)
            targets.withUnsafeBufferPointer {
                _ = loss.loss(unsafeOutputs: net.output, targets: $0.baseAddress! + b * classes, gradient: net.outputGradient, batch: 1, classes: classes)
            }
            net.backward(batch: 1)
            for (k, p) in net.parameters.enumerated() { for i in 0..<p.count { mean[k][i] += Double(p.gradient.pointer[i]) / Double(n) } }
        }
        for k in batched.indices {
            for i in batched[k].indices { #expect(abs(Double(batched[k][i]) - mean[k][i]) <= 1e-5 + 1e-4 * abs(mean[k][i])) }
        }
    }

    @Test("a whole network's gradients against finite differences of the loss")
    func networkGradients() throws {
        let net = try Architecture(input: [1, 10, 10], spec: "conv 3 3 untied, sigmoid, reshape 192, dense 7, sigmoid, dense 2, sigmoid").build()
        var rng = SeededGenerator(seed: 4)
        net.initialize(.normal, generator: &rng)
        let n = 2
        let x = (0..<n * 100).map { _ in rng.nextUnitFloat() }
        let targets: [Float] = [1, 0, 0, 1]
        let loss = BinaryCrossEntropy()
        net.reserve(batch: n)
        func run(gradient: Bool) -> Double {
            net.input.update(from: x, count: x.count)
            net.forward(batch: n)
            return Double(loss.loss(unsafeOutputs: net.output, targets: targets, gradient: gradient ? net.outputGradient : nil, batch: n, classes: 2))
        }
        _ = run(gradient: true)
        net.backward(batch: n)
        for (name, p) in net.namedParameters {
            let analytic = p.gradient.array
            for i in stride(from: 0, to: p.count, by: max(1, p.count / 25)) {
                let saved = p.value.pointer[i], h: Float = 1e-2
                p.value.pointer[i] = saved + h; let up = run(gradient: false)
                p.value.pointer[i] = saved - h; let down = run(gradient: false)
                p.value.pointer[i] = saved
                let numeric = (up - down) / (2 * Double(h))
                #expect(abs(numeric - Double(analytic[i])) <= 1e-4 + 2e-2 * abs(numeric), "\(name)[\(i)] \(analytic[i]) vs \(numeric)")
            }
        }
    }

    @Test("shape errors name the layer")
    func shapeErrors() {
        #expect(throws: ShapeError.self) { try Architecture(spec: "conv 8 5, dense 10").build() }
        do {
            _ = try Architecture(spec: "conv 8 5, relu, maxpool 2, conv 16 30").build()
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("layer 3 'conv 16 30'"))
        }
        #expect(throws: ShapeError.self) { try Architecture(spec: "conv 8 5, frobnicate").build() }
        #expect(throws: ShapeError.self) { try Architecture(spec: "conv 0 5").build() }
        #expect(throws: ShapeError.self) { try Architecture(spec: "dense 99999999999999999999").build() }
    }

    @Test("summary counts parameters as PyTorch does")
    func summary() throws {
        let tutorial = try Architecture.tutorial(classes: 2).build()
        #expect(tutorial.parameterCount == 5 * 9 + 5 * 26 * 26 + 3380 * 100 + 100 + 100 * 2 + 2)
        #expect(tutorial.namedParameters.map(\.name) == ["0.weight", "0.bias", "3.weight", "3.bias", "5.weight", "5.bias"])
        let lenet = try Architecture.lenet(classes: 10).build()
        #expect(lenet.parameterCount == 8 * 25 + 8 + 16 * 8 * 25 + 16 + 256 * 10 + 10)
        #expect(lenet.summary.contains("total"))
    }
}

// Helpers for the tutorial-step test: the sigmoid after the conv, its output and incoming gradient.
private func sigmoidOutput(_ net: Sequential) -> UnsafePointer<Float> {
    net.activation(2)
}
private func gradientIntoSigmoid(_ net: Sequential) -> UnsafePointer<Float> {
    net.gradient(2)
}

@Suite("SGD folded into the backward pass")
struct FusedSGDTests {
    @Test("one step of the tutorial net, fused or not, gives the same weights")
    func fusedMatchesSeparate() throws {
        var nets: [Sequential] = []
        for fused in [false, true] {
            let net = try Architecture.tutorial(classes: 2).build()
            var rng = SeededGenerator(seed: 11)
            net.initialize(.normal, generator: &rng)
            net.reserve(batch: 3)
            let x = (0..<3 * 784).map { _ in rng.nextUnitFloat() }
            let targets: [Float] = [1, 0, 0, 1, 1, 0]
            net.input.update(from: x, count: x.count)
            net.forward(batch: 3)
            _ = BinaryCrossEntropy().loss(unsafeOutputs: net.output, targets: targets, gradient: net.outputGradient, batch: 3, classes: 2)
            if fused { net.backward(batch: 3, fusedSGD: (net.layers.map { !$0.parameters.isEmpty }, 0.1)) } else { net.backward(batch: 3); try SGD(parameters: net.parameters, learningRate: 0.1).step() }
            nets.append(net)
        }
        for (a, b) in zip(nets[0].parameters, nets[1].parameters) {
            let x = a.value.array, y = b.value.array
            let worst = zip(x, y).map { abs($0 - $1) / max(1, abs($0)) }.max() ?? 0
            #expect(worst < 1e-5, "\(a.name) \(a.shape) differs by \(worst)")
        }
    }
}
