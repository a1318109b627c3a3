import ConvKit
import Foundation

/// y = a ⊙ x, a learnable scale per feature of a flat sample: a layer written with tensors that
/// trains inside `Sequential` beside ConvKit's own layers.
final class Scale: CustomLayer {
    let inputShape: [Int], outputShape: [Int]
    let scale: Parameter
    var parameters: [Parameter] { [scale] }
    var spec: String { "scale" }
    var description: String { "Scale \(inputShape[0])" }

    init(features: Int) throws {
        (inputShape, outputShape) = ([features], [features])
        scale = try Parameter(name: "scale", shape: [features])
        try scale.set(Tensor(shape: [features], repeating: 1))
    }

    /// a, once per sample of a batch of `batch`.
    func tiled(_ batch: Int) throws -> Tensor {
        try Tensor(shape: [batch] + inputShape, scalars: Array(repeating: scale.tensor.scalars, count: batch).flatMap { $0 })
    }

    func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        try tiled(input.shape[0]) * input
    }

    // ∂E/∂a = Σ over the batch of ∂E/∂y ⊙ x; ∂E/∂x = a ⊙ ∂E/∂y.
    func backward(_ outputGradient: Tensor, input: Tensor, output: Tensor) throws -> Tensor {
        let perSample = try outputGradient * input
        let (n, f) = (input.shape[0], inputShape[0])
        try scale.accumulateGradient(Tensor(shape: [f], scalars: (0..<f).map { j in (0..<n).reduce(0) { $0 + perSample[$1, j] } }))
        return try tiled(n) * outputGradient
    }
}

// Four features, of which only the first two tell the class (their sum's sign); the other two are noise.
func samples(_ count: Int, _ g: inout SeededGenerator) throws -> (Tensor, [Int]) {
    var values: [Float] = [], labels: [Int] = []
    for _ in 0..<count {
        let x = (0..<4).map { _ in g.nextNormal() }
        values += x
        labels.append(x[0] + x[1] > 0 ? 1 : 0)
    }
    return (try Tensor(shape: [count, 4], scalars: values), labels)
}
var generator = SeededGenerator(seed: 21)
let scale = try Scale(features: 4)
let network = try Sequential(inputShape: [4], layers: [scale, Dense(input: [4], outputs: 8), ReLU(input: [8]), Dense(input: [8], outputs: 2)])
network.initialize(.auto, generator: &generator)
print(network)

let (trainInputs, trainLabels) = try samples(512, &generator), (testInputs, testLabels) = try samples(200, &generator)
let trainer = try Trainer(network: network, loss: SoftmaxCrossEntropy(),
                          optimizer: Adam(parameters: network.parameters, learningRate: 0.01), batchSize: 32, seed: 1)
try trainer.fit(LabeledImages(inputs: trainInputs, labels: trainLabels), epochs: 0..<10) { report in
    print("epoch \(report.epoch): loss \(report.loss), accuracy \(report.accuracy)")
}
let predicted = try network.predict(testInputs)
let accuracy = Double(zip(predicted, testLabels).filter { $0 == $1 }.count) / Double(testLabels.count)
print("scale \(scale.scale.tensor.scalars), test accuracy \(accuracy)")
print(network.namedParameters.map(\.name))
guard accuracy >= 0.9 else { print("test accuracy under 90 %"); exit(1) }
