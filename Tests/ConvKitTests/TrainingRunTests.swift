import Testing
@testable import ConvKit
import ConvKitFiles

/// Short real runs on the bundled MNIST: each learns well past chance in a few seconds.
@Suite("Short MNIST runs", .serialized)
struct TrainingRunTests {
    static func data(_ digits: [Int], perClass: Int, testPerClass: Int) throws -> (LabeledImages, LabeledImages) {
        let directory = try MNIST.bundledDirectory()
        let train = try MNIST.load(directory: directory, split: .train, verifyChecksums: false)
        let test = try MNIST.load(directory: directory, split: .test, verifyChecksums: false)
        let trainSubset = try train.select(Selection(digits: digits, perClass: perClass), shuffleSeed: 0)
        let testSubset = try test.select(Selection(digits: digits, perClass: testPerClass))
        return (try train.labeledImages(trainSubset), try test.labeledImages(testSubset))
    }

    @Test("the tutorial experiment, 5 epochs, separates 0 from 1")
    func tutorial() throws {
        let (train, test) = try Self.data([0, 1], perClass: 100, testPerClass: 100)
        let net = try Architecture.tutorial(classes: 2).build()
        var rng = SeededGenerator(seed: 0)
        net.initialize(.normal, generator: &rng)
        let trainer = try Trainer(network: net, loss: BinaryCrossEntropy(), optimizer: try SGD(parameters: net.parameters, learningRate: 0.1),
                              batchSize: 1, seed: 0)
        var losses: [Double] = []
        try trainer.fit(train, epochs: 0..<5) { losses.append($0.loss) }
        #expect(losses.last! < losses.first! / 2)
        #expect(try trainer.evaluate(test).accuracy >= 0.97)
    }

    @Test("LeNet on 300 images of each digit, 3 epochs, learns all ten")
    func tenDigits() throws {
        let (train, test) = try Self.data(Array(0...9), perClass: 300, testPerClass: 50)
        let net = try Architecture.lenet(classes: 10).build()
        var rng = SeededGenerator(seed: 0)
        net.initialize(.auto, generator: &rng)
        let trainer = try Trainer(network: net, loss: SoftmaxCrossEntropy(), optimizer: try Adam(parameters: net.parameters, learningRate: 2e-3),
                              batchSize: 32, normalization: .mnist, reshuffle: true, seed: 0)
        try trainer.fit(train, epochs: 0..<3) { _ in }
        let evaluation = try trainer.evaluate(test)
        #expect(evaluation.accuracy >= 0.85, "accuracy \(evaluation.accuracy) (chance is 0.1)")
        // Every digit is mostly recognised, not just a few.
        for (digit, row) in evaluation.confusion.enumerated() { #expect(row[digit] * 2 > row.reduce(0, +), "digit \(digit): \(row)") }
    }

    @Test("the same seed gives the same weights")
    func repeatable() throws {
        let (train, _) = try Self.data([3, 5, 8], perClass: 40, testPerClass: 1)
        var runs: [[Float]] = []
        for _ in 0..<2 {
            let net = try Architecture(spec: "conv 4 5, relu, maxpool 2, flatten, dense 3").build()
            var rng = SeededGenerator(seed: 9)
            net.initialize(.auto, generator: &rng)
            let trainer = try Trainer(network: net, loss: SoftmaxCrossEntropy(), optimizer: try Momentum(parameters: net.parameters, learningRate: 0.05),
                                  batchSize: 8, reshuffle: true, seed: 9)
            try trainer.fit(train, epochs: 0..<2) { _ in }
            runs.append(net.parameters.flatMap { $0.value.array })
        }
        #expect(runs[0] == runs[1])
    }
}
