/// One optimizer step on a batch that is already in the network's input buffer, with its targets
/// in `targets`: forward, loss, backward, update. The one implementation that the trainer, the
/// tensor-level `Sequential.trainingStep`, `convkit bench` and the tests all run.
///
/// Plain SGD is folded into the backward pass where the optimizer declares it can be
/// (`FusableOptimizer`) and only for layers whose parameters all belong to the optimizer, so a
/// parameter the optimizer was not given is never updated.
package final class TrainingStep {
    /// Unowned: a network keeps its last step (`Sequential.trainingStep`), so a strong reference
    /// back would be a cycle; whoever makes a step keeps its network alive.
    package unowned let network: Sequential
    /// Settable: a cached step is reused with whichever loss the next call brings (a loss has no
    /// buffers, but two of the same type may differ, e.g. in label smoothing).
    package var loss: any Loss
    package let optimizer: Optimizer
    /// One-hot (or any) targets for the batch, (N, outputs); grows with the batch.
    package let targets: BatchBuffer
    private let fusable: FusableOptimizer?
    private let fusedLayers: [Bool]
    private let fusedParameters: Set<ObjectIdentifier>
    /// Data-parallel training: this process runs one contiguous share of every batch and the
    /// gradients are summed over the processes in rank order. Nil: one process.
    package var processes: ProcessGroup?
    /// Without `processes`: run every batch as this many contiguous shares, summing their
    /// gradients in share order, exactly as that many processes would; 1 is the plain step.
    package var shares = 1
    /// The next step's `ForwardPass.noiseKey`: the trainer sets it from its seed and the step's
    /// number before each step.
    package var noiseKey: UInt64 = 0
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

    private func saveState() {
        for (saved, live) in zip(stateBefore, layerState) { saved.pointer.update(from: live.pointer, count: live.count) }
    }

    private func restoreState() {
        for (saved, live) in zip(stateBefore, layerState) { live.pointer.update(from: saved.pointer, count: live.count) }
    }
    private let lossSlot = Buffer(count: 1)
    /// The running sum of the shares' gradients (and loss) in a one-process sharded step.
    private lazy var accumulated: [Buffer] = reduced.map { Buffer(count: $0.count) }

    package init(network: Sequential, loss: any Loss, optimizer: Optimizer) {
        self.network = network
        self.loss = loss
        self.optimizer = optimizer
        targets = BatchBuffer(perSample: network.outputCount, capacity: 0)
        fusable = optimizer as? FusableOptimizer
        let owned = Set(optimizer.parameters.map(ObjectIdentifier.init))
        fusedLayers = network.layers.map { layer in
            !layer.parameters.isEmpty && layer.parameters.allSatisfy { owned.contains(ObjectIdentifier($0)) }
        }
        fusedParameters = fusable == nil ? [] : Set(zip(network.layers, fusedLayers).filter(\.1)
            .flatMap { $0.0.parameters.map(ObjectIdentifier.init) })
    }

    /// Room for batches of up to `batch` samples in the network and the targets.
    package func reserve(batch: Int) {
        network.reserve(batch: batch)
        targets.reserve(batch)
    }

    /// Forward, loss and its gradient for the first `batch` samples; then, if the loss is
    /// finite, backward and the optimizer's update (a non-finite loss leaves every weight, and the
    /// layers' state, as it was). Returns the mean loss and how many samples the network got right
    /// before the update (the largest output at the target's largest value, see `countCorrect`).
    /// Not sharded: `processes` and `shares` are for `run(batch:fill:)`.
    package func run(batch n: Int) -> (loss: Float, correct: Int) {
        precondition(processes == nil && shares == 1, "a sharded step needs run(batch:fill:)")
        return runWhole(batch: n)
    }

    /// One step whose inputs and targets `fill(start, count)` writes, for samples
    /// start..<start+count of the batch, at the front of the network's input and of `targets`.
    /// Sharded (`processes` or `shares`), each share is filled and run by itself; throws only
    /// when the processes cannot communicate.
    package func run(batch n: Int, fill: (Int, Int) -> Void) throws(ProcessGroupError) -> (loss: Float, correct: Int) {
        if processes == nil && shares == 1 {
            fill(0, n)
            return runWhole(batch: n)
        }
        return try runShares(batch: n, fill: fill)
    }

    /// Σ over shares r of (∂E_r/∂W)·m_r/n, where E_r is the mean loss over share r's m_r samples:
    /// the gradient of the whole batch's mean loss, summed share by share in order, in one process
    /// or across ranks alike. No SGD fusion: every gradient must be complete before the update.
    private func runShares(batch n: Int, fill: (Int, Int) -> Void) throws(ProcessGroupError) -> (loss: Float, correct: Int) {
        let parts = processes?.size ?? shares
        let mine = processes.map { $0.rank..<($0.rank + 1) } ?? 0..<parts
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
                fill(lo, m)
                network.forward(batch: m, training: true, noiseKey: noiseKey, firstSample: lo)
                let value = loss.loss(unsafeOutputs: network.output, targets: targets.pointer, gradient: network.outputGradient,
                                      batch: m, classes: classes)
                correct += countCorrect(network.output, targets: targets.pointer, batch: m, classes: classes)
                let weight = Float(m) / Float(n)
                for i in 0..<(m * classes) { network.outputGradient[i] *= weight }
                network.backward(batch: m)
                lossSlot.pointer[0] = value * weight
            }
            if processes == nil {
                for (sum, part) in zip(accumulated, reduced) {
                    if r == 0 { sum.pointer.update(from: part.pointer, count: part.count) } else {
                        for i in 0..<part.count { sum.pointer[i] += part.pointer[i] }
                    }
                }
            }
        }
        if let processes {
            try processes.allReduceSum(reduced)
        } else {
            for (sum, part) in zip(accumulated, reduced) { part.pointer.update(from: sum.pointer, count: part.count) }
        }
        for buffer in layerState {
            for i in 0..<buffer.count { buffer.pointer[i] /= Float(parts) }
        }
        let value = lossSlot.pointer[0]
        guard value.isFinite else {
            restoreState()
            return (value, correct)
        }
        optimizer.step()
        return (value, correct)
    }

    private func runWhole(batch n: Int) -> (loss: Float, correct: Int) {
        saveState()
        network.forward(batch: n, training: true, noiseKey: noiseKey)
        let classes = network.outputCount
        let value = loss.loss(unsafeOutputs: network.output, targets: targets.pointer, gradient: network.outputGradient,
                              batch: n, classes: classes)
        guard value.isFinite else {
            restoreState()
            return (value, 0)
        }
        let correct = countCorrect(network.output, targets: targets.pointer, batch: n, classes: classes)
        if let fusable, let rate = fusable.fusedSGDRate {
            network.backward(batch: n, fusedSGD: (fusedLayers, rate))
            fusable.step(skipping: fusedParameters)
        } else {
            network.backward(batch: n)
            optimizer.step()
        }
        return (value, correct)
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
        let step: TrainingStep
        if let cached = cachedStep, cached.optimizer === optimizer {
            step = cached
            step.loss = loss
        } else {
            step = TrainingStep(network: self, loss: loss, optimizer: optimizer)
            cachedStep = step
        }
        step.reserve(batch: n)
        step.noiseKey = noiseKey(seed: 0, step: trainingSteps)
        trainingSteps += 1
        inputs.withPointer { input.update(from: $0, count: n * inputCount) }
        targets.withPointer { step.targets.pointer.update(from: $0, count: targets.count) }
        let value = step.run(batch: n).loss
        guard value.isFinite else { throw TrainingError.nonFinite(epoch: nil, step: nil, what: "the loss") }
        if let bad = namedParameters.first(where: { !$0.parameter.isFinite }) {
            throw TrainingError.nonFinite(epoch: nil, step: nil, what: "weight \(bad.name)")
        }
        return value
    }
}

/// A step's `ForwardPass.noiseKey`: the run's seed and the step's number, mixed (SplitMix64's
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
