import CKernels

// Activations and their gradients, elementwise over tensors of any shape. Each gradient is
// written from the forward output y, as the backward pass has it: dx = dy·f'(x) with f'(x)
// expressed through y. NaN in, NaN out.

/// σ(x) = 1 / (1 + e^−x), elementwise.
public func sigmoid(_ x: Tensor, variant: Kernels.Variant = .simd) -> Tensor { map(x, variant, ck_sigmoid_forward) }
/// ∂E/∂x = ∂E/∂y · y(1 − y), with y = σ(x).
public func sigmoidGradient(outputGradient: Tensor, output: Tensor, variant: Kernels.Variant = .simd) throws(ShapeError) -> Tensor {
    try mapGradient(outputGradient, output, variant, ck_sigmoid_backward)
}

/// tanh(x), elementwise.
public func tanh(_ x: Tensor, variant: Kernels.Variant = .simd) -> Tensor { map(x, variant, ck_tanh_forward) }
/// ∂E/∂x = ∂E/∂y · (1 − y²), with y = tanh(x).
public func tanhGradient(outputGradient: Tensor, output: Tensor, variant: Kernels.Variant = .simd) throws(ShapeError) -> Tensor {
    try mapGradient(outputGradient, output, variant, ck_tanh_backward)
}

/// max(x, 0), elementwise.
public func relu(_ x: Tensor, variant: Kernels.Variant = .simd) -> Tensor { map(x, variant, ck_relu_forward) }
/// ∂E/∂x = ∂E/∂y where y = max(x, 0) > 0, else 0.
public func reluGradient(outputGradient: Tensor, output: Tensor, variant: Kernels.Variant = .simd) throws(ShapeError) -> Tensor {
    try mapGradient(outputGradient, output, variant, ck_relu_backward)
}

private func map(_ x: Tensor, _ variant: Kernels.Variant, _ kernel: MapKernel) -> Tensor {
    guard x.count > 0 else { return x }
    var y = x
    y.withMutablePointer { yp in x.withPointer { xp in kernel(variant.c, yp, xp, x.count) } }
    return y
}

private func mapGradient(_ dy: Tensor, _ y: Tensor, _ variant: Kernels.Variant, _ kernel: MapGradientKernel) throws(ShapeError) -> Tensor {
    guard dy.shape == y.shape else {
        throw ShapeError("output gradient \(shapeText(dy.shape)) and output \(shapeText(y.shape)) differ in shape")
    }
    guard dy.count > 0 else { return dy }
    var dx = dy
    dx.withMutablePointer { dxp in dy.withPointer { dyp in y.withPointer { yp in kernel(variant.c, dxp, dyp, yp, dy.count) } } }
    return dx
}
