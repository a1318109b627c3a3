import CKernels

// The convolutional layer's forward pass and its three gradients, on tensors:
//   Y_i = B_i + Σ_j X_j ⋆ K_ij
//   ∂E/∂K_ij = Σ_n X_j ⋆ ∂E/∂Y_i,   ∂E/∂B_i = Σ_n ∂E/∂Y_i (summed over positions for a bias per
//   channel),   ∂E/∂X_j = Σ_i ∂E/∂Y_i *full K_ij.
// X is (N, C, H, W), K (O, C, KH, KW), Y and ∂E/∂Y (N, O, OH, OW). With zero padding P and
// stride S, ⋆ correlates X padded by P zeros on every side at every S-th position:
//   Y[n,o,y,x] = B[o] + Σ_{c,kh,kw} Xpad[n,c,y·S+kh,x·S+kw]·K[o,c,kh,kw],
//   OH = (H + 2P − KH)/S + 1, OW = (W + 2P − KW)/S + 1 (rounded down, as PyTorch's conv2d),
// and the gradients are those of that sum (with P = 0, S = 1 the valid correlation above).

/// The convolutional layer's forward pass: Y[n,o] = B[o] + Σ_c X[n,c] ⋆ K[o,c], with X zero-padded
/// by `padding` on every side and the kernel moved `stride` rows and columns at a time.
///
/// - Parameters:
///   - input: X, (N, C, H, W).
///   - kernel: K, (O, C, KH, KW), with KH ≤ H + 2P and KW ≤ W + 2P.
///   - bias: nil for none; (O) for one bias per output channel (PyTorch's `Conv2d`); or
///     (O, OH, OW) for one bias per output position (the tutorial's untied bias).
///   - padding: P, 0 ≤ P < min(KH, KW): rows of zeros above and below X, columns left and right.
///   - stride: S ≥ 1.
///   - variant: Which implementation of the C kernel runs: `.simd` (default) or the `.scalar` reference.
/// - Returns: Y, (N, O, OH, OW) with OH = (H + 2P − KH)/S + 1, OW = (W + 2P − KW)/S + 1 (rounded down).
public func conv2d(_ input: Tensor, kernel: Tensor, bias: Tensor? = nil, padding: Int = 0, stride: Int = 1,
                   variant: Kernels.Variant = .simd) throws(ShapeError) -> Tensor {
    let x = try dimensions(input, rank: 4, "input"), k = try dimensions(kernel, rank: 4, "kernel")
    guard x[1] == k[1] else {
        throw ShapeError("input has \(x[1]) channels, kernel \(shapeText(kernel.shape)) expects \(k[1])")
    }
    let g = try ConvGeometry.checked(n: Int(x[0]), c: Int(x[1]), h: Int(x[2]), w: Int(x[3]), o: Int(k[0]), kh: Int(k[2]),
                                     kw: Int(k[3]), padding: padding, stride: stride)
    var mode = CK_BIAS_NONE
    if let bias {
        if bias.shape == [g.O] { mode = CK_BIAS_CHANNEL }
        else if bias.shape == [g.O, g.OH, g.OW] { mode = CK_BIAS_UNTIED }
        else { throw ShapeError("bias must be (\(g.O)) or (\(shapeText([g.O, g.OH, g.OW]))), got \(shapeText(bias.shape))") }
    }
    var out = zeros(g.outputShape)
    let b = bias ?? zeros([1])
    var work = [Float](repeating: 0, count: g.forwardWorkCount)
    input.withPointer { xp in kernel.withPointer { kp in b.withPointer { bp in out.withMutablePointer { y in
        work.withUnsafeMutableBufferPointer { wk in
            ck_conv2d_forward(variant.c, y, xp, kp, mode == CK_BIAS_NONE ? nil : bp, mode, wk.baseAddress, g.c)
        }
    } } } }
    return out
}

/// ∂E/∂K: dK[o,c,kh,kw] = Σ_{n,y,x} Xpad[n,c,y·S+kh,x·S+kw]·dY[n,o,y,x], (O, C, KH, KW).
///
/// - Parameters:
///   - input: X as the forward pass saw it, (N, C, H, W).
///   - outputGradient: ∂E/∂Y, (N, O, OH, OW).
///   - padding: P, as in the forward pass.
///   - stride: S, as in the forward pass.
///   - kernelSize: (KH, KW). Optional for stride 1, where it is H + 2P − OH + 1, W + 2P − OW + 1;
///     needed for stride > 1, where S kernel sizes give the same output size.
///   - variant: Which implementation of the C kernel runs: `.simd` (default) or the `.scalar` reference.
public func conv2dKernelGradient(input: Tensor, outputGradient: Tensor, padding: Int = 0, stride: Int = 1,
                                 kernelSize: (height: Int, width: Int)? = nil,
                                 variant: Kernels.Variant = .simd) throws(ShapeError) -> Tensor {
    let x = try dimensions(input, rank: 4, "input").map(Int.init)
    let dy = try dimensions(outputGradient, rank: 4, "output gradient").map(Int.init)
    // Clamped, as C clamps it: a padding C refuses need not be added up first.
    let p = Int(Int32(clamping: padding))
    let (kh, kw): (Int, Int)
    if let kernelSize { (kh, kw) = kernelSize }
    else if stride == 1 { (kh, kw) = (x[2] + 2 * p - dy[2] + 1, x[3] + 2 * p - dy[3] + 1) }
    else { throw ShapeError("with stride \(stride) the kernel gradient needs kernelSize: the output size does not determine it") }
    guard kh > 0, kw > 0 else {
        throw ShapeError("output gradient \(shapeText(outputGradient.shape)) does not come from input \(shapeText(input.shape))")
    }
    let g = try ConvGeometry.checked(n: x[0], c: x[1], h: x[2], w: x[3], o: dy[1], kh: kh, kw: kw, padding: padding, stride: stride)
    guard g.outputShape == outputGradient.shape else {
        throw ShapeError("output gradient \(shapeText(outputGradient.shape)) does not come from input \(shapeText(input.shape)) "
                         + "with a \(kh)×\(kw) kernel, padding \(padding), stride \(stride): expected \(shapeText(g.outputShape))")
    }
    var out = zeros([dy[1], x[1], kh, kw])
    var work = [Float](repeating: 0, count: g.kernelGradientWorkCount)
    input.withPointer { xp in outputGradient.withPointer { dyp in out.withMutablePointer { dk in
        work.withUnsafeMutableBufferPointer { wk in
            ck_conv2d_backward_kernel(variant.c, dk, xp, dyp, wk.baseAddress, g.c)
        }
    } } }
    return out
}

/// ∂E/∂B from ∂E/∂Y (N, O, OH, OW): summed over the batch and, for a bias per channel, over
/// positions, giving (O); with `untied`, one value per output position, (O, OH, OW). The same
/// with any padding and stride.
public func conv2dBiasGradient(outputGradient: Tensor, untied: Bool = false) throws(ShapeError) -> Tensor {
    let dy = try dimensions(outputGradient, rank: 4, "output gradient")
    var out = zeros(untied ? Array(outputGradient.shape.dropFirst()) : [Int(dy[1])])
    outputGradient.withPointer { dyp in out.withMutablePointer { db in
        ck_conv2d_backward_bias(db, dyp, untied ? CK_BIAS_UNTIED : CK_BIAS_CHANNEL, dy[0], dy[1], dy[2], dy[3])
    } }
    return out
}

/// ∂E/∂X: dX[n,c] = Σ_o dY[n,o] *full K[o,c] for padding 0 and stride 1; in general
/// dX[n,c,y,x] = Σ_{o,kh,kw} dY[n,o,(y+P−kh)/S,(x+P−kw)/S]·K[o,c,kh,kw] over the taps where both
/// quotients are whole and inside dY. (N, C, H, W).
///
/// - Parameters:
///   - outputGradient: ∂E/∂Y, (N, O, OH, OW).
///   - kernel: K, (O, C, KH, KW).
///   - padding: P, as in the forward pass.
///   - stride: S, as in the forward pass.
///   - inputSize: (H, W). Optional for stride 1, where it is OH + KH − 1 − 2P, OW + KW − 1 − 2P;
///     needed for stride > 1, where S input sizes give the same output size.
///   - variant: Which implementation of the C kernel runs: `.simd` (default) or the `.scalar` reference.
public func conv2dInputGradient(outputGradient: Tensor, kernel: Tensor, padding: Int = 0, stride: Int = 1,
                                inputSize: (height: Int, width: Int)? = nil,
                                variant: Kernels.Variant = .simd) throws(ShapeError) -> Tensor {
    let dy = try dimensions(outputGradient, rank: 4, "output gradient").map(Int.init)
    let k = try dimensions(kernel, rank: 4, "kernel").map(Int.init)
    guard dy[1] == k[0] else {
        throw ShapeError("output gradient has \(dy[1]) channels but the kernel \(shapeText(kernel.shape)) makes \(k[0])")
    }
    let p = Int(Int32(clamping: padding))
    let (h, w): (Int, Int)
    if let inputSize { (h, w) = inputSize }
    else if stride == 1 { (h, w) = (dy[2] + k[2] - 1 - 2 * p, dy[3] + k[3] - 1 - 2 * p) }
    else { throw ShapeError("with stride \(stride) the input gradient needs inputSize: the output size does not determine it") }
    guard h > 0, w > 0 else { throw ShapeError("a \(k[2])×\(k[3]) kernel with padding \(padding) leaves no input for output gradient \(shapeText(outputGradient.shape))") }
    let g = try ConvGeometry.checked(n: dy[0], c: k[1], h: h, w: w, o: k[0], kh: k[2], kw: k[3], padding: padding, stride: stride)
    guard g.outputShape == outputGradient.shape else {
        throw ShapeError("output gradient \(shapeText(outputGradient.shape)) does not come from a \(h)×\(w) input "
                         + "with kernel \(shapeText(kernel.shape)), padding \(padding), stride \(stride): expected \(shapeText(g.outputShape))")
    }
    var out = zeros([dy[0], k[1], h, w])
    var work = [Float](repeating: 0, count: g.inputGradientWorkCount)
    outputGradient.withPointer { dyp in kernel.withPointer { kp in out.withMutablePointer { dx in
        work.withUnsafeMutableBufferPointer { wk in
            ck_conv2d_backward_input(variant.c, dx, dyp, kp, wk.baseAddress, g.c)
        }
    } } }
    return out
}
