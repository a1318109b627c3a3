import CKernels

// 2-D correlation and convolution of single planes: the operations the tutorial derives its
// layer from. conv(I, K) = I ⋆ rot180(K); valid outputs are I − K + 1, full ones I + K − 1.

private func planeShapes(_ input: Tensor, _ kernel: Tensor) throws(ShapeError) -> (Int32, Int32, Int32, Int32) {
    guard input.rank == 2, kernel.rank == 2 else {
        throw ShapeError("correlation takes 2-D input and kernel, got \(input.shape) and \(kernel.shape)")
    }
    guard kernel.count > 0, input.count > 0 else { throw ShapeError("empty input or kernel") }
    return (Int32(input.shape[0]), Int32(input.shape[1]), Int32(kernel.shape[0]), Int32(kernel.shape[1]))
}

/// `input ⋆ kernel`, only where the kernel fits: (H−KH+1)×(W−KW+1).
public func correlateValid(_ input: Tensor, _ kernel: Tensor) throws(ShapeError) -> Tensor {
    let (h, w, kh, kw) = try planeShapes(input, kernel)
    guard kh <= h, kw <= w else {
        throw ShapeError("kernel \(kernel.shape) is larger than input \(input.shape)")
    }
    var out = Tensor(zeros: [Int(h - kh + 1), Int(w - kw + 1)])
    input.withPointer { i in kernel.withPointer { k in out.withMutablePointer { o in
        ck_correlate_valid(Kernels.variant.c, o, i, k, h, w, kh, kw)
    } } }
    return out
}

/// `input ⋆ rot180(kernel)`, valid part.
public func convolveValid(_ input: Tensor, _ kernel: Tensor) throws(ShapeError) -> Tensor {
    try correlateValid(input, kernel.rotated180())
}

/// `input ⋆ kernel` over the input zero-padded so every overlap counts: (H+KH−1)×(W+KW−1).
public func correlateFull(_ input: Tensor, _ kernel: Tensor) throws(ShapeError) -> Tensor {
    try full(input, kernel, ck_correlate_full)
}

/// `input *full kernel`: the full convolution of the backward pass.
public func convolveFull(_ input: Tensor, _ kernel: Tensor) throws(ShapeError) -> Tensor {
    try full(input, kernel, ck_convolve_full)
}

private typealias FullKernel = (ck_variant, UnsafeMutablePointer<Float>?, UnsafePointer<Float>?,
                                UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Int32, Int32, Int32, Int32) -> Void

private func full(_ input: Tensor, _ kernel: Tensor, _ kernelFunction: FullKernel) throws(ShapeError) -> Tensor {
    let (h, w, kh, kw) = try planeShapes(input, kernel)
    var out = Tensor(zeros: [Int(h + kh - 1), Int(w + kw - 1)])
    var work = [Float](repeating: 0, count: ck_correlate_full_work_size(h, w, kh, kw))
    input.withPointer { i in kernel.withPointer { k in out.withMutablePointer { o in
        work.withUnsafeMutableBufferPointer { wk in
            kernelFunction(Kernels.variant.c, o, i, k, wk.baseAddress, h, w, kh, kw)
        }
    } } }
    return out
}

extension Tensor {
    /// The last two axes reversed: a 2-D kernel turned by 180°.
    public func rotated180() -> Tensor {
        precondition(rank >= 2, "rotation needs a plane")
        let plane = shape[rank - 2] * shape[rank - 1]
        var out = self
        for start in stride(from: 0, to: count, by: max(plane, 1)) {
            for i in 0..<plane { out.scalars[start + i] = scalars[start + plane - 1 - i] }
        }
        return out
    }
}
