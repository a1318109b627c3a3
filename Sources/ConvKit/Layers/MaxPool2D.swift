import CKernels

/// The largest value of each P×P window, windows S apart: (N, C, H, W) → (N, C, (H−P)/S+1, (W−P)/S+1).
public final class MaxPool2D: BatchLayer {
    /// (C, H, W).
    public let inputShape: [Int]
    /// (C, (H−P)/S+1, (W−P)/S+1).
    public let outputShape: [Int]
    /// P, the window's side.
    public let size: Int
    /// S, the distance between windows.
    public let stride: Int
    /// Where each maximum of the last forward pass came from, (N, C, OH, OW) planes' indices.
    package private(set) var argmax: UnsafeMutablePointer<Int32>
    private var capacity = 0

    /// A layer pooling `size`×`size` windows `stride` apart (nil: `size`, windows side by side) over
    /// samples of `input` (C, H, W). Throws `ShapeError` unless the window fits, the stride is at
    /// most `Conv2D.maxPaddingOrStride` and `input` has at most `Architecture.maxElements` values.
    public init(input: [Int], size: Int = 2, stride: Int? = nil) throws(ShapeError) {
        let stride = stride ?? size
        inputShape = input
        outputShape = try pooledShape(input, size: size, stride: stride, layer: "maxpool")
        self.size = size
        self.stride = stride
        argmax = .allocate(capacity: 1)
    }

    deinit { argmax.deallocate() }

    /// "maxpool P", or "maxpool P S" when the stride differs from the window.
    public var spec: String { stride == size ? "maxpool \(size)" : "maxpool \(size) \(stride)" }
    /// The layer's name with its window, e.g. "MaxPool2D 2×2".
    public var description: String { "MaxPool2D \(size)×\(size)" + (stride == size ? "" : " stride \(stride)") }

    package func reserve(batch: Int) {
        guard batch > capacity else { return }
        argmax.deallocate()
        argmax = .allocate(capacity: batch * outputCount)
        capacity = batch
    }

    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass) {
        reserve(batch: batch)
        pool(x, y, argmax: argmax, batch: batch)
    }

    /// No argmax: where each maximum came from only matters to a backward pass.
    package func infer(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass,
                       workspace: UnsafeMutablePointer<Float>?) {
        pool(x, y, argmax: nil, batch: batch)
    }

    private func pool(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>?, batch: Int) {
        ck_maxpool_forward(y, argmax, x, Int32(batch), Int32(inputShape[0]), Int32(inputShape[1]), Int32(inputShape[2]),
                           Int32(size), Int32(stride))
    }

    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass) {
        guard let dx else { return }
        ck_maxpool_backward(dx, dy, argmax, Int32(batch), Int32(inputShape[0]), Int32(inputShape[1]), Int32(inputShape[2]),
                            Int32(outputShape[1]), Int32(outputShape[2]))
    }
}

/// (C, (H−P)/S+1, (W−P)/S+1): the output of P×P windows S apart over `input` (C, H, W), as
/// max and average pooling both take them. Throws unless the input is a checked C×H×W shape, the
/// window fits and the stride is from 1 to `Conv2D.maxPaddingOrStride` (the kernels take it as
/// a 32-bit int).
func pooledShape(_ input: [Int], size: Int, stride: Int, layer: String) throws(ShapeError) -> [Int] {
    guard input.count == 3 else { throw ShapeError("\(layer) needs a C×H×W input, got \(shapeText(input))") }
    _ = try checkedCount(input, what: "\(layer) input \(shapeText(input))")
    guard size > 0, stride > 0, stride <= Conv2D.maxPaddingOrStride else {
        throw ShapeError("\(layer) needs a positive window and a stride from 1 to \(Conv2D.maxPaddingOrStride)")
    }
    guard size <= input[1], size <= input[2] else {
        throw ShapeError("a \(size)×\(size) window does not fit a \(input[1])×\(input[2]) input")
    }
    return [input[0], (input[1] - size) / stride + 1, (input[2] - size) / stride + 1]
}
