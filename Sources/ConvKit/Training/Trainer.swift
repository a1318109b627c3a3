import Foundation

public struct EpochReport: Sendable, Codable {
    public var epoch: Int
    public var loss: Double
    public var accuracy: Double
    public var testAccuracy: Double?
    public var seconds: Double
    public var learningRate: Float
}

public enum TrainingError: Error, CustomStringConvertible {
    case nonFinite(epoch: Int, step: Int, what: String)

    public var description: String {
        switch self {
        case .nonFinite(let epoch, let step, let what):
            "training diverged: \(what) is not finite at epoch \(epoch), step \(step); try a smaller --lr"
        }
    }
}

/// Minibatch training: forward, loss, backward, optimizer step, over batches of a shuffled order.
public final class Trainer {
    public let network: Sequential
    public let loss: any Loss
    public let optimizer: Optimizer
    public var batchSize: Int
    public var schedule: LearningRateSchedule
    public let baseLearningRate: Float
    public var normalization: InputNormalization
    /// Shuffle the order again at the start of every epoch (the tutorial never does).
    public var reshuffle: Bool
    public var generator: SeededGenerator
    /// Epochs and optimizer steps done so far, by `fit` or restored from a checkpoint.
    public internal(set) var completedEpochs = 0
    public internal(set) var completedSteps = 0
    /// The generator as `init` seeded it, and the order the next epoch starts from: with
    /// `reshuffle` each epoch shuffles the previous epoch's order, so a resumed run rebuilds it
    /// by replaying the shuffles (see `restore`).
    let initialGenerator: SeededGenerator
    var order: [Int] = []
    private let targets: Buffer

    public init(network: Sequential, loss: any Loss, optimizer: Optimizer, batchSize: Int,
                schedule: LearningRateSchedule = .constant, normalization: InputNormalization = .unit,
                reshuffle: Bool = false, seed: UInt64 = 0) {
        self.network = network
        self.loss = loss
        self.optimizer = optimizer
        self.batchSize = batchSize
        self.schedule = schedule
        baseLearningRate = optimizer.learningRate
        self.normalization = normalization
        self.reshuffle = reshuffle
        generator = SeededGenerator(seed: seed ^ 0x5EED_0F_0DE5)
        initialGenerator = generator
        targets = Buffer(count: batchSize * network.outputCount)
        network.reserve(batch: batchSize)
    }

    /// Trains epochs `epochs` (0-based; later than 0 when resuming), calling `onEpoch` after each with the
    /// test accuracy when a test set is given; `onProgress(done, total)` within an epoch.
    /// Evaluation time is not counted in an epoch's seconds.
    public func fit(_ data: LabeledImages, epochs: Range<Int>, totalEpochs: Int? = nil, test: LabeledImages? = nil,
                    onProgress: ((Int, Int) -> Void)? = nil,
                    onEpoch: (EpochReport) throws -> Void) throws {
        precondition(data.classes == network.outputCount, "\(data.classes) classes for \(network.outputCount) outputs")
        if order.count != data.count { order = Array(0..<data.count) }
        let stepsPerEpoch = (data.count + batchSize - 1) / batchSize
        let totalSteps = stepsPerEpoch * (totalEpochs ?? epochs.upperBound)
        let classes = data.classes
        // Plain SGD folds into the backward pass (one sweep over each weight matrix, not three).
        let fusedSGD = (optimizer as? SGD)?.weightDecay == 0
        for epoch in epochs {
            if reshuffle { generator.shuffle(&self.order) }
            let order = self.order
            let started = DispatchTime.now().uptimeNanoseconds
            var lossSum = 0.0, correct = 0
            try order.withUnsafeBufferPointer { order in
                for step in 0..<stepsPerEpoch {
                    let start = step * batchSize, n = min(batchSize, data.count - start)
                    data.fill(input: network.input, targets: targets.pointer, order: order, start: start, count: n,
                              normalization: normalization)
                    network.forward(batch: n)
                    let l = loss.loss(network.output, targets: targets.pointer, gradient: network.outputGradient,
                                      batch: n, classes: classes)
                    guard l.isFinite else { throw TrainingError.nonFinite(epoch: epoch + 1, step: step + 1, what: "the loss") }
                    lossSum += Double(l) * Double(n)
                    correct += countCorrect(network.output, targets: targets.pointer, batch: n, classes: classes)
                    optimizer.learningRate = schedule.rate(base: baseLearningRate, epoch: epoch,
                                                           step: epoch * stepsPerEpoch + step, totalSteps: totalSteps)
                    if fusedSGD {
                        network.backward(batch: n, sgdLearningRate: optimizer.learningRate)
                    } else {
                        network.backward(batch: n)
                        optimizer.step()
                    }
                    if let onProgress, step % 64 == 63 { onProgress(start + n, data.count) }
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            if let bad = network.namedParameters.first(where: { !$0.parameter.isFinite }) {
                throw TrainingError.nonFinite(epoch: epoch + 1, step: stepsPerEpoch, what: "weight \(bad.name)")
            }
            completedEpochs = epoch + 1
            completedSteps += stepsPerEpoch
            var report = EpochReport(epoch: epoch + 1, loss: lossSum / Double(data.count),
                                     accuracy: Double(correct) / Double(data.count), testAccuracy: nil,
                                     seconds: seconds, learningRate: optimizer.learningRate)
            if let test { report.testAccuracy = evaluate(test).accuracy }
            try onEpoch(report)
        }
    }

    public func evaluate(_ data: LabeledImages) -> Evaluation {
        network.evaluate(data, loss: loss, normalization: normalization, batchSize: max(batchSize, 256))
    }
}

/// Accuracy and confusion matrix over a labelled set.
public struct Evaluation: Sendable {
    public var correct: Int
    public var total: Int
    public var loss: Double
    /// confusion[true class][predicted class]
    public var confusion: [[Int]]
    public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }
}

extension Sequential {
    public func evaluate(_ data: LabeledImages, loss: any Loss, normalization: InputNormalization, batchSize: Int = 256) -> Evaluation {
        let classes = data.classes
        reserve(batch: batchSize)
        let targets = Buffer(count: batchSize * classes)
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        var lossSum = 0.0, correct = 0
        let order = Array(0..<data.count)
        order.withUnsafeBufferPointer { order in
            for start in stride(from: 0, to: data.count, by: batchSize) {
                let n = min(batchSize, data.count - start)
                data.fill(input: input, targets: targets.pointer, order: order, start: start, count: n, normalization: normalization)
                forward(batch: n)
                lossSum += Double(loss.loss(output, targets: targets.pointer, gradient: nil, batch: n, classes: classes)) * Double(n)
                for b in 0..<n {
                    let predicted = argmax(output + b * classes, classes), truth = data.targets[start + b]
                    confusion[truth][predicted] += 1
                    if predicted == truth { correct += 1 }
                }
            }
        }
        return Evaluation(correct: correct, total: data.count, loss: lossSum / Double(max(data.count, 1)), confusion: confusion)
    }
}

func argmax(_ values: UnsafePointer<Float>, _ count: Int) -> Int {
    var best = 0
    for k in 1..<max(count, 1) where values[k] > values[best] { best = k }
    return best
}

func countCorrect(_ output: UnsafePointer<Float>, targets: UnsafePointer<Float>, batch: Int, classes: Int) -> Int {
    var correct = 0
    for b in 0..<batch where targets[b * classes + argmax(output + b * classes, classes)] == 1 { correct += 1 }
    return correct
}

extension Parameter {
    var isFinite: Bool {
        for i in 0..<count where !value.pointer[i].isFinite { return false }
        return true
    }
}

extension SeededGenerator {
    /// Fisher–Yates with this generator's own bounded draw, so an order depends only on the seed.
    public mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            array.swapAt(i, j)
        }
    }
}
