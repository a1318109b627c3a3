import CKernels

/// The mean of each P×P window, windows S apart: (N, C, H, W) → (N, C, (H−P)/S+1, (W−P)/S+1),
/// as PyTorch's AvgPool2d(P, S) (no padding; the divisor is always P²).
public final class AvgPool2D: BatchLayer {
    /// (C, H, W).
    public let inputShape: [Int]
    /// (C, (H−P)/S+1, (W−P)/S+1).
    public let outputShape: [Int]
    /// P, the window's side.
    public let size: Int
    /// S, the distance between windows.
    public let stride: Int

    /// A layer averaging `size`×`size` windows `stride` apart (nil: `size`) over samples of `input`
    /// (C, H, W). Throws `ShapeError` unless the window fits, the stride is at most
    /// `Conv2D.maxPaddingOrStride` and `input` has at most `Architecture.maxElements` values.
    public init(input: [Int], size: Int = 2, stride: Int? = nil) throws(ShapeError) {
        let stride = stride ?? size
        inputShape = input
        outputShape = try pooledShape(input, size: size, stride: stride, layer: "avgpool")
        self.size = size
        self.stride = stride
    }

    /// "avgpool P", or "avgpool P S" when the stride differs from the window.
    public var spec: String { stride == size ? "avgpool \(size)" : "avgpool \(size) \(stride)" }
    /// The layer's name with its window, e.g. "AvgPool2D 2×2".
    public var description: String { "AvgPool2D \(size)×\(size)" + (stride == size ? "" : " stride \(stride)") }

    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass) {
        ck_avgpool_forward(pass.variant.c, y, x, Int32(batch), Int32(inputShape[0]), Int32(inputShape[1]), Int32(inputShape[2]),
                           Int32(size), Int32(stride))
    }

    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass) {
        guard let dx else { return }
        ck_avgpool_backward(pass.variant.c, dx, dy, Int32(batch), Int32(inputShape[0]), Int32(inputShape[1]), Int32(inputShape[2]),
                            Int32(size), Int32(stride))
    }
}

/// The mean of each channel: (N, C, H, W) → (N, C, 1, 1), as PyTorch's AdaptiveAvgPool2d(1);
/// follow it with `flatten` before a dense layer.
public final class GlobalAvgPool2D: BatchLayer {
    /// (C, H, W).
    public let inputShape: [Int]
    /// (C, 1, 1).
    public let outputShape: [Int]

    /// A layer averaging each channel of samples of `input` (C, H, W). Throws `ShapeError` unless
    /// `input` has three positive axes and at most `Architecture.maxElements` values.
    public init(input: [Int]) throws(ShapeError) {
        guard input.count == 3 else { throw ShapeError("globalavgpool needs a C×H×W input, got \(shapeText(input))") }
        _ = try checkedCount(input, what: "globalavgpool input \(shapeText(input))")
        inputShape = input
        outputShape = [input[0], 1, 1]
    }

    /// "globalavgpool".
    public var spec: String { "globalavgpool" }
    /// "GlobalAvgPool2D".
    public var description: String { "GlobalAvgPool2D" }

    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass) {
        ck_global_avgpool_forward(pass.variant.c, y, x, Int32(batch), Int32(inputShape[0]), Int32(inputShape[1] * inputShape[2]))
    }

    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass) {
        guard let dx else { return }
        ck_global_avgpool_backward(pass.variant.c, dx, dy, Int32(batch), Int32(inputShape[0]), Int32(inputShape[1] * inputShape[2]))
    }
}
