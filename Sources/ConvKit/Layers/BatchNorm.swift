import CKernels

/// Batch normalisation (Ioffe & Szegedy), as PyTorch's BatchNorm2d after a convolution (input
/// C×H×W, statistics per channel over N, H, W) and BatchNorm1d after a dense layer (input F,
/// statistics per feature over N):
///
///     y = (x − mean) / √(var + ε) · γ + β
///
/// Training normalises by the batch's own mean and biased variance and moves the running
/// statistics towards them, `running = (1 − momentum)·running + momentum·batch`, with the
/// variance unbiased (×M/(M−1), M = N·H·W), as PyTorch does; inference normalises by the running
/// statistics. ε = 1e-5, momentum = 0.1, PyTorch's defaults.
///
/// A batch run as shares (`Trainer.shares`, or processes under MPI) is normalised share by
/// share, each with its own statistics, as PyTorch's DistributedDataParallel does without
/// SyncBatchNorm; the running statistics after the step are the mean over the shares of what
/// each share computes from the statistics before the step (see `TrainingStep`).
public final class BatchNorm: BatchLayer {
    /// (C, H, W) or (F).
    public let inputShape: [Int]
    /// The same as `inputShape`.
    public var outputShape: [Int] { inputShape }
    /// γ, (C): starts at 1.
    public let weight: Parameter
    /// β, (C): starts at 0.
    public let bias: Parameter
    /// γ, then β.
    public let parameters: [Parameter]
    /// The mean the running statistics hold, (C): starts at 0.
    public let runningMean: Parameter
    /// The (unbiased) variance the running statistics hold, (C): starts at 1.
    public let runningVariance: Parameter
    /// Training forward passes so far, shape [] (PyTorch keeps it as an int64; here a float, exact
    /// up to 2²⁴ steps). PyTorch reads it only when its momentum is None, ConvKit never.
    public let batchesTracked: Parameter
    /// running_mean, running_var, num_batches_tracked: PyTorch's `state_dict` order.
    public let state: [Parameter]
    /// ε, added to the variance before its square root.
    public let epsilon: Float = 1e-5
    /// How far one training step moves the running statistics.
    public let momentum: Float = 0.1
    /// C: channels (features).
    public let channels: Int
    /// S: values per channel and sample, H·W (1 after a dense layer).
    package let planeSize: Int
    /// The statistics of the last training forward pass, which its backward pass needs.
    package let batchMean: Buffer
    package let batchVariance: Buffer
    /// Each plane's part of the statistics, (batch, C, 2), where the convolution before writes
    /// them (`ConvolutionBeforeNorm`).
    package let planeStatistics: BatchBuffer

    /// Normalisation of samples of `input`: (C, H, W) per channel or (F) per feature. Throws
    /// `ShapeError` for any other rank, and unless `input` has positive dimensions and at most
    /// `Architecture.maxElements` values.
    public init(input: [Int]) throws(ShapeError) {
        guard input.count == 3 || input.count == 1 else {
            throw ShapeError("batchnorm needs a C×H×W or a flat input, got \(shapeText(input))")
        }
        _ = try checkedCount(input, what: "batchnorm input \(shapeText(input))")
        inputShape = input
        channels = input[0]
        planeSize = input.dropFirst().reduce(1, *)
        weight = try Parameter(name: "weight", shape: [channels])
        bias = try Parameter(name: "bias", shape: [channels])
        parameters = [weight, bias]
        runningMean = try Parameter(name: "running_mean", shape: [channels])
        runningVariance = try Parameter(name: "running_var", shape: [channels])
        batchesTracked = try Parameter(name: "num_batches_tracked", shape: [])
        state = [runningMean, runningVariance, batchesTracked]
        batchMean = Buffer(count: channels)
        batchVariance = Buffer(count: channels)
        planeStatistics = BatchBuffer(perSample: 2 * channels)
        reset()
    }

    /// γ = 1, β = 0, running mean 0, running variance 1, no batches tracked: PyTorch's start,
    /// which every `WeightInit` scheme keeps.
    public func reset() {
        weight.value.fill(1)
        bias.value.fill(0)
        runningMean.value.fill(0)
        runningVariance.value.fill(1)
        batchesTracked.value.fill(0)
    }

    /// "batchnorm".
    public var spec: String { "batchnorm" }
    /// "BatchNorm2d C" or "BatchNorm1d F", PyTorch's names.
    public var description: String { (inputShape.count == 3 ? "BatchNorm2d " : "BatchNorm1d ") + "\(channels)" }
    /// About 4 operations per value: subtract, scale twice, shift.
    public var forwardFlops: Int { 4 * inputCount }

    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass) {
        let (mean, variance) = statistics(x, batch: batch, pass: pass)
        ck_batchnorm_forward(pass.variant.c, y, x, mean, variance, weight.value.pointer, bias.value.pointer, epsilon,
                             Int32(batch), Int32(channels), Int32(planeSize))
    }

    /// The mean and variance a forward pass normalises x by: in training the batch's own, which
    /// this computes (from x, or `fromPlanes` from `planeStatistics`, the same numbers), keeps for
    /// the backward pass and moves the running statistics towards; in inference the running ones.
    /// What the forward pass does before it normalises, for it and for the fused passes that
    /// normalise too (`FusedPasses`).
    package func statistics(_ x: UnsafePointer<Float>, batch: Int, pass: Pass,
                            fromPlanes: Bool = false) -> (mean: UnsafePointer<Float>, variance: UnsafePointer<Float>) {
        guard pass.training else { return (UnsafePointer(runningMean.value.pointer), UnsafePointer(runningVariance.value.pointer)) }
        let c = Int32(channels)
        if fromPlanes {
            ck_batchnorm_statistics_of_planes(batchMean.pointer, batchVariance.pointer, planeStatistics.pointer, Int32(batch), c,
                                              Int32(planeSize))
        } else {
            ck_batchnorm_statistics(pass.variant.c, batchMean.pointer, batchVariance.pointer, x, Int32(batch), c, Int32(planeSize))
        }
        ck_batchnorm_update_running(runningMean.value.pointer, runningVariance.value.pointer, batchMean.pointer,
                                    batchVariance.pointer, momentum, batch * planeSize, c)
        batchesTracked.value.pointer[0] += 1
        return (UnsafePointer(batchMean.pointer), UnsafePointer(batchVariance.pointer))
    }

    /// Normalised by the running statistics, which it only reads.
    package func infer(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass,
                       workspace: UnsafeMutablePointer<Float>?) {
        ck_batchnorm_forward(pass.variant.c, y, x, runningMean.value.pointer, runningVariance.value.pointer,
                             weight.value.pointer, bias.value.pointer, epsilon, Int32(batch), Int32(channels), Int32(planeSize))
    }

    /// The gradient through the batch statistics of the last training forward pass.
    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass) {
        ck_batchnorm_backward(pass.variant.c, dx, weight.gradient.pointer, bias.gradient.pointer, dy, x,
                              batchMean.pointer, batchVariance.pointer, weight.value.pointer, epsilon,
                              Int32(batch), Int32(channels), Int32(planeSize))
    }
}
