import Foundation
import Testing
import ConvKit
import ConvKitFiles

/// One network shared by many threads at once: every inference call must give, bit for bit, what
/// the same call gives alone. The network has a padded and a strided convolution, batch norm, max
/// pooling, dropout and residual blocks (identity and projection), so every layer that keeps a workspace or a flag is in it, and a batch of 64
/// large enough for the kernels to run on the OpenMP team. CI runs this suite under
/// ThreadSanitizer (.ci/run).
@Suite("Concurrent inference on one shared network")
struct ConcurrentInferenceTests {
    static let threads = 8
    static let rounds = 20
    /// Batch sizes in the order the calls run; 64 takes the kernels onto the team.
    static let batchSizes = [1, 2, 3, 5, 8, 13, 21, 34, 64, 1, 7, 16]

    /// A model trained for three steps, so batch norm's running statistics are not the initial
    /// ones and dropout's last pass was a training pass.
    static func trainedModel() throws -> Model {
        let architecture = Architecture(input: [2, 12, 12], spec: "conv 6 3 pad 1, batchnorm, relu, maxpool 2, "
                                        + "residual(conv 6 3 pad 1, batchnorm, relu, dropout 0.25, conv 6 3 pad 1, batchnorm), relu, "
                                        + "conv 8 3 pad 1 stride 2, relu, dropout 0.25, "
                                        + "residual(conv 12 3 pad 1 stride 2, batchnorm, relu, conv 12 3 pad 1, batchnorm), relu, "
                                        + "flatten, dense 12, batchnorm, relu, dense 5")
        let model = try Model(.init(architecture: architecture, loss: .softmaxCrossEntropy, classes: ["a", "b", "c", "d", "e"],
                                    normalization: .unit))
        var rng = SeededGenerator(seed: 21)
        model.network.initialize(.auto, generator: &rng)
        let optimizer = try SGD(parameters: model.network.parameters, learningRate: 0.05)
        for _ in 0..<3 {
            let inputs = try random(16, &rng)
            _ = try model.network.trainingStep(inputs: inputs, labels: (0..<16).map { $0 % 5 }, loss: SoftmaxCrossEntropy(),
                                               optimizer: optimizer)
        }
        return model
    }

    static func random(_ n: Int, _ rng: inout SeededGenerator) throws -> Tensor {
        try Tensor(shape: [n, 2, 12, 12], scalars: (0..<n * 288).map { _ in rng.nextUnitFloat() * 2 - 1 })
    }

    static func same(_ a: [Float], _ b: [Float]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
    }

    /// Runs `body(thread, round)` on `threads` threads at once, `rounds` times each; returns how
    /// many calls gave something other than the serial result (or threw).
    static func concurrently(_ body: @escaping @Sendable (Int, Int) throws -> Bool) -> Int {
        let wrong = Tally()
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for round in 0..<rounds {
                let right = (try? body(thread, round)) ?? false
                if !right { wrong.add() }
            }
        }
        return wrong.count
    }

    @Test("forward, predict, evaluate and activations from 8 threads equal the serial results bit for bit")
    func sharedNetwork() throws {
        let network = try Self.trainedModel().network
        var rng = SeededGenerator(seed: 22)
        let batches = try Self.batchSizes.map { try Self.random($0, &rng) }
        let labels = Self.batchSizes.map { n in (0..<n).map { _ in Int(rng.next() % 5) } }
        let outputs = try batches.map { try network.forward($0).scalars }
        let predictions = try batches.map { try network.predict($0) }
        let loss = SoftmaxCrossEntropy()
        let evaluations = try zip(batches, labels).map { try network.evaluate(inputs: $0, labels: $1, loss: loss) }
        let single = try Tensor(shape: [2, 12, 12], scalars: Array(batches[1].scalars.prefix(288)))
        let activations = try network.activations(for: single).map(\.scalars)
        #expect(Set(predictions.joined()).count > 1, "a network that always gives one class would hide wrong outputs")

        let wrong = Self.concurrently { thread, round in
            var right = true
            // Each thread walks the batches from its own starting point, so different sizes overlap.
            for step in batches.indices {
                let i = (step + thread * 5 + round) % batches.count
                let output = try network.forward(batches[i]).scalars, predicted = try network.predict(batches[i])
                right = right && Self.same(output, outputs[i]) && predicted == predictions[i]
                if step % 4 == thread % 4 {
                    let e = try network.evaluate(inputs: batches[i], labels: labels[i], loss: loss)
                    right = right && e.correct == evaluations[i].correct && e.loss.bitPattern == evaluations[i].loss.bitPattern
                        && e.confusion == evaluations[i].confusion
                }
            }
            let seen = try network.activations(for: single).map(\.scalars)
            return right && seen.count == activations.count && zip(seen, activations).allSatisfy(Self.same)
        }
        #expect(wrong == 0, "\(wrong) of \(Self.threads * Self.rounds) thread-rounds gave results other than the serial ones")
    }

    @Test("Model.outputs and probabilities from 8 threads equal the serial results bit for bit")
    func sharedModel() throws {
        let model = try Self.trainedModel()
        var rng = SeededGenerator(seed: 23)
        let images = (0..<40).map { _ in (0..<288).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        let outputs = try images.map { try model.outputs(pixels: $0) }
        let probabilities = try images.map { try model.probabilities(pixels: $0) }

        let wrong = Self.concurrently { thread, round in
            var right = true
            for step in images.indices {
                let i = (step + thread * 7 + round) % images.count
                let output = try model.outputs(pixels: images[i]), probability = try model.probabilities(pixels: images[i])
                right = right && Self.same(output, outputs[i]) && Self.same(probability, probabilities[i])
            }
            return right
        }
        #expect(wrong == 0, "\(wrong) of \(Self.threads * Self.rounds) thread-rounds gave results other than the serial ones")
    }
}

/// A count that threads add to.
private final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func add() { lock.withLock { value += 1 } }
    var count: Int { lock.withLock { value } }
}
