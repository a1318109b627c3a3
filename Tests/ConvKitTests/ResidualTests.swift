import Foundation
import Testing
@testable import ConvKit
import ConvKitFiles

/// Residual blocks: the spec, gradients, PyTorch's names and numbers, and everything the trainer
/// does with layers (shares, resume, threads, dropout keys, init, variants).
@Suite("Residual blocks")
struct ResidualTests {
    /// The network of issue 20, for 3×32×32 inputs.
    static let issueSpec = "conv 16 3 pad 1, batchnorm, relu, residual(conv 16 3 pad 1, batchnorm, relu, conv 16 3 pad 1, batchnorm), relu, "
        + "residual(conv 32 3 pad 1 stride 2, batchnorm, relu, conv 32 3 pad 1, batchnorm), relu, globalavgpool, flatten, dense 10"

    // MARK: the spec

    @Test("commas inside parentheses stay on the block's line, and the text round-trips")
    func specSplitsAtTopLevelCommas() throws {
        let arch = Architecture(input: [3, 32, 32], spec: Self.issueSpec)
        #expect(arch.layers.count == 10)
        #expect(arch.layers[3] == "residual(conv 16 3 pad 1, batchnorm, relu, conv 16 3 pad 1, batchnorm)")
        #expect(arch.spec == Self.issueSpec)
        #expect(Architecture(input: [3, 32, 32], spec: arch.spec) == arch)
        let net = try arch.build()
        #expect(net.layers.map(\.spec) == arch.layers)
        #expect(net.outputShape == [10])
        let blocks = net.layers.compactMap { $0 as? Residual }
        #expect(blocks.map(\.projects) == [false, true])
        #expect(blocks[1].outputShape == [32, 16, 16])
        #expect(blocks[1].shortcut.map(\.description) == ["Conv2D 32@1×1 stride 2 (no bias)", "BatchNorm2d 32"])
        // Spaces and case inside the block do not matter to the layers built.
        let loose = try Architecture(input: [4, 6, 6], spec: "Residual ( conv 4 3 pad 1 ,relu )").build()
        #expect(loose.layers[0].spec == "residual(conv 4 3 pad 1, relu)")
    }

    @Test("bad blocks are ShapeErrors naming the block")
    func badBlocksAreShapeErrors() throws {
        func message(_ spec: String, input: [Int] = [4, 8, 8]) -> String {
            do { _ = try Architecture(input: input, spec: spec).build(); return "built" } catch { return error.description }
        }
        #expect(message("relu, residual(conv 4 3 pad 1, residual(relu))").hasPrefix("layer 1 'residual(conv 4 3 pad 1, residual(relu))' (input 4×8×8): "))
        #expect(message("residual(conv 4 3 pad 1, residual(relu))").contains("residual blocks do not nest"))
        #expect(message("residual()").contains("at least one layer"))
        #expect(message("residual(relu").contains("usage: residual("))
        #expect(message("residual relu").contains("usage: residual("))
        #expect(message("residual(conv 4 3 pad 1, frob)").contains("body layer 1 'frob' (input 4×8×8): unknown layer 'frob'"))
        // A 3×3 conv without padding shrinks 8×8 to 6×6: no 1×1 projection with stride 1 gives that.
        #expect(message("residual(conv 4 3)").contains("a 1×1 projection with the body's stride 1 gives 4×8×8"))
        #expect(message("flatten, residual(dense 5)").contains("a projection shortcut needs C×H×W"))
        #expect(throws: ShapeError.self) { try Residual(input: [4], body: []) }
        let relu = try ReLU(input: [4])
        #expect(throws: ShapeError("residual blocks do not nest (body layer 0)")) {
            try Residual(input: [4], body: [try Residual(input: [4], body: [relu])])
        }
        #expect(throws: ShapeError.self) { try Residual(input: [5], body: [relu]) }
        // A flat block that keeps its size is fine: the identity shortcut.
        #expect(message("flatten, residual(dense 256, relu, dense 256)") == "built")
    }

    @Test("names, state and summary follow PyTorch's module with body and shortcut")
    func namesAndSummary() throws {
        let net = try Architecture(input: [3, 32, 32], spec: Self.issueSpec).build()
        let names = net.namedParameters.map(\.name)
        #expect(names.filter { $0.hasPrefix("3.") } == ["3.body.0.weight", "3.body.0.bias", "3.body.1.weight", "3.body.1.bias",
                                                       "3.body.3.weight", "3.body.3.bias", "3.body.4.weight", "3.body.4.bias"])
        #expect(names.filter { $0.hasPrefix("5.shortcut") } == ["5.shortcut.0.weight", "5.shortcut.1.weight", "5.shortcut.1.bias"])
        #expect(net.namedState.map(\.name).filter { $0.hasPrefix("5.shortcut") }
                == ["5.shortcut.1.running_mean", "5.shortcut.1.running_var", "5.shortcut.1.num_batches_tracked"])
        #expect(net.parameters.count == names.count && net.state.count == net.namedState.count)
        #expect(zip(net.parameters, net.namedParameters).allSatisfy { $0 === $1.parameter })
        // 448 + 32, then 2·(2320 + 32), then 4640 + 64 + 9248 + 64 with the projection's 512 + 64, then 330.
        #expect(net.parameterCount == 20_106)
        let summary = net.summary
        #expect(summary.contains("Residual (identity)") && summary.contains("Residual (projection 1×1 stride 2)"))
        #expect(summary.contains("  body.0 Conv2D 32@3×3 pad 1 stride 2") && summary.contains("  shortcut.0 Conv2D 32@1×1 stride 2 (no bias)"))
        let block = net.layers[5]
        #expect(block.forwardFlops == 32 * 16 * 16 + (block as! Residual).body.reduce(0) { $0 + $1.forwardFlops }
                + (block as! Residual).shortcut.reduce(0) { $0 + $1.forwardFlops })
    }

    // MARK: gradients

    @Test("backward against finite differences: identity, projection, flat and first-layer blocks")
    func gradients() throws {
        func block(_ spec: String, _ input: [Int]) throws -> any BatchLayer {
            try #require(try Architecture.layer(spec, input: input) as? Residual)
        }
        // Tanh rather than ReLU: no kink for ±h to cross.
        LayerGradientTests.check(try block("residual(conv 3 3 pad 1, tanh, conv 3 3 pad 1)", [3, 5, 5]), batch: 2, seed: 31)
        LayerGradientTests.check(try block("residual(conv 4 3 pad 1 stride 2, batchnorm, tanh, conv 4 3 pad 1, batchnorm)", [2, 6, 6]),
                                 batch: 3, seed: 32)
        LayerGradientTests.check(try block("residual(conv 4 1, batchnorm)", [2, 4, 4]), batch: 2, seed: 33)
        LayerGradientTests.check(try block("residual(dense 5, tanh, dense 5)", [5]), batch: 3, seed: 34)
    }

    @Test("a block as the first layer, without an input gradient, trains as in the middle")
    func firstLayerNeedsNoInputGradient() throws {
        let net = try Architecture(input: [2, 6, 6], spec: "residual(conv 4 3 pad 1 stride 2, batchnorm, relu), flatten, dense 2").build()
        var g = SeededGenerator(seed: 5)
        net.initialize(generator: &g)
        let x = try Tensor(shape: [4, 2, 6, 6], scalars: (0..<288).map { _ in g.nextUnitFloat() })
        let optimizer = try SGD(parameters: net.parameters, learningRate: 0.1)
        let first = try net.trainingStep(inputs: x, labels: [0, 1, 1, 0], loss: SoftmaxCrossEntropy(), optimizer: optimizer)
        for _ in 0..<20 { _ = try net.trainingStep(inputs: x, labels: [0, 1, 1, 0], loss: SoftmaxCrossEntropy(), optimizer: optimizer) }
        #expect(try net.trainingStep(inputs: x, labels: [0, 1, 1, 0], loss: SoftmaxCrossEntropy(), optimizer: optimizer) < first)
    }

    // MARK: PyTorch

    static func fixture() throws -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/residual_step.json")
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    /// The fixture's network with the fixture's starting parameters.
    static func fixtureNetwork(_ f: [String: Any], variant: Kernels.Variant) throws -> Sequential {
        let net = try Architecture(input: [2, 8, 8], spec: try #require(f["spec"] as? String)).build()
        net.variant = variant
        let parameters = try #require(f["parameters"] as? [String: [Double]])
        #expect(Set(parameters.keys) == Set(net.namedParameters.map(\.name)))
        for (name, p) in net.namedParameters { p.value.copy(from: try #require(parameters[name]).map { Float($0) }) }
        return net
    }

    /// Checks every tensor of `actual` against `expected` by name, ≤ 1e-5 relative to its largest
    /// value; returns the largest error. A bias right before batch norm has an exact gradient of
    /// 0 (the mean takes it out again), so there both sides hold rounding noise only.
    static func compare(_ actual: [(name: String, parameter: Parameter)], _ expected: [String: [Double]], gradients: Bool = false,
                        sourceLocation: SourceLocation = #_sourceLocation) throws -> Double {
        #expect(Set(expected.keys) == Set(actual.map(\.name)), sourceLocation: sourceLocation)
        var worst = 0.0
        for (name, p) in actual {
            let want = try #require(expected[name])
            let got = gradients ? p.gradient.array : p.value.array
            if gradients && want.allSatisfy({ abs($0) < 1e-5 }) {
                #expect(got.allSatisfy { abs($0) < 1e-5 }, "\(name)", sourceLocation: sourceLocation)
                continue
            }
            let error = NormLayerTests.relativeError(got, want)
            worst = max(worst, error)
            #expect(error <= 1e-5, "\(name): \(error)", sourceLocation: sourceLocation)
        }
        return worst
    }

    @Test("forward, backward, a momentum step and evaluation match PyTorch to 1e-5", arguments: Kernels.Variant.allCases)
    func matchesPyTorch(variant: Kernels.Variant) throws {
        let f = try Self.fixture()
        let net = try Self.fixtureNetwork(f, variant: variant)
        let n = try #require(f["batch"] as? Int)
        let x = try #require(f["input"] as? [Double]).map { Float($0) }
        let g = try #require(f["output_gradient"] as? [Double]).map { Float($0) }
        net.reserve(batch: n)
        net.input.update(from: x, count: x.count)
        net.forward(batch: n, training: true)
        let output = Array(UnsafeBufferPointer(start: net.output, count: n * 3))
        var worst = NormLayerTests.relativeError(output, try #require(f["train_output"] as? [Double]))
        net.outputGradient.update(from: g, count: g.count)
        net.backward(batch: n)
        worst = max(worst, try Self.compare(net.namedParameters, try #require(f["gradients"] as? [String: [Double]]), gradients: true))
        worst = max(worst, try Self.compare(net.namedState, try #require(f["state"] as? [String: [Double]])))
        let evaluated = try net.forward(Tensor(shape: [n, 2, 8, 8], scalars: x)).scalars
        worst = max(worst, NormLayerTests.relativeError(evaluated, try #require(f["eval_output"] as? [Double])))

        // A whole step from the same start: softmax cross-entropy and SGD with momentum.
        let stepped = try Self.fixtureNetwork(f, variant: variant)
        let labels = try #require(f["labels"] as? [Int])
        let optimizer = try Momentum(parameters: stepped.parameters, learningRate: 0.1, momentum: 0.9)
        let loss = try stepped.trainingStep(inputs: Tensor(shape: [n, 2, 8, 8], scalars: x), labels: labels,
                                            loss: SoftmaxCrossEntropy(), optimizer: optimizer)
        let expectedLoss = try #require(f["step_loss"] as? Double)
        worst = max(worst, abs(Double(loss) - expectedLoss) / expectedLoss)
        worst = max(worst, try Self.compare(stepped.namedParameters, try #require(f["step_parameters"] as? [String: [Double]])))
        worst = max(worst, try Self.compare(stepped.namedState, try #require(f["step_state"] as? [String: [Double]])))
        #expect(worst <= 1e-5)
        print("residual_step.json, \(variant): largest relative difference from PyTorch \(worst)")
    }

    // MARK: what the trainer does with layers

    static let description = Model.Description(
        architecture: Architecture(input: [1, 8, 8], spec: "conv 4 3 pad 1, batchnorm, relu, "
                                   + "residual(conv 4 3 pad 1, batchnorm, relu, dropout 0.25, conv 4 3 pad 1, batchnorm), relu, "
                                   + "residual(conv 6 3 pad 1 stride 2, batchnorm, relu, conv 6 3 pad 1, batchnorm), relu, "
                                   + "globalavgpool, flatten, dense 2"),
        loss: .softmaxCrossEntropy, digits: [0, 1], normalization: .unit)

    @Test("stopped and resumed equals uninterrupted, with shares, running statistics and dropout inside blocks",
          arguments: [(3, 1), (0, 1), (3, 2), (1, 3)])
    func resumeIsExact(setupIndex: Int, shares: Int) throws {
        let setup = CheckpointTests.setups[setupIndex], epochs = 4
        let (full, resumed) = try CheckpointTests.straightAndResumed(setup, description: Self.description, shares: shares, epochs: epochs)
        #expect(CheckpointTests.bits(resumed) == CheckpointTests.bits(full))
        // The blocks' batch norms counted every step.
        let tracked = full.network.namedState.first { $0.name == "5.shortcut.1.num_batches_tracked" }?.parameter.value.array
        #expect(tracked == [Float(epochs * ((try CheckpointTests.images().count + setup.batch - 1) / setup.batch))])
    }

    @Test("with shares, the blocks' running statistics are the mean over shares of each share's update")
    func sharesAverageInnerState() throws {
        let data = try CheckpointTests.images()
        func model() throws -> Model {
            let m = try Model(Self.description)
            var g = SeededGenerator(seed: 7)
            m.network.initialize(.auto, generator: &g)
            return m
        }
        let sharded = try model()
        let trainer = try Trainer(network: sharded.network, loss: sharded.loss,
                                  optimizer: try SGD(parameters: sharded.network.parameters, learningRate: 0.1), batchSize: 24, seed: 3, shares: 2)
        try trainer.fit(data, epochs: 0..<1) { _ in }
        let net = try model().network
        net.reserve(batch: 24)
        let targets = Buffer(count: 24 * 2), order = Array(0..<data.count)
        var sums = net.state.map { [Double](repeating: 0, count: $0.count) }
        let start = net.state.map(\.value.array)
        for (lo, m) in [(0, 12), (12, 12)] {
            for (p, values) in zip(net.state, start) { p.value.copy(from: values) }
            order.withUnsafeBufferPointer { data.fill(input: net.input, targets: targets.pointer, order: $0, start: lo, count: m, normalization: .unit) }
            net.forward(batch: m, training: true, noiseKey: noiseKey(seed: 3, step: 0), firstSample: lo)
            for (k, p) in net.state.enumerated() { for i in 0..<p.count { sums[k][i] += Double(p.value.pointer[i]) } }
        }
        #expect(net.state.count == 18)  // six batch norms, three inside each block
        for (p, sum) in zip(sharded.network.state, sums) {
            for i in 0..<p.count { #expect(abs(Double(p.value.pointer[i]) - sum[i] / 2) <= 1e-6 * (1 + abs(sum[i])), "\(p.name)") }
        }
    }

    @Test("dropout inside a block is keyed by the step, the block and the sample: the same in any shares, unlike another block's")
    func dropoutKeys() throws {
        let block = try #require(try Architecture.layer("residual(dropout 0.5)", input: [64]) as? Residual)
        block.reserve(batch: 4)
        let x = [Float](repeating: 1, count: 4 * 64)
        func run(_ layerIndex: Int, first: Int, count: Int) -> [Float] {
            var y = [Float](repeating: 0, count: count * 64)
            var pass = Pass(variant: .simd, training: true, noiseKey: 77, firstSample: first)
            pass.layerIndex = layerIndex
            block.forward(x, &y, batch: count, pass: pass)
            return y
        }
        let whole = run(2, first: 0, count: 4)
        #expect(Set(whole) == [1, 3])  // x + 0 or x + 2x
        #expect(Array(whole[128...]) == run(2, first: 2, count: 2))
        #expect(whole != run(3, first: 0, count: 4))
        var plain = [Float](repeating: 0, count: 4 * 64)
        var pass = Pass(variant: .simd, training: true, noiseKey: 77)
        pass.layerIndex = 2
        try Dropout(input: [64], probability: 0.5).forward(x, &plain, batch: 4, pass: pass)
        #expect(whole != plain.map { $0 + 1 })  // not the same mask as a top-level dropout at position 2
    }

    @Test("the same seed gives the same weights on 1 and 2 threads")
    func threadsDoNotChangeResults() throws {
        let description = Model.Description(
            architecture: Architecture(input: [1, 28, 28], spec: "conv 8 3 pad 1, batchnorm, relu, "
                                       + "residual(conv 8 3 pad 1, batchnorm, relu, conv 8 3 pad 1, batchnorm), relu, "
                                       + "residual(conv 16 3 pad 1 stride 2, batchnorm, relu, conv 16 3 pad 1, batchnorm), relu, "
                                       + "globalavgpool, flatten, dense 2"),
            loss: .softmaxCrossEntropy, digits: [0, 1], normalization: .mnist)
        let setup = CheckpointTests.Setup(optimizer: "adam", schedule: .constant, reshuffle: true, batch: 24)
        var results: [[[UInt32]]] = []
        let before = Kernels.threads
        defer { Kernels.threads = before }
        for threads in [1, 2, 1] {
            Kernels.threads = threads
            let (model, trainer) = try CheckpointTests.trainer(setup, description: description)
            try trainer.fit(try CheckpointTests.images(count: 48, side: 28), epochs: 0..<1) { _ in }
            results.append((model.network.parameters + model.network.state).map { $0.value.array.map(\.bitPattern) })
        }
        #expect(results[0] == results[1] && results[1] == results[2])
    }

    @Test("every init scheme reaches the layers inside blocks; batch norms start at 1 and 0", arguments: WeightInit.allCases)
    func initReachesInnerLayers(scheme: WeightInit) throws {
        let net = try Architecture(input: [3, 32, 32], spec: Self.issueSpec).build()
        var g = SeededGenerator(seed: 1)
        net.initialize(scheme, generator: &g)
        for (name, p) in net.namedParameters {
            let values = p.value.array
            if name.hasSuffix("weight") && p.shape.count > 1 {
                #expect(values.contains { $0 != 0 }, "\(name) left at zero")
            }
        }
        let shortcutNorm = try #require(net.namedParameters.first { $0.name == "5.shortcut.1.weight" }).parameter
        #expect(shortcutNorm.value.array.allSatisfy { $0 == 1 })
        if scheme == .auto {
            // The block's last conv is followed (after batch norm and the sum) by a ReLU: He.
            let last = try #require(net.namedParameters.first { $0.name == "3.body.3.weight" }).parameter.value.array
            let variance = last.reduce(0) { $0 + Double($1 * $1) } / Double(last.count)
            #expect(abs(variance - 2.0 / 144) < 0.2 * 2.0 / 144, "variance \(variance)")
        }
    }

    @Test("scalar and SIMD kernels agree inside blocks; inference equals the training code's inference pass")
    func variantsAndInference() throws {
        let net = try Architecture(input: [3, 32, 32], spec: Self.issueSpec).build()
        var g = SeededGenerator(seed: 2)
        net.initialize(generator: &g)
        let x = try Tensor(shape: [3, 3, 32, 32], scalars: (0..<3 * 3072).map { _ in g.nextUnitFloat() * 2 - 1 })
        let simd = try net.forward(x).scalars
        net.reserve(batch: 3)
        x.withPointer { net.input.update(from: $0, count: x.count) }
        net.forward(batch: 3)
        #expect(Array(UnsafeBufferPointer(start: net.output, count: 30)) == simd)
        net.variant = .scalar
        let scalar = try net.forward(x).scalars
        #expect(NormLayerTests.relativeError(scalar, simd.map(Double.init)) <= 1e-5)
        let activations = try net.activations(for: try Tensor(shape: [3, 32, 32], scalars: Array(x.scalars[..<3072])))
        #expect(activations.count == 11 && activations[4].shape == [16, 32, 32] && activations[6].shape == [32, 16, 16])
    }
}
