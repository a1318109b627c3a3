import Foundation
import Testing
import ConvKit

/// y = a ⊙ x, a learnable scale per feature: the `CustomLayer` documentation's example.
final class Scale: CustomLayer {
    let inputShape: [Int], outputShape: [Int]
    let scale: Parameter
    var parameters: [Parameter] { [scale] }
    var spec: String { "scale" }
    var description: String { "Scale \(inputShape[0])" }
    /// Forward passes seen, to show the network calls them one at a time.
    var calls = 0

    init(features: Int) throws {
        (inputShape, outputShape) = ([features], [features])
        scale = try Parameter(name: "scale", shape: [features])
        try scale.set(Tensor(shape: [features], repeating: 1))
    }

    func tiled(_ batch: Int) throws -> Tensor {
        try Tensor(shape: [batch] + inputShape, scalars: Array(repeating: scale.tensor.scalars, count: batch).flatMap { $0 })
    }

    func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        calls += 1  // not thread-safe on purpose: the network must serialise
        return try tiled(input.shape[0]) * input
    }

    func backward(_ outputGradient: Tensor, input: Tensor, output: Tensor) throws -> Tensor {
        let perSample = try outputGradient * input
        let n = input.shape[0], f = inputShape[0]
        try scale.accumulateGradient(Tensor(shape: [f], scalars: (0..<f).map { j in (0..<n).reduce(0) { $0 + perSample[$1, j] } }))
        return try tiled(n) * outputGradient
    }
}

/// A `Layer` that is neither ConvKit's nor a `CustomLayer`: it cannot run.
final class Inert: Layer {
    let inputShape = [2], outputShape = [2]
    var spec: String { "inert" }
    var description: String { "Inert" }
}

@Suite struct CustomLayerTests {
    /// Scale, then dense, then sigmoid, with weights from a seed and a scale away from 1.
    static func network(features: Int = 3, outputs: Int = 2) throws -> (Sequential, Scale) {
        let scale = try Scale(features: features)
        let network = try Sequential(inputShape: [features], layers: [
            scale, Dense(input: [features], outputs: outputs), Sigmoid(input: [outputs]),
        ])
        var g = SeededGenerator(seed: 11)
        network.initialize(generator: &g)
        try scale.scale.set(Tensor(shape: [features], scalars: (0..<features).map { 0.5 + Float($0) * 0.25 }))
        return (network, scale)
    }

    @Test func runsInSequentialWithItsParametersNamed() throws {
        let (network, scale) = try Self.network()
        #expect(network.namedParameters.map(\.name) == ["0.scale", "1.weight", "1.bias"])
        #expect(network.parameters.first === scale.scale)
        let x = try Tensor(rows: [[1, 2, 3], [-1, 0, 4]])
        // The scale's output through the rest of the network equals the network's output.
        let rest = try Sequential(inputShape: [3], layers: Array(network.layers.dropFirst()))
        let scaled = try Tensor(rows: [[0.5, 1.5, 3], [-0.5, 0, 4]])
        #expect(try network.forward(x) == rest.forward(scaled))
        #expect(throws: ShapeError.self) { try Sequential(inputShape: [2], layers: [Inert()]) }
        // initialize leaves a custom layer's parameters as its initialiser set them.
        var g = SeededGenerator(seed: 2)
        let fresh = try Scale(features: 3)
        try Sequential(inputShape: [3], layers: [fresh]).initialize(.normal, generator: &g)
        #expect(fresh.scale.tensor == (try Tensor(shape: [3], repeating: 1)))
    }

    /// ∂E/∂a from a training step (learning rate 0) against central differences of the loss.
    @Test func gradientMatchesFiniteDifferences() throws {
        let (network, scale) = try Self.network()
        let x = try Tensor(rows: [[1, 2, 3], [-1, 0.5, 2], [0.3, -2, 1]])
        let targets = try Tensor(rows: [[1, 0], [0, 1], [1, 1]])
        let sgd = try SGD(parameters: network.parameters, learningRate: 0)
        _ = try network.trainingStep(inputs: x, targets: targets, loss: BinaryCrossEntropy(), optimizer: sgd)
        let analytic = scale.scale.gradientTensor
        let a = scale.scale.tensor
        func error(_ a: Tensor) throws -> Float {
            try scale.scale.set(a)
            return try BinaryCrossEntropy().loss(outputs: network.forward(x), targets: targets).value
        }
        let h: Float = 1e-2
        for j in 0..<a.count {
            var up = a, down = a
            up[j] += h
            down[j] -= h
            let numeric = (try error(up) - error(down)) / (2 * h)
            #expect(abs(numeric - analytic[j]) <= 1e-3 + 1e-2 * abs(numeric), "∂E/∂a_\(j): \(analytic[j]) vs \(numeric)")
        }
        #expect(analytic.map(abs).sum() > 1e-3)  // not vacuously zero
    }

    /// Two features, only the first telling the class: training must grow its scale and fit.
    @Test(arguments: [1, 2]) func trainsWithTrainer(shares: Int) throws {
        let (network, scale) = try Self.network(features: 2, outputs: 2)
        var g = SeededGenerator(seed: 5)
        var values: [Float] = [], labels: [Int] = []
        for i in 0..<64 {
            let label = i % 2
            values += [Float(label * 2 - 1) + 0.3 * g.nextNormal(), g.nextNormal()]
            labels.append(label)
        }
        let data = try LabeledImages(inputs: Tensor(shape: [64, 2], scalars: values), labels: labels, classes: 2)
        let before = scale.scale.tensor
        let trainer = try Trainer(network: network, loss: BinaryCrossEntropy(), optimizer: SGD(parameters: network.parameters, learningRate: 1),
                                  batchSize: 8, seed: 1, shares: shares)
        var reports: [EpochReport] = []
        try trainer.fit(data, epochs: 0..<15) { reports.append($0) }
        #expect(reports.last!.loss < reports.first!.loss)
        #expect(reports.last!.accuracy > 0.9)
        #expect(scale.scale.tensor != before)
    }

    /// Many threads of inference through a layer that is not thread-safe give the serial answer.
    @Test func concurrentInferenceIsSerialisedAtTheLayer() throws {
        let (network, scale) = try Self.network()
        let x = try Tensor(shape: [5, 3], scalars: (0..<15).map { Float($0) / 7 - 1 })
        let expected = try network.forward(x)
        scale.calls = 0
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 64) { _ in results.append(try? network.forward(x)) }
        #expect(results.all.count == 64 && results.all.allSatisfy { $0 == expected })
        #expect(scale.calls == 64)
    }
}

final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Tensor?] = []
    func append(_ t: Tensor?) { lock.withLock { values.append(t) } }
    var all: [Tensor?] { lock.withLock { values } }
}
