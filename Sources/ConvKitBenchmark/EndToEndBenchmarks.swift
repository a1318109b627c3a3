import ConvKit
import CKernels

// End-to-end rows of `convkit bench`, after the kernel rows: whole training steps (copying a
// fixed batch into the input buffer; forward, loss, backward, update), reported in samples/s or
// images/s.
//
// The learning rate is 0, so every step does the full work of an update but leaves the weights
// as they were: the scalar and SIMD variants then see the same network, and the SIMD-against-
// scalar check compares their outputs for the same input.
public enum EndToEndBenchmarks {
    public static func cases() -> [BenchmarkCase] {
        [
            step(name: "tutorial_train_step", shape: "1x1x28x28 batch 1", architecture: .tutorial(classes: 2),
                 loss: BinaryCrossEntropy(), batch: 1, weightInit: .normal, unit: .samples) { try! SGD(parameters: $0, learningRate: 0) },  // constant and valid
            step(name: "lenet_train_step", shape: "64x1x28x28 batch 64", architecture: .lenet(classes: 10),
                 loss: SoftmaxCrossEntropy(), batch: 64, weightInit: .auto, unit: .images) { try! Adam(parameters: $0, learningRate: 0) },  // constant and valid
            step(name: "fashion_train_step", shape: "64x1x28x28 batch 64", architecture: Recipe.fashion.architecture(10),
                 loss: try! SoftmaxCrossEntropy(labelSmoothing: Recipe.fashion.labelSmoothing), batch: Recipe.fashion.batchSize,
                 weightInit: Recipe.fashion.weightInit, unit: .images) { try! Adam(parameters: $0, learningRate: 0) },  // constant and valid
        ]
    }

    static func step(name: String, shape: String, architecture: Architecture, loss: any Loss, batch: Int,
                     weightInit: WeightInit, unit: BenchmarkCase.Unit, optimizer: ([Parameter]) -> Optimizer) -> BenchmarkCase {
        let network = try! architecture.build()  // the presets are known to build
        var generator = SeededGenerator(seed: 1)
        network.initialize(weightInit, generator: &generator)
        let update = optimizer(network.parameters)
        let step = try! TrainingStep(network: network, loss: loss, optimizer: update, batchSize: batch)  // the presets take these batches
        let classes = network.outputCount
        let inputs = Tensor(unchecked: [batch] + network.inputShape, (0..<(network.inputCount * batch)).map { _ in generator.nextUnitFloat() })
        var targets = [Float](repeating: 0, count: batch * classes)
        for n in 0..<batch { targets[n * classes + n % classes] = 1 }
        let data = TensorBatch(inputs: inputs, targets: Tensor(unchecked: [batch, classes], targets))
        let benchmark = BenchmarkCase(kernel: name, shape: shape, work: Double(batch), unit: unit, body: { variant in
            network.variant = variant == CK_SIMD ? .simd : .scalar
            _ = try! step.run(data, learningRate: update.learningRate, noiseKey: 0, checkingWeights: false)  // one process: nothing to throw
        }, output: { Array(UnsafeBufferPointer(start: network.output, count: batch * classes)) })
        // A lower bound on the traffic: every parameter is read by the forward pass and read and
        // written by the update (fused with the backward pass for SGD's dense layers), 12 bytes;
        // every activation of a sample is written forward and read backward, and so is its
        // gradient, 16 bytes. Optimizer state (Adam's moments) and gradient buffers come on top.
        let activations = network.inputShape.reduce(1, *) + network.layers.reduce(0) { $0 + $1.outputShape.reduce(1, *) }
        benchmark.bytesPerItem = Double(12 * network.parameterCount) / Double(batch) + Double(16 * activations)
        // The parameters, and the activations of the batch with their gradients.
        benchmark.workingSetBytes = 4 * network.parameterCount + 8 * activations * batch
        benchmark.flopsPerItem = Double(trainingFlops(network))
        return benchmark
    }

    /// One image's multiply-adds in a training step: every layer's forward arithmetic three times
    /// (forward, gradient of its weights, gradient of its input), less the first layer's input
    /// gradient, which nothing needs. Element-wise layers count their (small) forward figure the
    /// same way, which flatters them a little.
    static func trainingFlops(_ network: Sequential) -> Int {
        let forward = network.layers.reduce(0) { $0 + $1.forwardFlops }
        return 3 * forward - (network.layers.first?.forwardFlops ?? 0)
    }
}
