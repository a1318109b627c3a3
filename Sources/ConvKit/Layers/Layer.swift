import CKernels

/// A trainable tensor of a layer: its value and the gradient of the loss with respect to it.
public final class Parameter {
    /// The name PyTorch gives it inside its module: "weight" or "bias".
    public let name: String
    public let shape: [Int]
    public let value: Buffer
    public let gradient: Buffer

    public init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
        value = Buffer(count: shape.reduce(1, *))
        gradient = Buffer(count: shape.reduce(1, *))
    }

    public var count: Int { value.count }

    public var tensor: Tensor {
        get { Tensor(shape: shape, scalars: value.array) }
        set {
            precondition(newValue.shape == shape, "parameter \(name) is \(shape), got \(newValue.shape)")
            value.copy(from: newValue.scalars)
        }
    }
}

/// One step of a network over a batch: (N, inputShape) → (N, outputShape), shapes per sample.
///
/// Layers work on raw batch buffers that the network owns and sizes once, so that nothing is
/// allocated per step; `backward` overwrites the parameter gradients (the loss gradient already
/// carries the 1/N of the batch mean).
public protocol Layer: AnyObject, CustomStringConvertible {
    var inputShape: [Int] { get }
    var outputShape: [Int] { get }
    var parameters: [Parameter] { get }
    /// The line of the architecture spec that builds this layer, e.g. "conv 8 5".
    var spec: String { get }
    /// Multiply-adds ×2 per sample for the forward pass.
    var forwardFlops: Int { get }

    /// Grows workspaces for batches of up to `batch` samples.
    func reserve(batch: Int)
    /// y = layer(x).
    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int)
    /// Parameter gradients from dy, and dx when asked for (the first layer needs none).
    /// x and y are what forward saw and gave.
    func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                  _ dx: UnsafeMutablePointer<Float>?, batch: Int)
    /// `backward`, then a plain SGD step W −= lr·dW on each parameter while its gradient is still
    /// in cache. dx is computed with the weights of the forward pass. A layer may fuse the two and
    /// leave its parameters' `gradient` buffers unwritten.
    func backwardThenSGD(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                         _ dx: UnsafeMutablePointer<Float>?, batch: Int, learningRate: Float)
}

extension Layer {
    public var parameters: [Parameter] { [] }
    public var forwardFlops: Int { 0 }
    public func reserve(batch: Int) {}
    public var inputCount: Int { inputShape.reduce(1, *) }
    public var outputCount: Int { outputShape.reduce(1, *) }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    public func backwardThenSGD(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                _ dx: UnsafeMutablePointer<Float>?, batch: Int, learningRate: Float) {
        backward(x, y, dy, dx, batch: batch)
        for p in parameters { ck_sgd_update(p.value.pointer, p.gradient.pointer, learningRate, 0, p.count) }
    }
}

func shapeText(_ shape: [Int]) -> String { shape.map(String.init).joined(separator: "×") }
