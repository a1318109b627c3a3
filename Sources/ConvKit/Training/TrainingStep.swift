/// How a step splits its batch and sums the gradients: the one description of the reduction.
package enum Reduction {
    /// Run every batch as this many contiguous shares in this process, summing their gradients
    /// in share order, exactly as that many processes would. 1 is the plain step, the only one
    /// that folds plain SGD into the backward pass.
    case shares(Int)
    /// Data-parallel training: this process runs its rank's contiguous share of every batch and
    /// the gradients are summed over the group's processes in rank order.
    case processes(ProcessGroup)
}

/// What became NaN or infinite in a step.
package enum Divergence: Equatable {
    /// The batch's loss: nothing was updated, neither weights nor the layers' state.
    case loss
    /// The named weight, after the update (a learning rate too large for the network).
    case weight(String)

    /// As `TrainingError.nonFinite` names it.
    package var what: String {
        switch self {
        case .loss: "the loss"
        case .weight(let name): "weight \(name)"
        }
    }
}

/// What one step did.
package struct StepResult {
    /// The batch's mean loss, before the update.
    package var loss: Float
    /// How many samples the network got right before the update (see `countCorrect`); under a
    /// process group, this process's share only.
    package var correct: Int
    /// Nil when the step trained; otherwise what was not finite.
    package var divergence: Divergence?
}

/// One optimizer step: forward, loss, backward, update. The one owner of a training step, which
/// the trainer, the tensor-level `Sequential.trainingStep`, `convkit bench` and the tests all run.
/// It holds the targets buffer (the inputs go into the network's input buffer), the reduction
/// and the divergence checks; what changes from step to step (the batch, the learning rate, the
/// noise key) is an argument of `run`.
///
/// Every step runs as shares (a whole batch is one share): each share is filled, run forward, and
/// its loss gradient weighted by its part of the batch; the shares' gradients are summed; then the
/// loss is checked and the optimizer updates. With one share in one process the backward pass
/// waits until the loss is known to be finite, and plain SGD is folded into it where the
/// optimizer declares it can be (`FusableOptimizer`), only for layers whose parameters all belong
/// to the optimizer, so a parameter the optimizer was not given is never updated. Sharded, every
/// gradient must be complete before the update, so there is no fusion.
///
/// Cheap to make (a fusion plan and buffers sized to `batchSize`); make one per network, loss and
/// optimizer for a training loop, which then allocates nothing per step. Optimizer state (Adam's
/// moments) lives in the optimizer, so a new step on the same optimizer trains on seamlessly.
package final class TrainingStep {
    package let network: Sequential
    package let loss: any Loss
    package let optimizer: Optimizer
    package let reduction: Reduction
    /// The largest batch `run` takes.
    package let batchSize: Int
    /// The batch's targets, (N, outputs).
    private let targets: BatchBuffer
    private let fusable: FusableOptimizer?
    private let fusedLayers: [Bool]
    private let fusedParameters: Set<ObjectIdentifier>
    /// The gradients as they are sent, the layers' state (batch norm's running statistics), plus
    /// the batch's loss: one collective a step.
    private lazy var reduced: [Buffer] = network.parameters.map(\.gradient) + layerState + [lossSlot]
    /// Every layer's state. A sharded step ends with the mean over the shares of the state each
    /// share computes from the state before the step: every share starts from the same state
    /// (restored from `stateBefore` in one process; in sync on every rank), the states are summed
    /// with the gradients, in share order, and divided by the share count. So the result is
    /// the same for processes and for shares in one process, and a share with no samples
    /// contributes the state unchanged.
    /// A step whose loss is not finite puts the state back as it was, as it leaves the weights.
    private lazy var layerState: [Buffer] = network.state.map(\.value)
    private lazy var stateBefore: [Buffer] = layerState.map { Buffer(count: $0.count) }
    private let lossSlot = Buffer(count: 1)
    /// The running sum of the shares' gradients (and loss) in a one-process sharded step.
    private lazy var accumulated: [Buffer] = reduced.map { Buffer(count: $0.count) }

    /// A step for batches of 1 to `batchSize` samples, reserving the network's buffers for them.
    /// Throws `TrainingError.badBatchSize` for a batch size below 1 or too large for the network,
    /// `.badShares` for shares below 1 or above the batch size (more would only add empty shares).
    package init(network: Sequential, loss: any Loss, optimizer: Optimizer, batchSize: Int,
                 reduction: Reduction = .shares(1)) throws(TrainingError) {
        try network.checkBatchSize(batchSize)
        if case .shares(let n) = reduction, !(1...batchSize).contains(n) { throw .badShares(n) }
        self.network = network
        self.loss = loss
        self.optimizer = optimizer
        self.reduction = reduction
        self.batchSize = batchSize
        network.reserve(batch: batchSize)
        targets = BatchBuffer(perSample: network.outputCount, capacity: batchSize)
        fusable = optimizer as? FusableOptimizer
        let owned = Set(optimizer.parameters.map(ObjectIdentifier.init))
        fusedLayers = network.layers.map { layer in
            !layer.parameters.isEmpty && layer.parameters.allSatisfy { owned.contains(ObjectIdentifier($0)) }
        }
        fusedParameters = fusable == nil ? [] : Set(zip(network.layers, fusedLayers).filter(\.1)
            .flatMap { $0.0.parameters.map(ObjectIdentifier.init) })
    }

    /// How many shares a batch is cut into, and which of them this process runs.
    private var shares: (count: Int, mine: Range<Int>) {
        switch reduction {
        case .shares(let n): (n, 0..<n)
        case .processes(let group): (group.size, group.rank..<(group.rank + 1))
        }
    }

    /// One share in one process: the backward pass can wait for the loss check and fuse SGD.
    private var isWhole: Bool {
        if case .shares(1) = reduction { true } else { false }
    }

    /// One step on `batch` (1 to `batchSize` samples) at `learningRate`, with `noiseKey` keying its
    /// random choices (`Pass.noiseKey`). Σ over shares r of (∂E_r/∂W)·m_r/n, where E_r is
    /// the mean loss over share r's m_r samples: the gradient of the whole batch's mean loss. A
    /// loss that is not finite leaves every weight and the layers' state as they were; with
    /// `checkingWeights`, a weight that is not finite after the update is reported too. Throws
    /// only when the processes cannot communicate.
    package func run<Batch: StepBatch>(_ batch: Batch, learningRate: Float, noiseKey: UInt64,
                                       checkingWeights: Bool = true) throws(ProcessGroupError) -> StepResult {
        let n = batch.count
        precondition((1...batchSize).contains(n), "a batch of \(n) for a step of at most \(batchSize)")
        optimizer.learningRate = learningRate
        let (parts, mine) = shares
        let classes = network.outputCount
        var correct = 0
        saveState()
        for r in mine {
            let lo = r * n / parts, hi = (r + 1) * n / parts, m = hi - lo
            if r != mine.lowerBound { restoreState() }
            if m == 0 {
                for p in network.parameters { p.gradient.fill(0) }
                lossSlot.pointer[0] = 0
            } else {
                batch.fill(input: network.input, targets: targets.pointer, samples: lo..<hi)
                network.forward(batch: m, training: true, noiseKey: noiseKey, firstSample: lo)
                let value = loss.loss(unsafeOutputs: network.output, targets: targets.pointer, gradient: network.outputGradient,
                                      batch: m, classes: classes)
                correct += countCorrect(network.output, targets: targets.pointer, batch: m, classes: classes)
                if isWhole {
                    // Its weight is 1, and its backward pass waits for the loss check below so that
                    // it may carry the update.
                    lossSlot.pointer[0] = value
                } else {
                    let weight = Float(m) / Float(n)
                    for i in 0..<(m * classes) { network.outputGradient[i] *= weight }
                    lossSlot.pointer[0] = value * weight
                    network.backward(batch: m)
                }
            }
            if parts > 1, case .shares = reduction { accumulate(first: r == 0) }
        }
        try reduce(shares: parts)
        let value = lossSlot.pointer[0]
        guard value.isFinite else {
            restoreState()
            return StepResult(loss: value, correct: correct, divergence: .loss)
        }
        if !isWhole {
            optimizer.step()
        } else if let fusable, let rate = fusable.fusedSGDRate {
            network.backward(batch: n, fusedSGD: (fusedLayers, rate))
            fusable.step(skipping: fusedParameters)
        } else {
            network.backward(batch: n)
            optimizer.step()
        }
        if checkingWeights, let bad = network.namedParameters.first(where: { !$0.parameter.isFinite }) {
            return StepResult(loss: value, correct: correct, divergence: .weight(bad.name))
        }
        return StepResult(loss: value, correct: correct, divergence: nil)
    }

    private func saveState() {
        for (saved, live) in zip(stateBefore, layerState) { saved.pointer.update(from: live.pointer, count: live.count) }
    }

    private func restoreState() {
        for (saved, live) in zip(stateBefore, layerState) { live.pointer.update(from: saved.pointer, count: live.count) }
    }

    /// Adds the share just run to the running sum of a one-process sharded step.
    private func accumulate(first: Bool) {
        for (sum, part) in zip(accumulated, reduced) {
            if first { sum.pointer.update(from: part.pointer, count: part.count) } else {
                for i in 0..<part.count { sum.pointer[i] += part.pointer[i] }
            }
        }
    }

    /// The shares' sums into `reduced` (the gradients, the loss and the layers' state), the state
    /// then divided by the share count. Nothing to do for one share in one process.
    private func reduce(shares parts: Int) throws(ProcessGroupError) {
        switch reduction {
        case .processes(let group): try group.allReduceSum(reduced)
        case .shares(let n) where n > 1:
            for (sum, part) in zip(accumulated, reduced) { part.pointer.update(from: sum.pointer, count: part.count) }
        case .shares: return
        }
        for buffer in layerState {
            for i in 0..<buffer.count { buffer.pointer[i] /= Float(parts) }
        }
    }
}

extension Sequential {
    /// One step of training on a batch: forward, the loss against `labels` (a class in
    /// `0..<outputCount` per sample, as one-hot targets), backward, and `optimizer.step()`.
    /// Returns the batch's mean loss.
    ///
    /// `inputs` is (N, inputShape…) or one sample of `inputShape`. Throws `ShapeError` for a
    /// wrong shape; `TrainingDataError` for a wrong label count or label; `TrainingError` for NaN or infinite inputs
    /// or targets, for an optimizer whose learning rate is below 0 or not finite, and when the
    /// loss is not finite (in these cases nothing is updated), and when a weight is not finite
    /// after the update (a learning rate too large for the network).
    public func trainingStep(inputs: Tensor, labels: [Int], loss: any Loss, optimizer: Optimizer) throws -> Float {
        let (n, _) = try batchCount(inputs)
        guard labels.count == n else { throw TrainingDataError.labelCount(labels: labels.count, samples: n) }
        let k = outputCount
        if let bad = labels.firstIndex(where: { !(0..<k).contains($0) }) {
            throw TrainingDataError.labelOutOfRange(position: bad, label: labels[bad], classes: k)
        }
        var targets = [Float](repeating: 0, count: n * k)
        for (i, label) in labels.enumerated() { targets[i * k + label] = 1 }
        return try trainingStep(inputs: inputs, targets: Tensor(unchecked: [n, k], targets), loss: loss, optimizer: optimizer)
    }

    /// One step of training against any targets (N, outputCount), e.g. soft labels for binary
    /// cross-entropy. Returns the batch's mean loss; throws as the labelled version does.
    public func trainingStep(inputs: Tensor, targets: Tensor, loss: any Loss, optimizer: Optimizer) throws -> Float {
        let (n, _) = try batchCount(inputs)
        guard n > 0 else { throw TrainingError.emptyData }
        guard targets.shape == [n, outputCount] else {
            throw ShapeError("targets \(shapeText(targets.shape)) for \(n) samples of \(outputCount) outputs must be (\(n), \(outputCount))")
        }
        if inputs.scalars.contains(where: { !$0.isFinite }) { throw TrainingError.nonFinite(epoch: nil, step: nil, what: "an input") }
        if targets.scalars.contains(where: { !$0.isFinite }) { throw TrainingError.nonFinite(epoch: nil, step: nil, what: "a target") }
        // Checked on every call: the learning rate is a settable property of any optimizer.
        guard OptimizerError.isValid(learningRate: optimizer.learningRate) else {
            throw TrainingError.badLearningRate(optimizer.learningRate)
        }
        // A step per call is cheap, and no step kept on the network can go stale (another loss,
        // another optimizer); the optimizer's own state carries over from call to call.
        let step = try TrainingStep(network: self, loss: loss, optimizer: optimizer, batchSize: n)
        let key = noiseKey(seed: 0, step: trainingSteps)
        trainingSteps += 1
        let result = try step.run(TensorBatch(inputs: inputs, targets: targets), learningRate: optimizer.learningRate, noiseKey: key)
        if let divergence = result.divergence { throw TrainingError.nonFinite(epoch: nil, step: nil, what: divergence.what) }
        return result.loss
    }
}

/// A step's `Pass.noiseKey`: the run's seed and the step's number, mixed (SplitMix64's
/// finaliser) so that neighbouring steps get unrelated keys.
package func noiseKey(seed: UInt64, step: Int) -> UInt64 {
    var z = seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(truncatingIfNeeded: step + 1)
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

package func argmax(_ values: UnsafePointer<Float>, _ count: Int) -> Int {
    var best = 0
    for k in 1..<max(count, 1) where values[k] > values[best] { best = k }
    return best
}

/// Samples whose largest output is at their target row's largest value: the class for one-hot
/// targets, and still the class once targets are smoothed (no entry is 1 then). A row with
/// several largest targets counts any of them; an all-zero row counts none.
package func countCorrect(_ output: UnsafePointer<Float>, targets: UnsafePointer<Float>, batch: Int, classes: Int) -> Int {
    var correct = 0
    for b in 0..<batch {
        let row = targets + b * classes, largest = row[argmax(row, classes)]
        if largest > 0 && row[argmax(output + b * classes, classes)] == largest { correct += 1 }
    }
    return correct
}
