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
    let g = try ConvGeometry(n: x[0], c: x[1], h: x[2], w: x[3], o: k[0], kh: k[2], kw: k[3], padding: padding, stride: stride)
    var mode = CK_BIAS_NONE
    if let bias {
        if bias.shape == [g.O] { mode = CK_BIAS_CHANNEL }
        else if bias.shape == [g.O, g.OH, g.OW] { mode = CK_BIAS_UNTIED }
        else { throw ShapeError("bias must be (\(g.O)) or (\(shapeText([g.O, g.OH, g.OW]))), got \(shapeText(bias.shape))") }
    }
    var out = zeros(g.outputShape)
    let b = bias ?? zeros([1])
    var work = [Float](repeating: 0, count: ck_conv2d_padded_forward_work_size(g.c))
    input.withPointer { xp in kernel.withPointer { kp in b.withPointer { bp in out.withMutablePointer { y in
        work.withUnsafeMutableBufferPointer { wk in
            ck_conv2d_padded_forward(variant.c, y, xp, kp, mode == CK_BIAS_NONE ? nil : bp, mode, wk.baseAddress, g.c)
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
    let x = try dimensions(input, rank: 4, "input"), dy = try dimensions(outputGradient, rank: 4, "output gradient")
    guard padding >= 0, padding <= Conv2D.maxPaddingOrStride else { throw ShapeError("padding must be from 0 to \(Conv2D.maxPaddingOrStride), got \(padding)") }
    let (kh, kw): (Int, Int)
    if let kernelSize { (kh, kw) = kernelSize }
    else if stride == 1 { (kh, kw) = (Int(x[2]) + 2 * padding - Int(dy[2]) + 1, Int(x[3]) + 2 * padding - Int(dy[3]) + 1) }
    else { throw ShapeError("with stride \(stride) the kernel gradient needs kernelSize: the output size does not determine it") }
    guard kh > 0, kw > 0, kh <= 1 << 20, kw <= 1 << 20 else {
        throw ShapeError("output gradient \(shapeText(outputGradient.shape)) does not come from input \(shapeText(input.shape))")
    }
    let g = try ConvGeometry(n: x[0], c: x[1], h: x[2], w: x[3], o: dy[1], kh: Int32(kh), kw: Int32(kw), padding: padding, stride: stride)
    guard g.outputShape == outputGradient.shape else {
        throw ShapeError("output gradient \(shapeText(outputGradient.shape)) does not come from input \(shapeText(input.shape)) "
                         + "with a \(kh)×\(kw) kernel, padding \(padding), stride \(stride): expected \(shapeText(g.outputShape))")
    }
    let shape = [Int(dy[1]), Int(x[1]), kh, kw]
    try checkKernelSize(shape, "kernel gradient")
    var out = zeros(shape)
    var work = [Float](repeating: 0, count: ck_conv2d_padded_backward_kernel_work_size(g.c))
    input.withPointer { xp in outputGradient.withPointer { dyp in out.withMutablePointer { dk in
        work.withUnsafeMutableBufferPointer { wk in
            ck_conv2d_padded_backward_kernel(variant.c, dk, xp, dyp, wk.baseAddress, g.c)
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
    let dy = try dimensions(outputGradient, rank: 4, "output gradient"), k = try dimensions(kernel, rank: 4, "kernel")
    guard dy[1] == k[0] else {
        throw ShapeError("output gradient has \(dy[1]) channels but the kernel \(shapeText(kernel.shape)) makes \(k[0])")
    }
    guard padding >= 0, padding <= Conv2D.maxPaddingOrStride else { throw ShapeError("padding must be from 0 to \(Conv2D.maxPaddingOrStride), got \(padding)") }
    let (h, w): (Int, Int)
    if let inputSize { (h, w) = inputSize }
    else if stride == 1 { (h, w) = (Int(dy[2]) + Int(k[2]) - 1 - 2 * padding, Int(dy[3]) + Int(k[3]) - 1 - 2 * padding) }
    else { throw ShapeError("with stride \(stride) the input gradient needs inputSize: the output size does not determine it") }
    guard h > 0, w > 0 else { throw ShapeError("a \(k[2])×\(k[3]) kernel with padding \(padding) leaves no input for output gradient \(shapeText(outputGradient.shape))") }
    let (n, c) = (dy[0], k[1])
    try checkKernelSize([Int(n), Int(c), h, w], "input gradient")
    let g = try ConvGeometry(n: n, c: c, h: Int32(h), w: Int32(w), o: k[0], kh: k[2], kw: k[3], padding: padding, stride: stride)
    guard g.outputShape == outputGradient.shape else {
        throw ShapeError("output gradient \(shapeText(outputGradient.shape)) does not come from a \(h)×\(w) input "
                         + "with kernel \(shapeText(kernel.shape)), padding \(padding), stride \(stride): expected \(shapeText(g.outputShape))")
    }
    try checkKernelSize([Int(n), Int(k[0]), h + Int(k[2]), w + Int(k[3])], "padded output gradient")
    var out = zeros([Int(n), Int(c), h, w])
    var work = [Float](repeating: 0, count: ck_conv2d_padded_backward_input_work_size(g.c))
    outputGradient.withPointer { dyp in kernel.withPointer { kp in out.withMutablePointer { dx in
        work.withUnsafeMutableBufferPointer { wk in
            ck_conv2d_padded_backward_input(variant.c, dx, dyp, kp, wk.baseAddress, g.c)
        }
    } } }
    return out
}

/// The dimensions of one conv2d call, checked against each other: the kernel fits the padded
/// input, 0 ≤ padding < kernel size, 1 ≤ stride, and every buffer fits the kernels' indexing.
private struct ConvGeometry {
    let c: ck_conv2d_geometry

    init(n: Int32, c: Int32, h: Int32, w: Int32, o: Int32, kh: Int32, kw: Int32, padding: Int, stride: Int) throws(ShapeError) {
        guard padding >= 0, padding < Int(min(kh, kw)) else {
            throw ShapeError("padding must be at least 0 and less than the kernel size \(kh)×\(kw), got \(padding)")
        }
        guard stride >= 1, stride <= Conv2D.maxPaddingOrStride else {
            throw ShapeError("stride must be from 1 to \(Conv2D.maxPaddingOrStride), got \(stride)")
        }
        guard Int(kh) <= Int(h) + 2 * padding, Int(kw) <= Int(w) + 2 * padding else {
            throw ShapeError("a \(kh)×\(kw) kernel does not fit a \(h)×\(w) input" + (padding == 0 ? "" : " padded by \(padding)"))
        }
        let (p, s) = (Int32(padding), Int32(stride))
        self.c = ck_conv2d_geometry(N: n, C: c, H: h, W: w, O: o, KH: kh, KW: kw, PH: p, PW: p, SH: s, SW: s)
        try checkKernelSize(outputShape, "output")
        try checkKernelSize([Int(n), Int(c), Int(h) + 2 * padding, Int(w) + 2 * padding], "padded input")
        try checkKernelSize([Int(n), Int(o) + 7, OH, OW], "output with the channels last")
    }

    var O: Int { Int(c.O) }
    var OH: Int { (Int(c.H) + 2 * Int(c.PH) - Int(c.KH)) / Int(c.SH) + 1 }
    var OW: Int { (Int(c.W) + 2 * Int(c.PW) - Int(c.KW)) / Int(c.SW) + 1 }
    var outputShape: [Int] { [Int(c.N), O, OH, OW] }
}
