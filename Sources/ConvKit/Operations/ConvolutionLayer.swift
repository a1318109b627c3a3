import CKernels

// The convolutional layer's forward pass and its three gradients, on tensors:
//   Y_i = B_i + Σ_j X_j ⋆ K_ij
//   ∂E/∂K_ij = Σ_n X_j ⋆ ∂E/∂Y_i,   ∂E/∂B_i = Σ_n ∂E/∂Y_i (summed over positions for a bias per
//   channel),   ∂E/∂X_j = Σ_i ∂E/∂Y_i *full K_ij.
// X is (N, C, H, W), K (O, C, KH, KW), Y and ∂E/∂Y (N, O, H−KH+1, W−KW+1).

/// The convolutional layer's forward pass: Y[n,o] = B[o] + Σ_c X[n,c] ⋆ K[o,c].
///
/// - Parameters:
///   - input: X, (N, C, H, W).
///   - kernel: K, (O, C, KH, KW), with KH ≤ H and KW ≤ W.
///   - bias: nil for none; (O) for one bias per output channel (PyTorch's `Conv2d`); or
///     (O, H−KH+1, W−KW+1) for one bias per output position (the tutorial's untied bias).
///   - variant: Which implementation of the C kernel runs: `.simd` (default) or the `.scalar` reference.
/// - Returns: Y, (N, O, H−KH+1, W−KW+1).
public func conv2d(_ input: Tensor, kernel: Tensor, bias: Tensor? = nil, variant: Kernels.Variant = .simd) throws(ShapeError) -> Tensor {
    let s = try ConvShapes(input: input, kernel: kernel)
    var mode = CK_BIAS_NONE
    if let bias {
        if bias.shape == [s.O] { mode = CK_BIAS_CHANNEL }
        else if bias.shape == [s.O, s.OH, s.OW] { mode = CK_BIAS_UNTIED }
        else { throw ShapeError("bias must be (\(s.O)) or (\(shapeText([s.O, s.OH, s.OW]))), got \(shapeText(bias.shape))") }
    }
    var out = zeros(s.outputShape)
    let b = bias ?? zeros([1])
    input.withPointer { x in kernel.withPointer { k in b.withPointer { bp in out.withMutablePointer { y in
        ck_conv2d_forward(variant.c, y, x, k, mode == CK_BIAS_NONE ? nil : bp, mode, s.n, s.c, s.h, s.w, s.o, s.kh, s.kw)
    } } } }
    return out
}

/// ∂E/∂K: dK[o,c] = Σ_n X[n,c] ⋆ dY[n,o], (O, C, KH, KW) with KH = H − OH + 1, KW = W − OW + 1.
///
/// - Parameters:
///   - input: X as the forward pass saw it, (N, C, H, W).
///   - outputGradient: ∂E/∂Y, (N, O, OH, OW) with OH ≤ H and OW ≤ W.
///   - variant: Which implementation of the C kernel runs: `.simd` (default) or the `.scalar` reference.
public func conv2dKernelGradient(input: Tensor, outputGradient: Tensor, variant: Kernels.Variant = .simd) throws(ShapeError) -> Tensor {
    let x = try dimensions(input, rank: 4, "input"), dy = try dimensions(outputGradient, rank: 4, "output gradient")
    guard x[0] == dy[0], dy[2] <= x[2], dy[3] <= x[3] else {
        throw ShapeError("output gradient \(shapeText(outputGradient.shape)) does not come from input \(shapeText(input.shape))")
    }
    let (kh, kw) = (x[2] - dy[2] + 1, x[3] - dy[3] + 1)
    let shape = [Int(dy[1]), Int(x[1]), Int(kh), Int(kw)]
    try checkKernelSize(shape, "kernel gradient")
    var out = zeros(shape)
    input.withPointer { xp in outputGradient.withPointer { dyp in out.withMutablePointer { dk in
        ck_conv2d_backward_kernel(variant.c, dk, xp, dyp, x[0], x[1], x[2], x[3], dy[1], kh, kw)
    } } }
    return out
}

/// ∂E/∂B from ∂E/∂Y (N, O, OH, OW): summed over the batch and, for a bias per channel, over
/// positions, giving (O); with `untied`, one value per output position, (O, OH, OW).
public func conv2dBiasGradient(outputGradient: Tensor, untied: Bool = false) throws(ShapeError) -> Tensor {
    let dy = try dimensions(outputGradient, rank: 4, "output gradient")
    var out = zeros(untied ? Array(outputGradient.shape.dropFirst()) : [Int(dy[1])])
    outputGradient.withPointer { dyp in out.withMutablePointer { db in
        ck_conv2d_backward_bias(db, dyp, untied ? CK_BIAS_UNTIED : CK_BIAS_CHANNEL, dy[0], dy[1], dy[2], dy[3])
    } }
    return out
}

/// ∂E/∂X: dX[n,c] = Σ_o dY[n,o] *full K[o,c], (N, C, OH+KH−1, OW+KW−1).
///
/// - Parameters:
///   - outputGradient: ∂E/∂Y, (N, O, OH, OW).
///   - kernel: K, (O, C, KH, KW).
///   - variant: Which implementation of the C kernel runs: `.simd` (default) or the `.scalar` reference.
public func conv2dInputGradient(outputGradient: Tensor, kernel: Tensor, variant: Kernels.Variant = .simd) throws(ShapeError) -> Tensor {
    let dy = try dimensions(outputGradient, rank: 4, "output gradient"), k = try dimensions(kernel, rank: 4, "kernel")
    guard dy[1] == k[0] else {
        throw ShapeError("output gradient has \(dy[1]) channels but the kernel \(shapeText(kernel.shape)) makes \(k[0])")
    }
    let (n, o, c, kh, kw) = (dy[0], dy[1], k[1], k[2], k[3])
    let (h, w) = (Int(dy[2]) + Int(kh) - 1, Int(dy[3]) + Int(kw) - 1)
    let shape = [Int(n), Int(c), h, w]
    try checkKernelSize(shape, "input gradient")
    try checkKernelSize([Int(n), Int(o), h + Int(kh), w + Int(kw)], "padded output gradient")
    var out = zeros(shape)
    var work = [Float](repeating: 0, count: ck_conv2d_backward_input_work_size(n, c, Int32(h), Int32(w), o, kh, kw))
    outputGradient.withPointer { dyp in kernel.withPointer { kp in out.withMutablePointer { dx in
        work.withUnsafeMutableBufferPointer { wk in
            ck_conv2d_backward_input(variant.c, dx, dyp, kp, wk.baseAddress, n, c, Int32(h), Int32(w), o, kh, kw)
        }
    } } }
    return out
}

/// The dimensions of one conv2d call, checked against each other.
private struct ConvShapes {
    let n, c, h, w, o, kh, kw: Int32

    init(input: Tensor, kernel: Tensor) throws(ShapeError) {
        let x = try dimensions(input, rank: 4, "input"), k = try dimensions(kernel, rank: 4, "kernel")
        guard x[1] == k[1] else {
            throw ShapeError("input has \(x[1]) channels, kernel \(shapeText(kernel.shape)) expects \(k[1])")
        }
        guard k[2] <= x[2], k[3] <= x[3] else {
            throw ShapeError("a \(k[2])×\(k[3]) kernel does not fit a \(x[2])×\(x[3]) input")
        }
        (n, c, h, w, o, kh, kw) = (x[0], x[1], x[2], x[3], k[0], k[2], k[3])
        try checkKernelSize(outputShape, "output")
    }

    var O: Int { Int(o) }
    var OH: Int { Int(h - kh + 1) }
    var OW: Int { Int(w - kw + 1) }
    var outputShape: [Int] { [Int(n), O, OH, OW] }
}
