import CKernels

/// The fully connected layer's forward pass: Y = X·Wᵀ + b.
///
/// - Parameters:
///   - input: X, (N, I).
///   - weight: W, (O, I), laid out as PyTorch's `Linear.weight`.
///   - bias: b, (O), or nil for none.
///   - variant: Which implementation of the C kernel runs: `.simd` (default) or the `.scalar` reference.
/// - Returns: Y, (N, O).
public func dense(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, variant: Kernels.Variant = .simd) throws(ShapeError) -> Tensor {
    let (n, i, o) = try denseShapes(input: input, weight: weight)
    let b = bias ?? zeros([Int(o)])
    guard b.shape == [Int(o)] else { throw ShapeError("bias must be (\(o)), got \(shapeText(b.shape))") }
    try checkKernelSize([Int(n), Int(o)], "output")
    var out = zeros([Int(n), Int(o)])
    input.withPointer { x in weight.withPointer { wp in b.withPointer { bp in out.withMutablePointer { y in
        ck_dense_forward(variant.c, y, x, wp, bp, n, i, o)
    } } } }
    return out
}

/// The fully connected layer's three gradients from ∂E/∂Y.
public struct DenseGradients: Sendable, Equatable {
    /// ∂E/∂X = dY·W, (N, I).
    public var input: Tensor
    /// ∂E/∂W = dYᵀ·X, (O, I).
    public var weight: Tensor
    /// ∂E/∂b = Σ_n dY[n], (O).
    public var bias: Tensor
}

/// The fully connected layer's backward pass: ∂E/∂X = dY·W, ∂E/∂W = dYᵀ·X, ∂E/∂b = Σ_n dY.
///
/// - Parameters:
///   - input: X as the forward pass saw it, (N, I).
///   - weight: W, (O, I).
///   - outputGradient: ∂E/∂Y, (N, O).
///   - variant: Which implementation of the C kernel runs: `.simd` (default) or the `.scalar` reference.
public func denseGradients(input: Tensor, weight: Tensor, outputGradient: Tensor, variant: Kernels.Variant = .simd) throws(ShapeError) -> DenseGradients {
    let (n, i, o) = try denseShapes(input: input, weight: weight)
    guard outputGradient.shape == [Int(n), Int(o)] else {
        throw ShapeError("output gradient must be (\(n), \(o)), got \(shapeText(outputGradient.shape))")
    }
    var dx = zeros(input.shape), dw = zeros(weight.shape), db = zeros([Int(o)])
    input.withPointer { x in weight.withPointer { wp in outputGradient.withPointer { dy in
        dx.withMutablePointer { dxp in dw.withMutablePointer { dwp in db.withMutablePointer { dbp in
            ck_dense_backward(variant.c, dxp, dwp, dbp, dy, x, wp, n, i, o)
        } } }
    } } }
    return DenseGradients(input: dx, weight: dw, bias: db)
}

private func denseShapes(input: Tensor, weight: Tensor) throws(ShapeError) -> (Int32, Int32, Int32) {
    let x = try dimensions(input, rank: 2, "input"), w = try dimensions(weight, rank: 2, "weight")
    guard x[1] == w[1] else {
        throw ShapeError("input has \(x[1]) features, weight \(shapeText(weight.shape)) expects \(w[1])")
    }
    return (x[0], x[1], w[0])
}
