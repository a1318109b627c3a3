import CKernels

// 2-D correlation and convolution: the operations the tutorial derives its layer from.
// conv(I, K) = I ⋆ rot180(K); valid outputs are I − K + 1 on each axis, full ones I + K − 1.
// Each function takes single planes (rank 2) or batches of multi-channel images (rank 4).

/// The valid cross-correlation `input ⋆ kernel`: out[y,x] = Σ_{i,j} input[y+i, x+j]·kernel[i,j],
/// only where the kernel fits, so the output is (H−KH+1)×(W−KW+1).
///
/// - Planes: `input` (H, W), `kernel` (KH, KW) → (H−KH+1, W−KW+1).
/// - Batches: `input` (N, C, H, W), `kernel` (O, C, KH, KW) → (N, O, H−KH+1, W−KW+1) with
///   out[n,o] = Σ_c input[n,c] ⋆ kernel[o,c] (the convolutional layer without its bias).
///
/// Throws `ShapeError` for other ranks, empty tensors, channel counts that differ or a kernel
/// larger than the input.
public func correlateValid(_ input: Tensor, _ kernel: Tensor, variant: Kernels.Variant = .simd) throws(ShapeError) -> Tensor {
    if input.rank == 4 || kernel.rank == 4 { return try conv2d(input, kernel: kernel, variant: variant) }
    let (h, w, kh, kw) = try planeShapes(input, kernel)
    guard kh <= h, kw <= w else {
        throw ShapeError("kernel \(shapeText(kernel.shape)) is larger than input \(shapeText(input.shape))")
    }
    var out = zeros([Int(h - kh + 1), Int(w - kw + 1)])
    input.withPointer { i in kernel.withPointer { k in out.withMutablePointer { o in
        ck_correlate_valid(variant.c, o, i, k, h, w, kh, kw)
    } } }
    return out
}

/// The valid convolution `input ⋆ rot180(kernel)`: as `correlateValid` with each kernel plane
/// turned by 180°.
public func convolveValid(_ input: Tensor, _ kernel: Tensor, variant: Kernels.Variant = .simd) throws(ShapeError) -> Tensor {
    try correlateValid(input, kernel.rotated180(), variant: variant)
}

/// The full cross-correlation: `input` zero-padded by KH−1 rows and KW−1 columns on every side,
/// then `⋆ kernel`, so every overlap counts and the output is (H+KH−1)×(W+KW−1).
///
/// - Planes: `input` (H, W), `kernel` (KH, KW) → (H+KH−1, W+KW−1).
/// - Batches: `input` (N, O, H, W), `kernel` (O, C, KH, KW) → (N, C, H+KH−1, W+KW−1) with
///   out[n,c] = Σ_o input[n,o] ⋆full kernel[o,c]: the sum runs over the kernel's first axis,
///   as it does when the conv layer's gradient flows back to its input.
public func correlateFull(_ input: Tensor, _ kernel: Tensor, variant: Kernels.Variant = .simd) throws(ShapeError) -> Tensor {
    if input.rank == 4 || kernel.rank == 4 { return try convolveFull(input, kernel.rotated180(), variant: variant) }
    return try fullPlane(input, kernel, variant, ck_correlate_full)
}

/// The full convolution `input *full kernel` = full correlation with rot180(kernel): the
/// backward pass of the convolutional layer, ∂E/∂X_j = Σ_i ∂E/∂Y_i *full K_ij.
///
/// - Planes: `input` (H, W), `kernel` (KH, KW) → (H+KH−1, W+KW−1).
/// - Batches: `input` (N, O, H, W), `kernel` (O, C, KH, KW) → (N, C, H+KH−1, W+KW−1) with
///   out[n,c] = Σ_o input[n,o] *full kernel[o,c]; this is `conv2dInputGradient`.
public func convolveFull(_ input: Tensor, _ kernel: Tensor, variant: Kernels.Variant = .simd) throws(ShapeError) -> Tensor {
    if input.rank == 4 || kernel.rank == 4 { return try conv2dInputGradient(outputGradient: input, kernel: kernel, variant: variant) }
    return try fullPlane(input, kernel, variant, ck_convolve_full)
}

private func planeShapes(_ input: Tensor, _ kernel: Tensor) throws(ShapeError) -> (Int32, Int32, Int32, Int32) {
    guard input.rank == 2, kernel.rank == 2 else {
        throw ShapeError("correlation takes two planes (rank 2) or two batches (rank 4), got \(shapeText(input.shape)) and \(shapeText(kernel.shape))")
    }
    let i = try dimensions(input, rank: 2, "input"), k = try dimensions(kernel, rank: 2, "kernel")
    return (i[0], i[1], k[0], k[1])
}

private typealias FullKernel = (ck_variant, UnsafeMutablePointer<Float>?, UnsafePointer<Float>?,
                                UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int32, Int32, Int32, Int32) -> Void

private func fullPlane(_ input: Tensor, _ kernel: Tensor, _ variant: Kernels.Variant, _ kernelFunction: FullKernel) throws(ShapeError) -> Tensor {
    let (h, w, kh, kw) = try planeShapes(input, kernel)
    let outShape = [Int(h) + Int(kh) - 1, Int(w) + Int(kw) - 1]
    try checkKernelSize([Int(h) + 2 * Int(kh), Int(w) + 2 * Int(kw)], "padded input")
    var out = zeros(outShape)
    var work = [Float](repeating: 0, count: ck_correlate_full_work_size(h, w, kh, kw))
    input.withPointer { i in kernel.withPointer { k in out.withMutablePointer { o in
        work.withUnsafeMutableBufferPointer { wk in
            kernelFunction(variant.c, o, i, k, wk.baseAddress, h, w, kh, kw)
        }
    } } }
    return out
}

extension Tensor {
    /// Each plane turned by 180°: the last two axes reversed (a rank-1 tensor is reversed, a
    /// scalar stays as it is). For a kernel (O, C, KH, KW), every (o, c) plane turns.
    public func rotated180() -> Tensor {
        // A tensor without values may still have huge axes, whose product would overflow.
        guard rank >= 1, count > 0 else { return self }
        let plane = rank == 1 ? shape[0] : shape[rank - 2] * shape[rank - 1]
        var out = scalars
        for start in stride(from: 0, to: count, by: plane) {
            for i in 0..<plane { out[start + i] = scalars[start + plane - 1 - i] }
        }
        return Tensor(unchecked: shape, out)
    }
}
