import CKernels

/// The result of max pooling: the pooled tensor and where each maximum came from, which only
/// `maxPool2DGradient` reads (so the indices it follows cannot point outside the input).
public struct MaxPoolResult: Sendable {
    /// (N, C, (H−P)/S+1, (W−P)/S+1).
    public let output: Tensor
    /// The input shape, (N, C, H, W).
    public let inputShape: [Int]
    let argmax: [Int32]
}

/// The largest value of each P×P window, windows S apart (default S = P):
/// (N, C, H, W) → (N, C, (H−P)/S+1, (W−P)/S+1).
public func maxPool2D(_ input: Tensor, size: Int, stride: Int? = nil) throws(ShapeError) -> MaxPoolResult {
    let x = try dimensions(input, rank: 4, "input")
    let stride = stride ?? size
    guard size > 0, stride > 0, size <= Int(x[2]), size <= Int(x[3]) else {
        throw ShapeError("a \(size)×\(size) window with stride \(stride) does not fit a \(x[2])×\(x[3]) input")
    }
    let shape = [Int(x[0]), Int(x[1]), (Int(x[2]) - size) / stride + 1, (Int(x[3]) - size) / stride + 1]
    var out = zeros(shape)
    var argmax = [Int32](repeating: 0, count: out.count)
    input.withPointer { xp in out.withMutablePointer { y in argmax.withUnsafeMutableBufferPointer { a in
        ck_maxpool_forward(y, a.baseAddress, xp, x[0], x[1], x[2], x[3], Int32(size), Int32(stride))
    } } }
    return MaxPoolResult(output: out, inputShape: input.shape, argmax: argmax)
}

/// ∂E/∂X for max pooling: each window's ∂E/∂Y goes to the position of its maximum, every other
/// input position gets 0 (overlapping windows add up). `outputGradient` has `pooled.output`'s shape.
public func maxPool2DGradient(outputGradient: Tensor, pooled: MaxPoolResult) throws(ShapeError) -> Tensor {
    guard outputGradient.shape == pooled.output.shape else {
        throw ShapeError("output gradient \(shapeText(outputGradient.shape)) for pooled output \(shapeText(pooled.output.shape))")
    }
    let s = pooled.inputShape.map { Int32($0) }, o = pooled.output.shape
    var dx = zeros(pooled.inputShape)
    outputGradient.withPointer { dy in dx.withMutablePointer { dxp in pooled.argmax.withUnsafeBufferPointer { a in
        ck_maxpool_backward(dxp, dy, a.baseAddress, s[0], s[1], s[2], s[3], Int32(o[2]), Int32(o[3]))
    } } }
    return dx
}
