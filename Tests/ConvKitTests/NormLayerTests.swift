import Foundation
import Testing
@testable import ConvKit
import ConvKitFiles

/// Batch norm, dropout and average pooling as layers: gradients against finite differences,
/// training against inference, PyTorch's numbers, initialisation, shares, model files and resume.
@Suite("Batch norm, dropout and average pooling layers")
struct NormLayerTests {
    @Test func batchNormGradients() throws {
        LayerGradientTests.check(try BatchNorm(input: [3, 4, 5]), batch: 3, seed: 31)
        LayerGradientTests.check(try BatchNorm(input: [7]), batch: 4, seed: 32)
        LayerGradientTests.check(try BatchNorm(input: [2, 1, 1]), batch: 5, seed: 33)
    }

    @Test func dropoutAndPoolingGradients() throws {
        LayerGradientTests.check(try Dropout(input: [2, 3, 5], probability: 0.4), batch: 3, seed: 34)
        LayerGradientTests.check(try AvgPool2D(input: [2, 6, 7], size: 2), batch: 2, seed: 35)
        LayerGradientTests.check(try AvgPool2D(input: [1, 7, 7], size: 3, stride: 2), batch: 2, seed: 36)
        LayerGradientTests.check(try GlobalAvgPool2D(input: [3, 4, 5]), batch: 2, seed: 37)
    }

    /// A batch of `n` samples of `layer`'s input, values from `seed`.
    static func batch(_ layer: any Layer, _ n: Int, seed: UInt64, offset: Float = 0) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        return (0..<n * layer.inputCount).map { _ in rng.nextUnitFloat() * 4 - 2 + offset }
    }

    @Test("batch norm: batch statistics in training, running ones in inference")
    func batchNormTrainingAndInference() throws {
        let layer = try BatchNorm(input: [2, 3, 3])
        let n = 4, x = Self.batch(layer, n, seed: 40, offset: 3)
        layer.weight.value.copy(from: [2, 0.5])
        layer.bias.value.copy(from: [1, -1])
        var y = [Float](repeating: .nan, count: x.count)
        layer.forward(x, &y, batch: n, pass: Pass(variant: .simd, training: true))

        // Training: each channel of the output has mean β and standard deviation γ (up to ε).
        for c in 0..<2 {
            let values = (0..<n).flatMap { s in (0..<9).map { Double(y[(s * 2 + c) * 9 + $0]) } }
            let inputs = (0..<n).flatMap { s in (0..<9).map { Double(x[(s * 2 + c) * 9 + $0]) } }
            let mean = values.reduce(0, +) / 36, sd = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 36).squareRoot()
            #expect(abs(mean - [1, -1][c]) < 1e-5)
            #expect(abs(sd - [2, 0.5][c]) < 1e-3)
            // PyTorch's update from (0, 1): 0.1·mean and 0.9 + 0.1·unbiased variance.
            let m = inputs.reduce(0, +) / 36, unbiased = inputs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / 35
            #expect(abs(Double(layer.runningMean.value.pointer[c]) - 0.1 * m) < 1e-5)
            #expect(abs(Double(layer.runningVariance.value.pointer[c]) - (0.9 + 0.1 * unbiased)) < 1e-5)
        }
        #expect(layer.batchesTracked.value.array == [1])

        // Inference: the running statistics, and nothing changes.
        layer.runningMean.value.copy(from: [0.5, -2])
        layer.runningVariance.value.copy(from: [4, 0.25])
        layer.forward(x, &y, batch: n, pass: Pass(variant: .scalar))
        for i in 0..<x.count {
            let c = (i / 9) % 2
            let expected = (Double(x[i]) - [0.5, -2][c]) / ([4, 0.25][c] + 1e-5).squareRoot() * [2, 0.5][c] + [1, -1][c]
            #expect(abs(Double(y[i]) - expected) < 1e-5 * (1 + abs(expected)))
        }
        #expect(layer.runningMean.value.array == [0.5, -2] && layer.batchesTracked.value.array == [1])
    }

    @Test("dropout: identity in inference, masked and scaled in training, the same mask in backward")
    func dropoutTrainingAndInference() throws {
        let layer = try Dropout(input: [50], probability: 0.5)
        let n = 8, x = Self.batch(layer, n, seed: 41, offset: 3)  // no zeros in x
        layer.reserve(batch: n)
        var y = [Float](repeating: .nan, count: x.count), dx = y
        layer.forward(x, &y, batch: n, pass: Pass(variant: .simd))
        #expect(y == x)
        layer.forward(x, &y, batch: n, pass: Pass(variant: .simd, training: true, noiseKey: 99))
        let kept = (0..<x.count).filter { y[$0] != 0 }
        #expect(kept.count > x.count / 4 && kept.count < 3 * x.count / 4)
        for i in kept { #expect(y[i] == x[i] * 2) }
        let dy = [Float](repeating: 1, count: x.count)
        layer.backward(x, y, dy, &dx, batch: n, pass: Pass(variant: .scalar))
        for i in 0..<x.count { #expect(dx[i] == (y[i] == 0 ? 0 : 2)) }
        // Another layer position, another mask.
        var other = y
        var pass = Pass(variant: .simd, training: true, noiseKey: 99)
        pass.layerIndex = 3
        layer.forward(x, &other, batch: n, pass: pass)
        #expect(other != y)
    }

    @Test("every weight scheme starts batch norm at γ = 1, β = 0, and He still sees the ReLU after it")
    func initialization() throws {
        for scheme in WeightInit.allCases {
            let net = try Architecture(input: [1, 8, 8], spec: "conv 4 3, batchnorm, relu, flatten, dense 6, batchnorm, dense 2").build()
            var g = SeededGenerator(seed: 5)
            net.initialize(scheme, generator: &g)
            for layer in net.layers.compactMap({ $0 as? BatchNorm }) {
                #expect(layer.weight.value.array.allSatisfy { $0 == 1 }, "\(scheme)")
                #expect(layer.bias.value.array.allSatisfy { $0 == 0 }, "\(scheme)")
                #expect(layer.runningVariance.value.array.allSatisfy { $0 == 1 } && layer.runningMean.value.array.allSatisfy { $0 == 0 })
            }
        }
        let withNorm = try Architecture(input: [1, 8, 8], spec: "conv 4 3, batchnorm, relu, flatten, dense 2").build()
        let without = try Architecture(input: [1, 8, 8], spec: "conv 4 3, relu, flatten, dense 2").build()
        var g1 = SeededGenerator(seed: 6), g2 = SeededGenerator(seed: 6)
        withNorm.initialize(.auto, generator: &g1)
        without.initialize(.auto, generator: &g2)
        #expect(withNorm.parameters[0].value.array == without.parameters[0].value.array)
    }

    @Test("the spec builds each layer and rejects bad arguments")
    func spec() throws {
        let net = try Architecture(input: [2, 8, 8], spec: "conv 4 3, batchnorm, relu, avgpool 2, dropout 0.25, globalavgpool, flatten, dense 3, batchnorm, dense 2").build()
        #expect(net.layers.map(\.spec) == ["conv 4 3", "batchnorm", "relu", "avgpool 2", "dropout 0.25", "globalavgpool", "flatten", "dense 3", "batchnorm", "dense 2"])
        #expect(net.layers[3].outputShape == [4, 3, 3] && net.layers[5].outputShape == [4, 1, 1])
        #expect(net.namedState.map(\.name) == ["1.running_mean", "1.running_var", "1.num_batches_tracked",
                                               "8.running_mean", "8.running_var", "8.num_batches_tracked"])
        #expect(net.namedState[2].parameter.shape == [])
        #expect(try Architecture(input: [1, 9, 9], spec: "avgpool 3 2").build().outputShape == [1, 4, 4])
        for bad in ["dropout 1", "dropout -0.1", "dropout", "avgpool 10", "batchnorm 3", "globalavgpool 2"] {
            #expect(throws: ShapeError.self, "\(bad)") { try Architecture(input: [1, 8, 8], spec: bad).build() }
        }
        #expect(throws: ShapeError.self) { try Architecture(input: [2, 3], spec: "batchnorm").build() }
    }

    // MARK: PyTorch

    static func fixture() throws -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/batchnorm_step.json")
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    /// max |a − b| / max |b|.
    static func relativeError(_ a: [Float], _ b: [Double]) -> Double {
        let scale = b.map(abs).max() ?? 0
        return zip(a, b).map { abs(Double($0) - $1) }.max().map { $0 / max(scale, 1e-30) } ?? 0
    }

    @Test("one training step and an inference pass match PyTorch", arguments: Kernels.Variant.allCases)
    func matchesPyTorch(variant: Kernels.Variant) throws {
        let f = try Self.fixture()
        let net = try Architecture(input: [2, 6, 6], spec: "conv 3 3, batchnorm, relu, avgpool 2, flatten, dense 4, batchnorm, dense 2").build()
        net.variant = variant
        let parameters = try #require(f["parameters"] as? [String: [Double]])
        for (name, p) in net.namedParameters { p.value.copy(from: try #require(parameters[name]).map { Float($0) }) }
        let n = try #require(f["batch"] as? Int)
        let x = try #require(f["input"] as? [Double]).map { Float($0) }
        let g = try #require(f["output_gradient"] as? [Double]).map { Float($0) }
        net.reserve(batch: n)
        net.input.update(from: x, count: x.count)
        net.forward(batch: n, training: true)
        let output = Array(UnsafeBufferPointer(start: net.output, count: n * 2))
        #expect(Self.relativeError(output, try #require(f["train_output"] as? [Double])) <= 1e-5)
        net.outputGradient.update(from: g, count: g.count)
        net.backward(batch: n)
        let gradients = try #require(f["gradients"] as? [String: [Double]])
        for (name, p) in net.namedParameters {
            let expected = try #require(gradients[name])
            if name == "0.bias" || name == "5.bias" {
                // A bias right before batch norm is subtracted out again with the mean: its exact
                // gradient is 0, and both sides hold rounding noise, far below the others' scale.
                #expect(p.gradient.array.allSatisfy { abs($0) < 1e-5 } && expected.allSatisfy { abs($0) < 1e-5 }, "\(name)")
                continue
            }
            let error = Self.relativeError(p.gradient.array, expected)
            #expect(error <= 1e-5, "\(name): \(error)")
        }
        let state = try #require(f["state"] as? [String: [Double]])
        #expect(Set(state.keys) == Set(net.namedState.map(\.name)))
        for (name, p) in net.namedState {
            let error = Self.relativeError(p.value.array, try #require(state[name]))
            #expect(error <= 1e-5, "\(name): \(error)")
        }
        let evaluated = try net.forward(Tensor(shape: [n, 2, 6, 6], scalars: x)).scalars
        #expect(Self.relativeError(evaluated, try #require(f["eval_output"] as? [Double])) <= 1e-5)
    }

    // MARK: shares, files, resume

    static let normDescription = Model.Description(
        architecture: Architecture(input: [1, 8, 8], spec: "conv 3 3, batchnorm, relu, dropout 0.25, avgpool 2, flatten, dense 4, batchnorm, dense 2"),
        loss: .softmaxCrossEntropy, digits: [0, 1], normalization: .unit)

    @Test("with shares, running statistics are the mean over shares of each share's update")
    func sharesAverageTheRunningStatistics() throws {
        let data = try CheckpointTests.images()
        func model() throws -> Model {
            let m = try Model(Self.normDescription)
            var g = SeededGenerator(seed: 7)
            m.network.initialize(.auto, generator: &g)
            return m
        }
        let sharded = try model()
        let trainer = try Trainer(network: sharded.network, loss: sharded.loss, optimizer: try SGD(parameters: sharded.network.parameters, learningRate: 0.1),
                                  batchSize: 24, seed: 3, shares: 2)
        try trainer.fit(data, epochs: 0..<1) { _ in }

        // By hand: each share's forward pass from the same starting state, then the mean.
        let reference = try model(), net = reference.network
        net.reserve(batch: 24)
        let targets = Buffer(count: 24 * 2)
        let order = Array(0..<data.count)
        var sums = net.state.map { [Double](repeating: 0, count: $0.count) }
        let start = net.state.map(\.value.array)
        for (lo, m) in [(0, 12), (12, 12)] {
            for (p, values) in zip(net.state, start) { p.value.copy(from: values) }
            order.withUnsafeBufferPointer { data.fill(input: net.input, targets: targets.pointer, order: $0, start: lo, count: m, normalization: .unit) }
            net.forward(batch: m, training: true, noiseKey: noiseKey(seed: 3, step: 0), firstSample: lo)
            for (k, p) in net.state.enumerated() { for i in 0..<p.count { sums[k][i] += Double(p.value.pointer[i]) } }
        }
        for (p, sum) in zip(sharded.network.state, sums) {
            for i in 0..<p.count { #expect(abs(Double(p.value.pointer[i]) - sum[i] / 2) <= 1e-6 * (1 + abs(sum[i])), "\(p.name)") }
        }
        #expect(sharded.network.state.filter { $0.name == "num_batches_tracked" }.allSatisfy { $0.value.array == [1] })
    }

    @Test("dropout masks do not depend on how a batch is split into shares")
    func dropoutIsTheSameInShares() throws {
        var weights: [[Float]] = []
        for shares in [1, 3] {
            let m = try Model(Model.Description(architecture: Architecture(input: [1, 8, 8], spec: "flatten, dense 16, relu, dropout 0.5, dense 2"),
                                                loss: .softmaxCrossEntropy, digits: [0, 1], normalization: .unit))
            var g = SeededGenerator(seed: 7)
            m.network.initialize(.auto, generator: &g)
            let trainer = try Trainer(network: m.network, loss: m.loss, optimizer: try SGD(parameters: m.network.parameters, learningRate: 0.5),
                                      batchSize: 12, seed: 3, shares: shares)
            try trainer.fit(try CheckpointTests.images(), epochs: 0..<2) { _ in }
            weights.append(m.network.parameters.flatMap(\.value.array))
        }
        // Only the summation order of the gradients differs; different masks would differ by far more.
        let largest = zip(weights[0], weights[1]).map { abs($0 - $1) }.max() ?? 0
        #expect(largest < 1e-5, "largest difference \(largest)")
    }

    /// The one line a file's rejection gives, or "accepted".
    func message(_ file: SafeTensorsFile) -> String {
        do {
            _ = try Model(file: file, path: "m")
            return "accepted"
        } catch {
            return error.description
        }
    }

    @Test("model files hold the running statistics; num_batches_tracked is I64 of shape []")
    func modelFiles() throws {
        let (model, trainer) = try CheckpointTests.trainer(CheckpointTests.setups[1], description: Self.normDescription)
        try trainer.fit(try CheckpointTests.images(), epochs: 0..<1) { _ in }
        let bytes = try model.file().encode()
        let header = String(decoding: bytes[8..<(8 + Int(bytes[0]) + 256 * Int(bytes[1]))], as: UTF8.self)
        #expect(header.contains(#""1.num_batches_tracked":{"dtype":"I64","shape":[]"#), "\(header)")
        let file = try SafeTensorsFile.decode(bytes: bytes)
        #expect(file.integerTensors == ["1.num_batches_tracked", "7.num_batches_tracked"])
        #expect(file["1.num_batches_tracked"]?.scalars == [5])  // 24 images in batches of 5
        let loaded = try Model(file: file, path: "m")
        #expect(loaded.network.state.map(\.value.array) == model.network.state.map(\.value.array))
        #expect(loaded.network.state[0].value.array != [0, 0, 0])

        var missing = file
        missing.tensors.removeAll { $0.name == "7.running_var" }
        #expect(message(missing) == "m: tensor \"7.running_var\" 4 is missing for this architecture")
        var wrong = file
        let i = try #require(wrong.tensors.firstIndex { $0.name == "1.running_mean" })
        wrong.tensors[i].tensor = try Tensor(zeros: [4])
        #expect(message(wrong) == "m: tensor \"1.running_mean\" is 4 but the architecture needs 3")
        var extra = file
        extra.tensors.append((name: "3.running_mean", tensor: try Tensor(zeros: [3])))
        #expect(message(extra) == "m: tensor \"3.running_mean\" is not part of this architecture")
    }

    @Test("stopped after epoch 2 of 4 and resumed equals uninterrupted, running statistics and dropout included",
          arguments: [(3, 1), (3, 2), (0, 1), (1, 3)])
    func resumeIsExact(setupIndex: Int, shares: Int) throws {
        // Setup 0 is plain SGD (fused into the backward pass) with batch 1, where the batch norm
        // after the dense layer sees one value per feature: its output is β, its variance 0.
        let setup = CheckpointTests.setups[setupIndex], epochs = 4
        let (full, resumed) = try CheckpointTests.straightAndResumed(setup, description: Self.normDescription, shares: shares, epochs: epochs)
        #expect(CheckpointTests.bits(resumed) == CheckpointTests.bits(full))
    }
}

/// Batch norm and dropout under `mpirun -np 2` against one process with `--shares 2`: the same
/// weights and running statistics, bit for bit. Needs a build with MPI and mpirun on PATH.
@Suite("Batch norm and dropout on MPI", .serialized)
struct NormDataParallelTests {
    @Test("2 ranks end bit-identical to one process with 2 shares, running statistics included",
          .enabled(if: DataParallelTests.canRun))
    func twoRanksMatchTwoShares() throws {
        let dir = TemporaryDirectory()
        let recipe = ["train", "--layers", "conv 4 5, batchnorm, relu, avgpool 2, dropout 0.25, flatten, dense 12, batchnorm, relu, dense 10",
                      "--loss", "softmax-ce", "--optimizer", "adam", "--lr", "0.01", "--digits", "all",
                      "--per-class", "10", "--test-per-class", "5", "--epochs", "2", "--batch", "25", "--seed", "3"]
        let ranks = try DataParallelTests.mpirun(2, recipe + ["--save", dir.path + "/ranks.safetensors"])
        #expect(ranks.status == 0, "\(ranks.stderr)")
        let shares = try CLITests.run(recipe + ["--shares", "2", "--save", dir.path + "/shares.safetensors"])
        #expect(shares.status == 0, "\(shares.stderr)")
        func tensors(_ path: String) throws -> [[UInt32]] {
            let network = try Model.load(path: path).model.network
            return (network.parameters + network.state).map { $0.value.array.map(\.bitPattern) }
        }
        let a = try tensors(dir.path + "/ranks.safetensors"), b = try tensors(dir.path + "/shares.safetensors")
        #expect(a == b)
        // The running statistics moved: 2 epochs of 4 steps.
        let model = try Model.load(path: dir.path + "/shares.safetensors").model
        #expect(model.network.namedState.first { $0.name == "1.num_batches_tracked" }?.parameter.value.array == [8])
    }
}

extension NormLayerTests {
    @Test("a step with a non-finite loss leaves the running statistics as they were", arguments: [1, 2])
    func nonFiniteLossKeepsState(shares: Int) throws {
        let net = try Architecture(input: [4], spec: "dense 3, batchnorm, dense 2").build()
        var g = SeededGenerator(seed: 1)
        net.initialize(.glorot, generator: &g)
        let inputs = try Tensor(shape: [4, 4], scalars: (0..<16).map { Float($0) })
        let optimizer = try SGD(parameters: net.parameters, learningRate: 0.1)
        _ = try net.trainingStep(inputs: inputs, labels: [0, 1, 0, 1], loss: SoftmaxCrossEntropy(), optimizer: optimizer)
        let before = net.state.map(\.value.array)
        #expect(before[2] == [1])
        // Infinite targets make the loss infinite or NaN.
        let huge = try Tensor(shape: [4, 2], scalars: [Float](repeating: .infinity, count: 8))
        let step = try TrainingStep(network: net, loss: SoftmaxCrossEntropy(), optimizer: optimizer, batchSize: 4,
                                    reduction: .shares(shares))
        let result = try step.run(TensorBatch(inputs: inputs, targets: huge), learningRate: optimizer.learningRate, noiseKey: 0)
        let loss = result.loss
        #expect(!loss.isFinite)
        #expect(result.divergence == .loss)
        #expect(net.state.map(\.value.array) == before)
    }
}

@Suite("Safetensors I64 tensors")
struct SafeTensorsIntegerTests {
    @Test func integerTensorsRoundTrip() throws {
        let file = SafeTensorsFile(tensors: [(name: "a", tensor: try Tensor(shape: [2], scalars: [1.5, -2])),
                                             (name: "n", tensor: try Tensor(shape: [], scalars: [123_456])),
                                             (name: "m", tensor: try Tensor(shape: [3], scalars: [-7, 0, 16_777_216]))],
                                   integerTensors: ["n", "m"])
        let bytes = try file.encode()
        let header = String(decoding: bytes[8..<(8 + Int(bytes[0]) + 256 * Int(bytes[1]))], as: UTF8.self)
        #expect(header.contains(#""n":{"dtype":"I64","shape":[],"data_offsets":[8,16]}"#), "\(header)")
        #expect(header.contains(#""m":{"dtype":"I64","shape":[3],"data_offsets":[16,40]}"#), "\(header)")
        // Little-endian two's complement: −7 is F9 FF … FF.
        let data = Array(bytes[(bytes.count - 24)...])
        #expect(Array(data[0..<8]) == [0xF9, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        let decoded = try SafeTensorsFile.decode(bytes: bytes)
        #expect(decoded == file)
        #expect(decoded["n"]?.scalars == [123_456] && decoded["m"]?.scalars == [-7, 0, 16_777_216])
    }

    @Test func anI64TensorNeedsEightBytesAValue() throws {
        let json = Array(#"{"n":{"dtype":"I64","shape":[1],"data_offsets":[0,4]}}"#.utf8)
        var bytes = (0..<8).map { UInt8(truncatingIfNeeded: json.count >> (8 * $0)) } + json
        bytes += [0, 0, 0, 0]
        #expect(throws: ModelFileError.sizeMismatch("f", tensor: "n", shape: [1], bytes: 4)) { try SafeTensorsFile.decode(bytes: bytes, file: "f") }
    }
}

extension NormLayerTests {
    @Test("the same seed gives the same weights and running statistics on 1 and 2 threads")
    func threadsDoNotChangeResults() throws {
        // 28×28 images in batches of 24: large enough for the kernels' threads.
        let description = Model.Description(
            architecture: Architecture(input: [1, 28, 28], spec: "conv 8 5, batchnorm, relu, avgpool 2, dropout 0.3, conv 8 3, batchnorm, relu, globalavgpool, flatten, dense 2"),
            loss: .softmaxCrossEntropy, digits: [0, 1], normalization: .unit)
        let setup = CheckpointTests.Setup(optimizer: "adam", schedule: .constant, reshuffle: true, batch: 24)
        var results: [[[UInt32]]] = []
        let before = Kernels.threads
        defer { Kernels.threads = before }
        for threads in [1, 2] {
            Kernels.threads = threads
            let (model, trainer) = try CheckpointTests.trainer(setup, description: description)
            try trainer.fit(try CheckpointTests.images(count: 48, side: 28), epochs: 0..<2) { _ in }
            results.append((model.network.parameters + model.network.state).map { $0.value.array.map(\.bitPattern) })
        }
        #expect(results[0] == results[1])
    }
}
