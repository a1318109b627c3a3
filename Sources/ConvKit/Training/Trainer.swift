import Foundation

/// What one epoch of `Trainer.fit` did.
public struct EpochReport: Sendable, Codable {
    /// The epoch's number, from 1.
    public var epoch: Int
    /// The mean training loss over the epoch (each step's loss before its update).
    public var loss: Double
    /// The training accuracy over the epoch, each step counted before its update.
    public var accuracy: Double
    /// The accuracy on the test set after the epoch, when `fit` was given one.
    public var testAccuracy: Double?
    /// Training time of the epoch, evaluation excluded.
    public var seconds: Double
    /// The learning rate of the epoch's last step.
    public var learningRate: Float

    /// A report of these values.
    public init(epoch: Int, loss: Double, accuracy: Double, testAccuracy: Double?, seconds: Double, learningRate: Float) {
        (self.epoch, self.loss, self.accuracy, self.testAccuracy) = (epoch, loss, accuracy, testAccuracy)
        (self.seconds, self.learningRate) = (seconds, learningRate)
    }
}

/// Training that cannot start or cannot go on.
public enum TrainingError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The loss or a weight became NaN or infinite (epoch and step 1-based, nil outside `fit`).
    case nonFinite(epoch: Int?, step: Int?, what: String)
    /// A batch size below 1, or too large for the network.
    case badBatchSize(Int)
    /// The data's class count differs from the network's outputs.
    case classCount(data: Int, outputs: Int)
    /// The data's samples are not the network's input shape.
    case sampleShape(data: [Int], network: [Int])
    /// No samples to train on.
    case emptyData
    /// A share count below 1 or above the batch size.
    case badShares(Int)
    /// A learning rate below 0 or not finite (the optimizer's, when the trainer is made or a
    /// training step runs).
    case badLearningRate(Float)
    /// A step schedule with `every` below 1 or a factor that is not positive and finite.
    case badSchedule(LearningRateSchedule)
    /// Epochs to train that start below 0 or end past the run's `totalEpochs`, or a run whose
    /// steps would overflow `Int`.
    case badEpochs(Range<Int>, totalEpochs: Int)
    /// Per-channel input scaling for another number of channels than the samples have.
    case normalizationChannels(normalization: Int, sample: [Int])
    /// Input scaling with a mean that is not finite or a std that is not positive and finite
    /// (`InputNormalization.isValid`), after setting its `mean` or `std`.
    case badNormalization(InputNormalization)

    /// What went wrong, in one line.
    public var description: String {
        switch self {
        case .nonFinite(let epoch?, let step?, let what): "training diverged: \(what) is not finite at epoch \(epoch), step \(step)"
        case .nonFinite(_, _, let what): "training diverged: \(what) is not finite"
        case .badBatchSize(let n): "the batch size must be at least 1, got \(n)"
        case .classCount(let data, let outputs): "the data has \(data) classes but the network \(outputs) outputs"
        case .sampleShape(let data, let network):
            "samples of \(shapeText(data)) do not fit a network taking \(shapeText(network))"
        case .emptyData: "there is nothing to train on"
        case .badShares(let n): "the number of shares must be from 1 to the batch size, got \(n)"
        case .badLearningRate(let lr): "the learning rate must be finite and at least 0, got \(lr)"
        case .badSchedule(let schedule): "a step schedule needs every ≥ 1 and a positive, finite factor, got \(schedule)"
        case .badEpochs(let epochs, let total):
            "epochs \(epochs.lowerBound)..<\(epochs.upperBound) are not within a run of \(total) epochs counted from 0"
        case .normalizationChannels(let n, let sample):
            "the input scaling has \(n) channels but the samples are \(shapeText(sample))"
        case .badNormalization(let n): "the input scaling needs finite means and positive, finite deviations, got means \(n.means), deviations \(n.stds)"
        }
    }
}

/// Minibatch training: forward, loss, backward, optimizer step, over batches of a shuffled order.
public final class Trainer {
    /// The network it trains, in place.
    public let network: Sequential
    /// The loss it minimises.
    public let loss: any Loss
    /// The optimizer that updates the network's parameters.
    public let optimizer: Optimizer
    /// Samples per step; the last step of an epoch takes what is left.
    public let batchSize: Int
    /// How the learning rate changes from `baseLearningRate` over training.
    public var schedule: LearningRateSchedule
    /// The optimizer's learning rate when the trainer was made, which `schedule` scales.
    public let baseLearningRate: Float
    /// How 8-bit samples become inputs; float samples are used as they are.
    public var normalization: InputNormalization
    /// Shuffle the order again at the start of every epoch (the tutorial never does).
    public var reshuffle: Bool
    /// Random shifts and flips of every training batch, applied right after it is filled and
    /// keyed by (`seed`, epoch, position in the epoch); never in `evaluate`.
    public var augmentation: Augmentation = .none
    /// The generator that shuffles the order, in its current state.
    public package(set) var generator: SeededGenerator
    /// Epochs and optimizer steps done so far, by `fit` or restored from a checkpoint.
    public package(set) var completedEpochs = 0
    /// Optimizer steps done so far.
    public package(set) var completedSteps = 0
    /// The generator as `init` seeded it, and the order the next epoch starts from: with
    /// `reshuffle` each epoch shuffles the previous epoch's order, so a resumed run rebuilds it
    /// by replaying the shuffles (see `restore`).
    package let initialGenerator: SeededGenerator
    /// The seed the trainer was made with; with the step's number it keys the step's random
    /// choices, and with the epoch and position each sample's `augmentation`.
    package let seed: UInt64
    package var order: [Int] = []
    /// Every step of the run: the batch buffers, the reduction, the divergence checks.
    private let step: TrainingStep

    /// Data-parallel training when given: every process of the group runs the same trainer on
    /// the same data and seed, takes its own contiguous share of each batch, and the gradients
    /// are summed over the processes in rank order before every process takes the same step.
    public var processes: ProcessGroup? {
        if case .processes(let group) = step.reduction { group } else { nil }
    }
    /// Without `processes`: each batch is run as this many contiguous shares whose gradients are
    /// summed in share order, the same arithmetic as that many processes, so a one-process run
    /// reproduces a data-parallel one bit for bit. 1 (the default) is the plain, fastest step;
    /// always 1 under `processes`, where each process runs one share.
    public var shares: Int {
        if case .shares(let n) = step.reduction { n } else { 1 }
    }

    /// Throws `TrainingError.badBatchSize` for a batch size below 1 or too large for the
    /// network, `.badShares` for shares below 1 or above the batch size (more would only add
    /// empty shares; `shares` is not used, nor checked, under `processes` of more than one
    /// process), `.badLearningRate` unless the optimizer's learning rate is finite and at
    /// least 0, `.badSchedule` for a step schedule with `every` below 1 or a factor that is not
    /// positive and finite.
    public init(network: Sequential, loss: any Loss, optimizer: Optimizer, batchSize: Int,
                schedule: LearningRateSchedule = .constant, normalization: InputNormalization = .unit,
                reshuffle: Bool = false, seed: UInt64 = 0, processes: ProcessGroup? = nil, shares: Int = 1) throws(TrainingError) {
        // A group of one process is the plain step; `shares` is for one process only.
        let reduction: Reduction = processes.flatMap { $0.size > 1 ? .processes($0) : nil } ?? .shares(shares)
        step = try TrainingStep(network: network, loss: loss, optimizer: optimizer, batchSize: batchSize, reduction: reduction)
        guard OptimizerError.isValid(learningRate: optimizer.learningRate) else { throw .badLearningRate(optimizer.learningRate) }
        guard schedule.isValid else { throw .badSchedule(schedule) }
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
        self.seed = seed
    }

    /// Trains epochs `epochs` (0-based; later than 0 when resuming) of a run of `totalEpochs`
    /// (nil: `epochs.upperBound`), which the schedule spreads its rates over, calling `onEpoch`
    /// after each with the test accuracy when a test set is given; `onProgress(done, total)`
    /// within an epoch. An empty range, such as `completedEpochs..<totalEpochs` of a finished
    /// run, checks the data and trains nothing. Evaluation time is not counted in an epoch's
    /// seconds. Throws `TrainingError` for data that does not fit the network, `.badEpochs` for
    /// epochs below 0 or past `totalEpochs`, `.badSchedule` for an invalid `schedule`, and when
    /// training diverges (the weights are then those of the step before),
    /// `AugmentationError.notAnImage` for an augmentation of a network whose input is not (C, H, W).
    public func fit(_ data: LabeledImages, epochs: Range<Int>, totalEpochs: Int? = nil, test: LabeledImages? = nil,
                    onProgress: ((Int, Int) -> Void)? = nil,
                    onEpoch: (EpochReport) throws -> Void) throws {
        try check(data)
        if let test { try check(test) }
        guard data.count > 0 else { throw TrainingError.emptyData }
        guard schedule.isValid else { throw TrainingError.badSchedule(schedule) }
        let stepsPerEpoch = (data.count + batchSize - 1) / batchSize
        let runEpochs = totalEpochs ?? epochs.upperBound
        let (totalSteps, overflow) = stepsPerEpoch.multipliedReportingOverflow(by: runEpochs)
        guard epochs.lowerBound >= 0, epochs.upperBound <= runEpochs, !overflow else {
            throw TrainingError.badEpochs(epochs, totalEpochs: runEpochs)
        }
        if order.count != data.count { order = Array(0..<data.count) }
        let image = network.inputShape
        if !augmentation.isIdentity && image.count != 3 { throw AugmentationError.notAnImage(image) }
        let (channels, height, width) = image.count == 3 ? (image[0], image[1], image[2]) : (0, 0, 0)
        var learningRate = optimizer.learningRate
        for epoch in epochs {
            if reshuffle { generator.shuffle(&self.order) }
            let order = self.order
            let started = DispatchTime.now().uptimeNanoseconds
            var lossSum = 0.0, correct = 0
            try order.withUnsafeBufferPointer { order in
                for stepIndex in 0..<stepsPerEpoch {
                    let start = stepIndex * batchSize, number = epoch * stepsPerEpoch + stepIndex
                    let batch = ImageBatch(data: data, order: order, start: start, count: min(batchSize, data.count - start),
                                           normalization: normalization, augmentation: augmentation,
                                           image: (channels, height, width), seed: seed, epoch: epoch)
                    learningRate = schedule.rate(base: baseLearningRate, epoch: epoch, step: number, totalSteps: totalSteps)
                    // The weights are checked on an epoch's last step only, to keep a pass over
                    // every weight off the other steps; a weight gone NaN earlier makes the next
                    // loss NaN, which every step checks.
                    let result = try step.run(batch, learningRate: learningRate, noiseKey: noiseKey(seed: seed, step: number),
                                              checkingWeights: stepIndex == stepsPerEpoch - 1)
                    if let divergence = result.divergence {
                        throw TrainingError.nonFinite(epoch: epoch + 1, step: stepIndex + 1, what: divergence.what)
                    }
                    lossSum += Double(result.loss) * Double(batch.count)
                    correct += result.correct
                    if let onProgress, stepIndex % 64 == 63 { onProgress(start + batch.count, data.count) }
                }
            }
            // Each process counted its own shares; the loss was already summed in every step.
            if let processes { correct = try processes.sum(correct) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            completedEpochs = epoch + 1
            completedSteps += stepsPerEpoch
            var report = EpochReport(epoch: epoch + 1, loss: lossSum / Double(data.count),
                                     accuracy: Double(correct) / Double(data.count), testAccuracy: nil,
                                     seconds: seconds, learningRate: learningRate)
            if let test { report.testAccuracy = try evaluate(test).accuracy }
            try onEpoch(report)
        }
    }

    /// Loss, accuracy and confusion matrix of the network on `data`, in batches.
    /// Under `processes`, each process evaluates its contiguous share of `data` and the counts
    /// and loss sums are added over the processes, so every process gets the whole evaluation.
    public func evaluate(_ data: LabeledImages) throws -> Evaluation {
        guard let processes else {
            return try network.evaluate(data, loss: loss, normalization: normalization, batchSize: max(batchSize, 256))
        }
        let lo = processes.rank * data.count / processes.size, hi = (processes.rank + 1) * data.count / processes.size
        let part = try network.evaluate(data.slice(lo..<hi), loss: loss, normalization: normalization, batchSize: max(batchSize, 256))
        var counts = [part.correct] + part.confusion.joined()
        try processes.allReduceSum(&counts)
        let lossSum = try processes.sum(part.loss * Double(part.total))
        let k = data.classes
        let confusion = (0..<k).map { Array(counts[(1 + $0 * k)..<(1 + ($0 + 1) * k)]) }
        return Evaluation(correct: counts[0], total: data.count, loss: lossSum / Double(max(data.count, 1)), confusion: confusion)
    }

    private func check(_ data: LabeledImages) throws(TrainingError) {
        try network.check(data, normalization: normalization)
    }
}

/// Accuracy and confusion matrix over a labelled set.
public struct Evaluation: Sendable {
    /// The samples whose largest output is their class.
    public var correct: Int
    /// The number of samples.
    public var total: Int
    /// The mean loss per sample.
    public var loss: Double
    /// confusion[true class][predicted class]
    public var confusion: [[Int]]
    /// `correct / total`, 0 for no samples.
    public var accuracy: Double { total == 0 ? 0 : Double(correct) / Double(total) }
}

extension Sequential {
    /// Loss, accuracy and confusion matrix on `data`, `batchSize` samples at a time. Inference
    /// only: nothing is trained, and calls may run at once from any number of threads.
    public func evaluate(_ data: LabeledImages, loss: any Loss, normalization: InputNormalization = .unit,
                         batchSize: Int = 256) throws(TrainingError) -> Evaluation {
        try check(data, normalization: normalization)
        try checkBatchSize(batchSize)
        let classes = data.classes
        // The call's own batch buffers, made once for the whole set.
        let rows = min(batchSize, max(data.count, 1))
        let input = Buffer(count: rows * inputCount), output = Buffer(count: rows * classes), targets = Buffer(count: rows * classes)
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        var lossSum = 0.0, correct = 0
        let order = Array(0..<data.count)
        withInferenceWorkspace(batch: rows) { workspace in
            order.withUnsafeBufferPointer { order in
                for start in stride(from: 0, to: data.count, by: batchSize) {
                    let n = min(batchSize, data.count - start)
                    data.fill(input: input.pointer, targets: targets.pointer, order: order, start: start, count: n, normalization: normalization)
                    infer(input.pointer, output.pointer, batch: n, workspace: workspace)
                    lossSum += Double(loss.loss(unsafeOutputs: output.pointer, targets: targets.pointer, gradient: nil, batch: n, classes: classes)) * Double(n)
                    for b in 0..<n {
                        let predicted = argmax(output.pointer + b * classes, classes), truth = data.labels[start + b]
                        confusion[truth][predicted] += 1
                        if predicted == truth { correct += 1 }
                    }
                }
            }
        }
        return Evaluation(correct: correct, total: data.count, loss: lossSum / Double(max(data.count, 1)), confusion: confusion)
    }

    /// Loss, accuracy and confusion matrix for float inputs (N, inputShape…) and their labels.
    public func evaluate(inputs: Tensor, labels: [Int], loss: any Loss) throws -> Evaluation {
        let (n, single) = try batchCount(inputs)
        let shaped = single ? try inputs.reshaped([1] + inputShape) : inputs
        guard labels.count == n else { throw TrainingDataError.labelCount(labels: labels.count, samples: n) }
        return try evaluate(LabeledImages(inputs: shaped, labels: labels, classes: outputCount), loss: loss)
    }

    /// Throws unless `data` has this network's input shape and one class per output, and, for
    /// 8-bit samples, `normalization` has one channel or one per sample channel.
    func check(_ data: LabeledImages, normalization: InputNormalization = .unit) throws(TrainingError) {
        guard data.sampleShape == inputShape else { throw .sampleShape(data: data.sampleShape, network: inputShape) }
        guard data.classes == outputCount else { throw .classCount(data: data.classes, outputs: outputCount) }
        if case .bytes = data.samples, !normalization.fits(data.sampleShape) {
            throw .normalizationChannels(normalization: normalization.channels, sample: data.sampleShape)
        }
        if case .bytes = data.samples, !normalization.isValid { throw .badNormalization(normalization) }
    }
}

extension Parameter {
    package var isFinite: Bool {
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
