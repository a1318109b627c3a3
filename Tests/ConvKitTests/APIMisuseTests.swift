import Foundation
import Testing
import ConvKit

/// Everything a caller can get wrong through the public Swift API: each case is a typed error or
/// a documented result, never a trap or a write out of bounds. CI runs this suite under
/// AddressSanitizer (.ci/run).
@Suite("API misuse: typed errors, never a crash")
struct APIMisuseTests {
    static func random(_ shape: [Int], seed: UInt64 = 1) throws -> Tensor {
        var rng = SeededGenerator(seed: seed)
        return try Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in rng.nextUnitFloat() - 0.5 })
    }

    @Test("tensors: counts that do not fill the shape, negative or overflowing dimensions")
    func tensors() throws {
        #expect(throws: ShapeError.self) { try Tensor(shape: [2, 3], scalars: [1, 2, 3]) }
        #expect(throws: ShapeError.self) { try Tensor(shape: [-1, -3], scalars: [1, 2, 3]) }
        #expect(throws: ShapeError.self) { try Tensor(shape: [Int.max, 3], scalars: []) }
        #expect(throws: ShapeError.self) { try Tensor(zeros: [1 << 20, 1 << 20]) }
        #expect(throws: ShapeError.self) { try Tensor(zeros: [2, -2]) }
        #expect(throws: ShapeError.self) { try Tensor(rows: [[1, 2], [3]]) }
        var t = try Tensor(zeros: [2, 3])
        #expect(throws: ShapeError.self) { try t.reshape([4]) }
        #expect(throws: ShapeError.self) { try t.reshaped([7]) }
        #expect(try Tensor(zeros: [0, 3]).count == 0)
    }

    @Test("every kernel wrapper refuses shapes that do not fit")
    func kernelShapes() throws {
        let plane = try Self.random([5, 5]), small = try Self.random([2, 2])
        let x = try Self.random([2, 3, 6, 6]), k = try Self.random([4, 3, 3, 3])
        let empty = try Tensor(zeros: [0, 3, 6, 6])
        // correlation and convolution
        #expect(throws: ShapeError.self) { try correlateValid(small, plane) }
        #expect(throws: ShapeError.self) { try correlateValid(plane, try Self.random([2, 2, 2])) }
        #expect(throws: ShapeError.self) { try correlateFull(try Self.random([5]), small) }
        #expect(throws: ShapeError.self) { try convolveFull(try Tensor(zeros: [0, 5]), small) }
        #expect(throws: ShapeError.self) { try convolveValid(plane, try Tensor(zeros: [0, 0])) }
        #expect(throws: ShapeError.self) { try correlateValid(x, small) }
        // conv2d and its gradients
        #expect(throws: ShapeError.self) { try conv2d(x, kernel: try Self.random([4, 2, 3, 3])) }       // channels
        #expect(throws: ShapeError.self) { try conv2d(x, kernel: try Self.random([4, 3, 7, 3])) }       // kernel taller than input
        #expect(throws: ShapeError.self) { try conv2d(x, kernel: k, bias: try Self.random([3])) }      // bias
        #expect(throws: ShapeError.self) { try conv2d(empty, kernel: k) }
        #expect(throws: ShapeError.self) { try conv2d(try Self.random([3, 6, 6]), kernel: k) }
        let dy = try conv2d(x, kernel: k)
        #expect(throws: ShapeError.self) { try conv2dKernelGradient(input: try Self.random([3, 3, 6, 6]), outputGradient: dy) }
        #expect(throws: ShapeError.self) { try conv2dKernelGradient(input: try Self.random([2, 3, 3, 3]), outputGradient: dy) }
        #expect(throws: ShapeError.self) { try conv2dInputGradient(outputGradient: dy, kernel: try Self.random([5, 3, 3, 3])) }
        #expect(throws: ShapeError.self) { try conv2dBiasGradient(outputGradient: try Self.random([4, 4, 4])) }
        // dense
        let input = try Self.random([4, 10]), weight = try Self.random([3, 10])
        #expect(throws: ShapeError.self) { try dense(input, weight: try Self.random([3, 9])) }
        #expect(throws: ShapeError.self) { try dense(input, weight: weight, bias: try Self.random([4])) }
        #expect(throws: ShapeError.self) { try dense(try Self.random([40]), weight: weight) }
        #expect(throws: ShapeError.self) { try denseGradients(input: input, weight: weight, outputGradient: try Self.random([4, 4])) }
        // maps and pooling
        #expect(throws: ShapeError.self) { try reluGradient(outputGradient: try Self.random([3]), output: try Self.random([4])) }
        #expect(throws: ShapeError.self) { try maxPool2D(x, size: 7) }
        #expect(throws: ShapeError.self) { try maxPool2D(x, size: 2, stride: 0) }
        #expect(throws: ShapeError.self) { try maxPool2D(try Self.random([6, 6]), size: 2) }
        let pooled = try maxPool2D(x, size: 2)
        #expect(throws: ShapeError.self) { try maxPool2DGradient(outputGradient: try Self.random([2, 3, 2, 2]), pooled: pooled) }
        #expect(sigmoid(try Tensor(zeros: [0])).count == 0)
        // NaN in, NaN out (documented), no trap.
        #expect(try conv2d(try Tensor(shape: [1, 1, 2, 2], repeating: .nan), kernel: try Self.random([1, 1, 1, 1])).scalars.allSatisfy(\.isNaN))
    }

    @Test("layers that do not chain, and layers that are not ConvKit's, are refused by name")
    func chaining() throws {
        let conv = try Conv2D(input: [1, 28, 28], filters: 8, kernelHeight: 5, kernelWidth: 5)
        do {
            _ = try Sequential(inputShape: [1, 28, 28], layers: [conv, try Dense(input: [100], outputs: 10)])
            Issue.record("a dense layer taking 100 values after an 8×24×24 conv was accepted")
        } catch {
            #expect(error.description.contains("layer 1") && error.description.contains("8×24×24"))
        }
        #expect(throws: ShapeError.self) { try Sequential(inputShape: [1, 27, 28], layers: [conv]) }
        #expect(throws: ShapeError.self) { try Sequential(inputShape: [], layers: []) }
        final class Custom: Layer {
            var inputShape: [Int] { [4] }
            var outputShape: [Int] { [4] }
            var spec: String { "custom" }
            var description: String { "Custom" }
        }
        #expect(throws: ShapeError.self) { try Sequential(inputShape: [4], layers: [Custom()]) }
        #expect(throws: ShapeError.self) { try Architecture(input: [1, 28, 28], spec: "conv 8 5, dense 10, conv 3 3").build() }
        #expect(throws: ShapeError.self) { try conv.kernel.set(try Tensor(zeros: [8, 1, 3, 3])) }
    }

    @Test("a network sizes its buffers for any batch: 64 images, then 1, then 300; batch 0 is empty")
    func anyBatch() throws {
        let net = try Architecture(input: [1, 28, 28], spec: "conv 8 5, relu, maxpool 2, flatten, dense 10").build()
        var rng = SeededGenerator(seed: 3)
        net.initialize(.he, generator: &rng)
        let batch = try Self.random([64, 1, 28, 28])
        let out = try net.forward(batch)
        #expect(out.shape == [64, 10])
        // The same image alone, and inside a larger batch, gives the same outputs.
        let first = try Tensor(shape: [1, 28, 28], scalars: Array(batch.scalars[0..<784]))
        #expect(try net.forward(first).scalars == Array(out.scalars[0..<10]))
        #expect(try net.forward(try Self.random([300, 1, 28, 28])).shape == [300, 10])
        #expect(try net.forward(try Tensor(zeros: [0, 1, 28, 28])).shape == [0, 10])
        #expect(try net.predict(batch).count == 64)
        #expect(throws: ShapeError.self) { try net.forward(try Self.random([2, 28, 28])) }
        #expect(throws: ShapeError.self) { try net.forward(try Self.random([2, 2, 28, 28])) }
        #expect(throws: ShapeError.self) { try net.forward(try Self.random([784])) }
    }

    @Test("training steps: wrong label counts, labels out of range, wrong targets, NaN inputs")
    func trainingSteps() throws {
        let net = try Architecture(input: [1, 6, 6], spec: "conv 2 3, relu, flatten, dense 3").build()
        var rng = SeededGenerator(seed: 4)
        net.initialize(.he, generator: &rng)
        let sgd = try SGD(parameters: net.parameters, learningRate: 0.1)
        let x = try Self.random([4, 1, 6, 6])
        let loss = SoftmaxCrossEntropy()
        #expect(throws: TrainingDataError.labelCount(labels: 3, samples: 4)) {
            try net.trainingStep(inputs: x, labels: [0, 1, 2], loss: loss, optimizer: sgd)
        }
        #expect(throws: TrainingDataError.labelOutOfRange(position: 3, label: 3, classes: 3)) {
            try net.trainingStep(inputs: x, labels: [0, 1, 2, 3], loss: loss, optimizer: sgd)
        }
        #expect(throws: TrainingDataError.labelOutOfRange(position: 1, label: -1, classes: 3)) {
            try net.trainingStep(inputs: x, labels: [0, -1, 2, 2], loss: loss, optimizer: sgd)
        }
        #expect(throws: ShapeError.self) { try net.trainingStep(inputs: x, targets: try Self.random([4, 2]), loss: loss, optimizer: sgd) }
        #expect(throws: TrainingError.emptyData) {
            try net.trainingStep(inputs: try Tensor(zeros: [0, 1, 6, 6]), targets: try Tensor(zeros: [0, 3]), loss: loss, optimizer: sgd)
        }
        // A NaN input makes the loss NaN: an error, and no weight changes.
        let before = net.parameters.map(\.value.array)
        var poisoned = x.scalars
        poisoned[5] = .nan
        #expect(throws: TrainingError.self) {
            try net.trainingStep(inputs: try Tensor(shape: x.shape, scalars: poisoned), labels: [0, 1, 2, 0], loss: loss, optimizer: sgd)
        }
        #expect(net.parameters.map(\.value.array) == before)
        let first = try net.trainingStep(inputs: x, labels: [0, 1, 2, 0], loss: loss, optimizer: sgd)
        for _ in 0..<20 { _ = try net.trainingStep(inputs: x, labels: [0, 1, 2, 0], loss: loss, optimizer: sgd) }
        #expect(try net.trainingStep(inputs: x, labels: [0, 1, 2, 0], loss: loss, optimizer: sgd) < first)
        #expect(throws: ShapeError.self) { try loss.loss(outputs: try Self.random([2, 3]), targets: try Self.random([3, 2])) }
    }

    @Test("data sets and trainers: bad indices, labels, sizes, NaN, batch sizes, mismatched networks")
    func dataAndTrainers() throws {
        let bytes = [UInt8](repeating: 7, count: 4 * 9)
        #expect(throws: TrainingDataError.indexOutOfRange(position: 1, index: 4, available: 4)) {
            try LabeledImages(bytes: bytes, sampleShape: [1, 3, 3], indices: [0, 4], labels: [0, 1], classes: 2)
        }
        #expect(throws: TrainingDataError.indexOutOfRange(position: 0, index: -1, available: 4)) {
            try LabeledImages(bytes: bytes, sampleShape: [1, 3, 3], indices: [-1], labels: [0], classes: 2)
        }
        #expect(throws: TrainingDataError.labelOutOfRange(position: 2, label: 2, classes: 2)) {
            try LabeledImages(bytes: bytes, sampleShape: [1, 3, 3], labels: [0, 1, 2, 0], classes: 2)
        }
        #expect(throws: TrainingDataError.labelCount(labels: 3, samples: 4)) {
            try LabeledImages(bytes: bytes, sampleShape: [1, 3, 3], labels: [0, 1, 1], classes: 2)
        }
        #expect(throws: TrainingDataError.sizeMismatch(values: 36, valuesPerSample: 8)) {
            try LabeledImages(bytes: bytes, sampleShape: [2, 2, 2], labels: [0], classes: 2)
        }
        #expect(throws: TrainingDataError.badSampleShape([0, 3])) { try LabeledImages(bytes: bytes, sampleShape: [0, 3], labels: [], classes: 2) }
        #expect(throws: TrainingDataError.noClasses) { try LabeledImages(floats: [], sampleShape: [2], labels: []) }
        #expect(throws: TrainingDataError.nonFinite(sample: 1)) {
            try LabeledImages(floats: [0, 1, .infinity, 2], sampleShape: [2], labels: [0, 1])
        }

        let net = try Architecture(input: [1, 3, 3], spec: "flatten, dense 2").build()
        let sgd = try SGD(parameters: net.parameters, learningRate: 0.1)
        #expect(throws: TrainingError.badBatchSize(0)) { try Trainer(network: net, loss: SoftmaxCrossEntropy(), optimizer: sgd, batchSize: 0) }
        #expect(throws: TrainingError.badBatchSize(-5)) { try Trainer(network: net, loss: SoftmaxCrossEntropy(), optimizer: sgd, batchSize: -5) }
        #expect(throws: TrainingError.badBatchSize(Int.max)) { try Trainer(network: net, loss: SoftmaxCrossEntropy(), optimizer: sgd, batchSize: Int.max) }
        let trainer = try Trainer(network: net, loss: SoftmaxCrossEntropy(), optimizer: sgd, batchSize: 2)
        let threeClasses = try LabeledImages(bytes: bytes, sampleShape: [1, 3, 3], labels: [0, 1, 2, 0], classes: 3)
        #expect(throws: TrainingError.classCount(data: 3, outputs: 2)) { try trainer.fit(threeClasses, epochs: 0..<1) { _ in } }
        let wrongShape = try LabeledImages(bytes: bytes, sampleShape: [9], labels: [0, 1, 1, 0], classes: 2)
        #expect(throws: TrainingError.sampleShape(data: [9], network: [1, 3, 3])) { try trainer.fit(wrongShape, epochs: 0..<1) { _ in } }
        #expect(throws: TrainingError.sampleShape(data: [9], network: [1, 3, 3])) { try trainer.evaluate(wrongShape) }
        let good = try LabeledImages(bytes: bytes, sampleShape: [1, 3, 3], labels: [0, 1, 1, 0], classes: 2)
        try trainer.fit(good, epochs: 0..<1) { #expect($0.epoch == 1) }
    }
}

extension APIMisuseTests {
    @Test("layer, parameter and network sizes: negative, zero, overflowing or past the cap are ShapeError, before allocating")
    func sizes() throws {
        let cap = Architecture.maxElements
        // Dense
        #expect(throws: ShapeError.self) { try Dense(input: [-5], outputs: 2) }
        #expect(throws: ShapeError.self) { try Dense(input: [0], outputs: 2) }
        #expect(throws: ShapeError.self) { try Dense(input: [5], outputs: -2) }
        #expect(throws: ShapeError.self) { try Dense(input: [1 << 40], outputs: 1 << 40) }
        #expect(throws: ShapeError.self) { try Dense(input: [1 << 20], outputs: 1 << 20) }
        #expect(throws: ShapeError.self) { try Dense(input: [Int.max], outputs: Int.max) }
        #expect(try Dense(input: [16], outputs: 4).parameterCount == 68)
        // Conv2D
        #expect(throws: ShapeError.self) { try Conv2D(input: [-1, 8, 8], filters: 2, kernelHeight: 3, kernelWidth: 3) }
        #expect(throws: ShapeError.self) { try Conv2D(input: [1, 8, -8], filters: 2, kernelHeight: 3, kernelWidth: 3) }
        #expect(throws: ShapeError.self) { try Conv2D(input: [1 << 20, 8, 8], filters: 1 << 20, kernelHeight: 3, kernelWidth: 3) }
        #expect(throws: ShapeError.self) { try Conv2D(input: [1, 1 << 62, 1 << 62], filters: 1, kernelHeight: 1, kernelWidth: 1) }
        #expect(throws: ShapeError.self) { try Conv2D(input: [1, 8, 8], filters: 1 << 40, kernelHeight: 1 << 40, kernelWidth: 3) }
        #expect(throws: ShapeError.self) {
            try Conv2D(input: [1, 8, 8], filters: 1, kernelHeight: Int.max, kernelWidth: Int.max, padding: Int.max - 1)
        }
        #expect(throws: ShapeError.self) { try Conv2D(input: [1, 8, 8], filters: 1 << 21, kernelHeight: 3, kernelWidth: 3) }  // output 2^21·36
        // Parameter
        #expect(throws: ShapeError.self) { try Parameter(name: "weight", shape: [-1]) }
        #expect(throws: ShapeError.self) { try Parameter(name: "weight", shape: [3, -2]) }
        #expect(throws: ShapeError.self) { try Parameter(name: "weight", shape: [3, 0]) }
        #expect(throws: ShapeError.self) { try Parameter(name: "weight", shape: [1 << 40, 1 << 40]) }
        #expect(throws: ShapeError.self) { try Parameter(name: "weight", shape: [cap + 1]) }
        #expect(try Parameter(name: "step", shape: []).count == 1)
        #expect(try Parameter(name: "weight", shape: [2, 3]).tensor.shape == [2, 3])
        // Reshape
        #expect(throws: ShapeError.self) { try Reshape(flattening: [-1, 5]) }
        #expect(throws: ShapeError.self) { try Reshape(flattening: [1 << 40, 1 << 40]) }
        #expect(throws: ShapeError.self) { try Reshape(input: [-1, -5], output: [5]) }   // the products agree
        #expect(throws: ShapeError.self) { try Reshape(input: [5], output: [-1, -5]) }
        #expect(throws: ShapeError.self) { try Reshape(input: [1 << 40, 1 << 40], output: [1 << 40, 1 << 40]) }
        #expect(try Reshape(flattening: [2, 3, 4]).outputShape == [24])
        // Sequential
        #expect(throws: ShapeError.self) { try Sequential(inputShape: [1 << 40, 1 << 40], layers: []) }
        #expect(throws: ShapeError.self) { try Sequential(inputShape: [1 << 62, 1 << 62, 0], layers: []) }
        #expect(throws: ShapeError.self) { try Sequential(inputShape: [4, -1], layers: []) }
        #expect(try Sequential(inputShape: [2, 3], layers: []).outputShape == [2, 3])
        // Every other layer checks its input the same way.
        #expect(throws: ShapeError.self) { try ReLU(input: [-3]) }
        #expect(throws: ShapeError.self) { try Sigmoid(input: [1 << 40, 1 << 40]) }
        #expect(throws: ShapeError.self) { try Tanh(input: [0]) }
        #expect(throws: ShapeError.self) { try BatchNorm(input: [-5]) }
        #expect(throws: ShapeError.self) { try BatchNorm(input: [1 << 40, 1 << 40, 1]) }
        #expect(throws: ShapeError.self) { try Dropout(input: [-2], probability: 0.5) }
        #expect(throws: ShapeError.self) { try Dropout(input: [4], probability: .nan) }
        #expect(throws: ShapeError.self) { try MaxPool2D(input: [-1, 4, 4], size: 2) }
        #expect(throws: ShapeError.self) { try MaxPool2D(input: [1, 4, 4], size: 2, stride: Int.max) }
        #expect(throws: ShapeError.self) { try AvgPool2D(input: [1 << 40, 1 << 40, 4], size: 2) }
        #expect(throws: ShapeError.self) { try GlobalAvgPool2D(input: [-1, 4, 4]) }
        #expect(throws: ShapeError.self) { try Architecture(input: [1 << 40, 1 << 40], spec: "relu").build() }
        #expect(throws: ShapeError.self) { try Architecture(input: [1, 16, 16], spec: "conv 1048576 3").build() }
        do {
            _ = try Dense(input: [1 << 20], outputs: 1 << 20)
        } catch {
            #expect(error.description == "weight 1048576×1048576 exceeds \(cap) values")
        }
    }

    @Test("a tensor without values rotates to itself, however long its other axes")
    func emptyRotation() throws {
        let empty = try Tensor(shape: [0, 1 << 62, 1 << 62], scalars: [])
        #expect(empty.rotated180() == empty)
        #expect(try Tensor(shape: [1 << 62, 0], scalars: []).rotated180().shape == [1 << 62, 0])
        #expect(throws: ShapeError.self) { try convolveValid(empty, empty) }
        let plane = try Tensor(rows: [[1, 2], [3, 4]])
        #expect(plane.rotated180() == (try Tensor(rows: [[4, 3], [2, 1]])))
    }

    @Test("architectures without layers, or with an empty layer line, are refused")
    func emptyArchitectures() throws {
        #expect(throws: ShapeError.self) { try Architecture(spec: "").build() }
        #expect(throws: ShapeError.self) { try Architecture(spec: "  ").build() }
        #expect(throws: ShapeError.self) { try Architecture(layers: []).build() }
        #expect(Architecture(spec: "").layers.isEmpty)
        #expect(Architecture(spec: "a,,b").layers == ["a", "", "b"])
        do {
            _ = try Architecture(input: [1, 6, 6], spec: "flatten,, dense 2").build()
            Issue.record("an empty layer line was accepted")
        } catch {
            #expect(error.description.hasPrefix("layer 1 ''"))
        }
        #expect(throws: ShapeError.self) { try Architecture(input: [1, 6, 6], spec: "flatten, dense 2,").build() }
        #expect(throws: ShapeError.self) { try Architecture(input: [], spec: "relu").build() }
        #expect(try Architecture(input: [1, 6, 6], spec: " flatten , dense 2 ").build().outputShape == [2])
    }

    @Test("optimizer settings out of range are OptimizerError at init")
    func optimizerSettings() throws {
        let p = [try Parameter(name: "weight", shape: [3])]
        #expect(throws: OptimizerError.learningRate(-0.1)) { try SGD(parameters: p, learningRate: -0.1) }
        #expect(throws: OptimizerError.learningRate(.infinity)) { try SGD(parameters: p, learningRate: .infinity) }
        #expect(throws: OptimizerError.self) { try SGD(parameters: p, learningRate: .nan) }
        #expect(throws: OptimizerError.weightDecay(-1)) { try SGD(parameters: p, learningRate: 0.1, weightDecay: -1) }
        #expect(throws: OptimizerError.self) { try SGD(parameters: p, learningRate: 0.1, weightDecay: .nan) }
        #expect(throws: OptimizerError.learningRate(-1)) { try Momentum(parameters: p, learningRate: -1) }
        #expect(throws: OptimizerError.momentum(1)) { try Momentum(parameters: p, learningRate: 0.1, momentum: 1) }
        #expect(throws: OptimizerError.momentum(-0.5)) { try Momentum(parameters: p, learningRate: 0.1, momentum: -0.5) }
        #expect(throws: OptimizerError.self) { try Momentum(parameters: p, learningRate: 0.1, momentum: .nan) }
        #expect(throws: OptimizerError.weightDecay(-.infinity)) { try Momentum(parameters: p, learningRate: 0.1, weightDecay: -.infinity) }
        #expect(throws: OptimizerError.learningRate(-1e-3)) { try Adam(parameters: p, learningRate: -1e-3) }
        #expect(throws: OptimizerError.beta1(1)) { try Adam(parameters: p, beta1: 1) }
        #expect(throws: OptimizerError.beta2(-0.1)) { try Adam(parameters: p, beta2: -0.1) }
        #expect(throws: OptimizerError.self) { try Adam(parameters: p, beta1: .nan) }
        #expect(throws: OptimizerError.epsilon(0)) { try Adam(parameters: p, epsilon: 0) }
        #expect(throws: OptimizerError.self) { try Adam(parameters: p, epsilon: .infinity) }
        #expect(throws: OptimizerError.weightDecay(-1)) { try Adam(parameters: p, weightDecay: -1) }
        // The edges that are in range.
        _ = try SGD(parameters: p, learningRate: 0)
        _ = try Momentum(parameters: p, learningRate: 0.1, momentum: 0)
        _ = try Adam(parameters: p, beta1: 0, beta2: 0)
        var recipe = Recipe.lenet
        recipe.learningRate = -1
        #expect(throws: OptimizerError.learningRate(-1)) { try recipe.makeOptimizer(parameters: p) }
        #expect(OptimizerError.momentum(1).description == "the momentum must be in [0, 1), got 1.0")
    }

    @Test("trainers: learning rates set after init, bad schedules, epochs and shares are TrainingError")
    func trainerSettings() throws {
        let bytes = [UInt8](repeating: 7, count: 4 * 9)
        let data = try LabeledImages(bytes: bytes, sampleShape: [1, 3, 3], labels: [0, 1, 1, 0], classes: 2)
        let net = try Architecture(input: [1, 3, 3], spec: "flatten, dense 2").build()
        let loss = SoftmaxCrossEntropy()
        let sgd = try SGD(parameters: net.parameters, learningRate: 0.1)
        // The learning rate is a settable property: checked where it is read.
        sgd.learningRate = -1
        #expect(throws: TrainingError.badLearningRate(-1)) { try Trainer(network: net, loss: loss, optimizer: sgd, batchSize: 2) }
        let before = net.parameters.map(\.value.array)
        #expect(throws: TrainingError.badLearningRate(-1)) {
            try net.trainingStep(inputs: try Self.random([2, 1, 3, 3]), labels: [0, 1], loss: loss, optimizer: sgd)
        }
        sgd.learningRate = .nan
        #expect(throws: TrainingError.self) {
            try net.trainingStep(inputs: try Self.random([2, 1, 3, 3]), labels: [0, 1], loss: loss, optimizer: sgd)
        }
        #expect(net.parameters.map(\.value.array) == before)
        sgd.learningRate = 0.1
        // Schedules, at init and when set later.
        for bad: LearningRateSchedule in [.step(every: 0, factor: 0.5), .step(every: -3, factor: 0.5), .step(every: 2, factor: -0.5),
                                          .step(every: 2, factor: 0), .step(every: 2, factor: .infinity)] {
            #expect(throws: TrainingError.badSchedule(bad)) { try Trainer(network: net, loss: loss, optimizer: sgd, batchSize: 2, schedule: bad) }
            let trainer = try Trainer(network: net, loss: loss, optimizer: sgd, batchSize: 2)
            trainer.schedule = bad
            #expect(throws: TrainingError.badSchedule(bad)) { try trainer.fit(data, epochs: 0..<1) { _ in } }
        }
        // Shares: at least 1 and at most the batch.
        #expect(throws: TrainingError.badShares(3)) { try Trainer(network: net, loss: loss, optimizer: sgd, batchSize: 2, shares: 3) }
        #expect(throws: TrainingError.badShares(Int.max)) { try Trainer(network: net, loss: loss, optimizer: sgd, batchSize: 2, shares: Int.max) }
        // Epochs: from 0, within the run; an empty range trains nothing.
        let trainer = try Trainer(network: net, loss: loss, optimizer: sgd, batchSize: 2)
        #expect(throws: TrainingError.badEpochs(-2..<1, totalEpochs: 1)) { try trainer.fit(data, epochs: -2..<1) { _ in } }
        #expect(throws: TrainingError.badEpochs(0..<5, totalEpochs: 3)) { try trainer.fit(data, epochs: 0..<5, totalEpochs: 3) { _ in } }
        #expect(throws: TrainingError.badEpochs(0..<0, totalEpochs: -1)) { try trainer.fit(data, epochs: 0..<0, totalEpochs: -1) { _ in } }
        #expect(throws: TrainingError.badEpochs(0..<Int.max, totalEpochs: Int.max)) { try trainer.fit(data, epochs: 0..<Int.max) { _ in } }
        #expect(trainer.completedEpochs == 0)
        var reports = 0
        try trainer.fit(data, epochs: 1..<1, totalEpochs: 3) { _ in reports += 1 }
        #expect(reports == 0 && trainer.completedEpochs == 0)
        try trainer.fit(data, epochs: 0..<2, totalEpochs: 3) { _ in reports += 1 }
        #expect(reports == 2 && trainer.completedEpochs == 2)
        // Input scaling whose std was set to 0 after it was made.
        var scaling = InputNormalization.unit
        scaling.std = 0
        trainer.normalization = scaling
        #expect(throws: TrainingError.badNormalization(scaling)) { try trainer.fit(data, epochs: 2..<3) { _ in } }
        #expect(throws: TrainingError.badNormalization(scaling)) { try trainer.evaluate(data) }
        #expect(throws: TrainingDataError.self) { try scaling.apply([1, 2, 3]) }
    }

    @Test("data sets, input scaling, losses and augmentations: NaN, negative, zero and overflowing settings")
    func trainingSettings() throws {
        #expect(throws: TrainingDataError.self) { try InputNormalization(mean: 0, std: 0) }
        #expect(throws: TrainingDataError.self) { try InputNormalization(mean: 0, std: -1) }
        #expect(throws: TrainingDataError.self) { try InputNormalization(mean: .nan, std: 1) }
        #expect(throws: TrainingDataError.self) { try InputNormalization(mean: 0, std: .infinity) }
        #expect(try InputNormalization(mean: 0.5, std: 0.25).isValid)
        #expect(InputNormalization.unit.isValid && InputNormalization.mnist.isValid)
        let cap = Architecture.maxElements
        #expect(throws: TrainingDataError.tooManyClasses(cap + 1)) { try LabeledImages(floats: [0, 1], sampleShape: [1], labels: [0, Int.max]) }
        #expect(throws: TrainingDataError.tooManyClasses(Int.max)) {
            try LabeledImages(floats: [0, 1], sampleShape: [1], labels: [0, 1], classes: Int.max)
        }
        #expect(throws: TrainingDataError.labelOutOfRange(position: 1, label: Int.min, classes: 1)) {
            try LabeledImages(floats: [0, 1], sampleShape: [1], labels: [0, Int.min])
        }
        #expect(throws: TrainingDataError.badSampleShape([1 << 40, 1 << 40])) {
            try LabeledImages(bytes: [], sampleShape: [1 << 40, 1 << 40], labels: [], classes: 2)
        }
        #expect(throws: TrainingDataError.badSampleShape([-1])) { try LabeledImages(floats: [], sampleShape: [-1], labels: []) }
        #expect(throws: TrainingDataError.badSampleShape([])) { try LabeledImages(floats: [], sampleShape: [], labels: []) }
        #expect(throws: LossError.labelSmoothing(-0.1)) { try SoftmaxCrossEntropy(labelSmoothing: -0.1) }
        #expect(throws: LossError.labelSmoothing(1)) { try SoftmaxCrossEntropy(labelSmoothing: 1) }
        #expect(throws: LossError.self) { try SoftmaxCrossEntropy(labelSmoothing: .nan) }
        #expect(throws: AugmentationError.badShift(-1)) { try Augmentation(maxShift: -1) }
        #expect(throws: AugmentationError.badShift(Int.max)) { try Augmentation(maxShift: Int.max) }
        #expect(throws: AugmentationError.badSpec("shift:0")) { try Augmentation(parsing: "shift:0") }
        #expect(throws: AugmentationError.badSpec("shift:-3,flip")) { try Augmentation(parsing: "shift:-3,flip") }
        #expect(throws: AugmentationError.notAnImage([9])) { try Augmentation(maxShift: 1).applied(to: try Tensor(zeros: [2, 9]), seed: 0, epoch: 0) }
    }
}

@Suite("Optimizers given some of the parameters")
struct OptimizerSubsetTests {
    /// Trains a few steps with an optimizer over `pick(network)` and returns the parameters
    /// before and after. Layer 0 is a conv, layer 3 a dense layer.
    static func run(_ make: ([Parameter]) throws -> Optimizer, pick: (Sequential) -> [Parameter]) throws
        -> (net: Sequential, before: [[Float]], optimized: Set<ObjectIdentifier>) {
        let net = try Architecture(input: [1, 8, 8], spec: "conv 3 3, relu, flatten, dense 4").build()
        var rng = SeededGenerator(seed: 21)
        net.initialize(.he, generator: &rng)
        let before = net.parameters.map(\.value.array)
        let chosen = pick(net)
        let optimizer = try make(chosen)
        let x = try APIMisuseTests.random([5, 1, 8, 8], seed: 5)
        for _ in 0..<3 { _ = try net.trainingStep(inputs: x, labels: [0, 1, 2, 3, 0], loss: SoftmaxCrossEntropy(), optimizer: optimizer) }
        return (net, before, Set(chosen.map(ObjectIdentifier.init)))
    }

    @Test("the others stay bit-identical: fused SGD, unfused SGD, momentum and Adam; whole and partial layers",
          arguments: ["sgd", "sgd+decay", "momentum", "adam"])
    func othersUntouched(kind: String) throws {
        let make: ([Parameter]) throws -> Optimizer = { p in
            switch kind {
            case "sgd": try SGD(parameters: p, learningRate: 0.1)                       // fused into backward
            case "sgd+decay": try SGD(parameters: p, learningRate: 0.1, weightDecay: 0.01)  // not fusable
            case "momentum": try Momentum(parameters: p, learningRate: 0.1)
            default: try Adam(parameters: p, learningRate: 0.01)
            }
        }
        let picks: [(Sequential) -> [Parameter]] = [
            { $0.layers[3].parameters },           // the whole dense layer
            { [$0.layers[0].parameters[0]] },      // the conv's weight but not its bias
            { [$0.layers[3].parameters[1], $0.layers[0].parameters[1]] },  // two biases
        ]
        for pick in picks {
            let (net, before, optimized) = try Self.run(make, pick: pick)
            for (p, old) in zip(net.parameters, before) {
                if optimized.contains(ObjectIdentifier(p)) {
                    #expect(p.value.array != old, "\(kind): \(p.name) \(p.shape) was given to the optimizer but did not change")
                } else {
                    #expect(p.value.array == old, "\(kind): \(p.name) \(p.shape) was not given to the optimizer but changed")
                }
            }
        }
    }

    @Test("fused and unfused SGD over the same subset end close together")
    func fusedMatchesUnfused() throws {
        // Momentum with μ = 0 is plain SGD that never fuses.
        let fused = try Self.run({ try SGD(parameters: $0, learningRate: 0.1) }, pick: { $0.parameters })
        let unfused = try Self.run({ try Momentum(parameters: $0, learningRate: 0.1, momentum: 0) }, pick: { $0.parameters })
        for (a, b) in zip(fused.net.parameters, unfused.net.parameters) {
            for (x, y) in zip(a.value.array, b.value.array) { #expect(abs(x - y) <= 1e-5 * max(1, abs(y))) }
        }
    }
}
