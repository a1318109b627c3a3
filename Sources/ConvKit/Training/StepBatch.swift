/// The samples of one training step, as `TrainingStep.run` asks for them: the step owns the
/// buffers and decides how the batch is split into shares; a batch only knows how to write any
/// contiguous range of its samples. So a trainer's shuffled, augmented images and a caller's
/// tensors go through the same step.
package protocol StepBatch {
    /// The number of samples in the batch, at least 1.
    var count: Int { get }

    /// Writes samples `samples` of the batch at the front of `input` (one row of the network's
    /// `inputCount` values per sample) and their targets at the front of `targets` (one row of
    /// `outputCount` values per sample). Called once per share, in share order; no allocation.
    func fill(input: UnsafeMutablePointer<Float>, targets: UnsafeMutablePointer<Float>, samples: Range<Int>)
}

/// A batch held in tensors: `inputs` (N, inputShape…) or one sample of `inputShape`, and
/// `targets` (N, outputCount). The shapes are the caller's to check (`Sequential.trainingStep`).
package struct TensorBatch: StepBatch {
    package let inputs: Tensor
    package let targets: Tensor
    package let count: Int

    package init(inputs: Tensor, targets: Tensor) {
        (self.inputs, self.targets) = (inputs, targets)
        count = targets.shape[0]
    }

    package func fill(input: UnsafeMutablePointer<Float>, targets out: UnsafeMutablePointer<Float>, samples: Range<Int>) {
        let x = inputs.count / count, k = targets.count / count
        inputs.withPointer { input.update(from: $0 + samples.lowerBound * x, count: samples.count * x) }
        targets.withPointer { out.update(from: $0 + samples.lowerBound * k, count: samples.count * k) }
    }
}

/// Batch `start..<start+count` of an epoch's order over labelled images: each sample read as
/// floats through `normalization`, its one-hot target written, then `augmentation` applied,
/// keyed by the run's seed, the epoch and the sample's position in the epoch. Made for every
/// step of `Trainer.fit`; it holds references only, so making one allocates nothing.
package struct ImageBatch: StepBatch {
    package let data: LabeledImages
    /// The epoch's order; valid for as long as the batch is used.
    package let order: UnsafeBufferPointer<Int>
    package let start: Int
    package let count: Int
    package let normalization: InputNormalization
    package let augmentation: Augmentation
    /// The sample's (C, H, W) for `augmentation`; unused when it is the identity.
    package let image: (channels: Int, height: Int, width: Int)
    package let seed: UInt64
    package let epoch: Int

    package func fill(input: UnsafeMutablePointer<Float>, targets: UnsafeMutablePointer<Float>, samples: Range<Int>) {
        let first = start + samples.lowerBound
        data.fill(input: input, targets: targets, order: order, start: first, count: samples.count, normalization: normalization)
        augmentation.apply(to: input, count: samples.count, channels: image.channels, height: image.height, width: image.width,
                           seed: seed, epoch: epoch, firstPosition: first)
    }
}
