import CKernels

/// A trainable tensor of a layer: its value and the gradient of the loss with respect to it.
public final class Parameter: @unchecked Sendable {
    /// The name PyTorch gives it inside its module: "weight" or "bias".
    public let name: String
    /// The tensor shape, e.g. (O, C, KH, KW) for a convolution kernel.
    public let shape: [Int]
    /// The values, read-only outside ConvKit; replace them with `set(_:)`.
    public let value: Buffer
    /// ∂E/∂value from the last backward pass (left unwritten where the update was fused into it).
    public let gradient: Buffer

    /// A parameter of `shape`, its values and gradient all zero. Throws `ShapeError` unless every
    /// dimension is at least 1 and the parameter holds at most `Architecture.maxElements` values
    /// (a scalar, shape [], holds one).
    public init(name: String, shape: [Int]) throws(ShapeError) {
        let count = try checkedCount(shape, what: "\(name) \(shapeText(shape))")
        self.name = name
        self.shape = shape
        value = Buffer(count: count)
        gradient = Buffer(count: count)
    }

    /// The number of values, the product of `shape`.
    public var count: Int { value.count }

    /// The values as a tensor of `shape`.
    public var tensor: Tensor { Tensor(unchecked: shape, value.array) }

    /// Replaces the values; the tensor must have this parameter's shape.
    public func set(_ newValue: Tensor) throws(ShapeError) {
        guard newValue.shape == shape else {
            throw ShapeError("parameter \(name) is \(shapeText(shape)), got \(shapeText(newValue.shape))")
        }
        value.copy(from: newValue.scalars)
    }

    /// The gradient as a tensor of `shape`.
    public var gradientTensor: Tensor { Tensor(unchecked: shape, gradient.array) }

    /// gradient += delta: how a `CustomLayer`'s `backward` hands over ∂E/∂value (the network
    /// zeroes the gradient before each backward pass, so a layer that adds once overwrites). The
    /// tensor must have this parameter's shape.
    public func accumulateGradient(_ delta: Tensor) throws(ShapeError) {
        guard delta.shape == shape else {
            throw ShapeError("gradient of parameter \(name) is \(shapeText(shape)), got \(shapeText(delta.shape))")
        }
        delta.withPointer { d in for i in 0..<count { gradient.pointer[i] += d[i] } }
    }
}

/// One step of a network, per sample: `inputShape` → `outputShape`. What every layer tells about
/// itself; running it is `Sequential`'s job, which owns the batch buffers between layers.
public protocol Layer: AnyObject, CustomStringConvertible {
    /// The shape of one sample going in, without the batch axis, e.g. [1, 28, 28].
    var inputShape: [Int] { get }
    /// The shape of one sample coming out, without the batch axis.
    var outputShape: [Int] { get }
    /// Weights and biases, in the order PyTorch's module lists them.
    var parameters: [Parameter] { get }
    /// The line of the architecture spec that builds this layer, e.g. "conv 8 5".
    var spec: String { get }
    /// Multiply-adds ×2 per sample for the forward pass.
    var forwardFlops: Int { get }
    /// Tensors the layer keeps that the optimizer does not train but a model file must hold
    /// (batch norm's running statistics), named and ordered as in PyTorch's `state_dict`, after
    /// `parameters`.
    var state: [Parameter] { get }
    /// `parameters` under their names inside the layer's PyTorch module: "weight", "bias", or
    /// "body.0.weight" in a residual block.
    var namedParameters: [(name: String, parameter: Parameter)] { get }
    /// `state` under its names inside the layer's PyTorch module, e.g. "running_mean".
    var namedState: [(name: String, parameter: Parameter)] { get }
}

extension Layer {
    /// None: a layer without weights.
    public var parameters: [Parameter] { [] }
    /// None unless the layer says otherwise.
    public var forwardFlops: Int { 0 }
    /// None: a layer whose output depends on its parameters and input alone.
    public var state: [Parameter] { [] }
    /// Each parameter under its own name.
    public var namedParameters: [(name: String, parameter: Parameter)] { parameters.map { ($0.name, $0) } }
    /// Each state tensor under its own name.
    public var namedState: [(name: String, parameter: Parameter)] { state.map { ($0.name, $0) } }
    /// The number of values in one input sample.
    public var inputCount: Int { inputShape.reduce(1, *) }
    /// The number of values in one output sample.
    public var outputCount: Int { outputShape.reduce(1, *) }
    /// The number of trainable values, all parameters together.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }
}

/// How the package's layers run: over raw batch buffers that the network owns and sizes, so
/// nothing is allocated per step. Not public: a caller could hand it pointers to too little
/// memory. `backward` overwrites the parameter gradients (the loss gradient already carries the
/// 1/N of the batch mean).
/// What a pass over a layer is for and how it runs, forward or backward: every `BatchLayer`
/// call takes one, so the variant and the training flags travel together. Training differs from
/// inference where a layer says so: batch norm normalises by the batch's own statistics (and updates its running ones),
/// dropout drops. Random choices come from a hash of `noiseKey` and the sample's position in the
/// whole batch, never from a generator's state, so they are the same on any thread count, in
/// any share of a batch, and after a resume.
package struct Pass: Sendable {
    /// Which implementation of the C kernels runs.
    package var variant: Kernels.Variant
    /// A training step (true) or inference.
    package var training: Bool
    /// One value per optimizer step, from the run's seed and the step's number.
    package var noiseKey: UInt64
    /// The position within the whole batch of this call's first sample: a share of a batch
    /// (data-parallel training) starts past 0.
    package var firstSample: Int
    /// The layer's position in the network, which `Sequential` sets for each layer: it keys the
    /// layer's random choices apart from another layer's.
    package var layerIndex = 0

    package init(variant: Kernels.Variant, training: Bool = false, noiseKey: UInt64 = 0, firstSample: Int = 0) {
        (self.variant, self.training, self.noiseKey, self.firstSample) = (variant, training, noiseKey, firstSample)
    }
}

package protocol BatchLayer: Layer {
    /// Grows workspaces for batches of up to `batch` samples.
    func reserve(batch: Int)
    /// y = layer(x); x is (batch, inputShape), y (batch, outputShape).
    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass)
    /// Parameter gradients from dy, and dx when asked for (the first layer needs none).
    /// x and y are what forward saw and gave.
    func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                  _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass)
    /// Floats of scratch `infer` needs for a batch of `batch` samples: 0 unless the layer says
    /// otherwise.
    func inferenceWorkspaceCount(batch: Int) -> Int
    /// y = layer(x) for inference, the same numbers as `forward` with `training` false, writing
    /// nothing but y and `workspace` (`inferenceWorkspaceCount(batch:)` floats, the caller's; nil
    /// where that is 0): it reads the parameters and state and keeps nothing for a backward pass,
    /// so any number of calls may run at once on one layer. The default runs `forward`, which is
    /// right for a layer whose forward pass writes nothing of its own; a layer that keeps a
    /// workspace or a flag overrides it, and its `forward` calls it where the two agree.
    func infer(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass,
               workspace: UnsafeMutablePointer<Float>?)
    /// `backward`, then a plain SGD step W −= lr·dW on each parameter while its gradient is still
    /// in cache. dx is computed with the weights of the forward pass. A layer may fuse the two and
    /// leave its parameters' `gradient` buffers unwritten.
    func backwardThenSGD(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                         _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass, learningRate: Float)
}

extension BatchLayer {
    package func reserve(batch: Int) {}

    package func inferenceWorkspaceCount(batch: Int) -> Int { 0 }

    package func infer(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass,
                       workspace: UnsafeMutablePointer<Float>?) {
        forward(x, y, batch: batch, pass: pass)
    }

    package func backwardThenSGD(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                 _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass, learningRate: Float) {
        backward(x, y, dy, dx, batch: batch, pass: pass)
        for p in parameters { ck_sgd_update(p.value.pointer, p.gradient.pointer, learningRate, 0, p.count) }
    }
}

package func shapeText(_ shape: [Int]) -> String { shape.map(String.init).joined(separator: "×") }
