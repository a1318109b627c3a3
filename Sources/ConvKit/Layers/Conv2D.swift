import CKernels

/// Y_i = B_i + Σ_j X_j ⋆ K_ij over a batch, X zero-padded by P on every side and the kernel moved
/// S positions at a time: (N, C, H, W) → (N, O, OH, OW) with OH = (H + 2P − KH)/S + 1 and
/// OW = (W + 2P − KW)/S + 1, rounded down as in PyTorch's Conv2d.
public final class Conv2D: BatchLayer {
    /// Which biases the layer adds to its output.
    public enum Bias: String, Sendable, CaseIterable {
        /// One bias per output channel, as PyTorch's Conv2d.
        case channel
        /// One bias per output position, shape (O, OH, OW), as in the tutorial.
        case untied
        /// No bias: Y_i = Σ_j X_j ⋆ K_ij.
        case none

        var c: ck_bias {
            switch self {
            case .channel: CK_BIAS_CHANNEL
            case .untied: CK_BIAS_UNTIED
            case .none: CK_BIAS_NONE
            }
        }
    }

    /// (C, H, W).
    public let inputShape: [Int]
    /// (O, OH, OW).
    public let outputShape: [Int]
    /// K, (O, C, KH, KW).
    public let kernel: Parameter
    /// B: (O) for `.channel`, (O, OH, OW) for `.untied`, nil for `.none`.
    public let bias: Parameter?
    /// Which biases the layer has.
    public let biasMode: Bias
    /// P: zero rows above and below the input and zero columns left and right of it.
    public let padding: Int
    /// S: rows and columns between one kernel position and the next.
    public let stride: Int
    /// The kernel, then the bias if there is one.
    public let parameters: [Parameter]
    private let (C, H, W, O, KH, KW): (Int32, Int32, Int32, Int32, Int32, Int32)
    private var work = Buffer(count: 0)

    /// The most rows or columns of padding and the largest stride: far above any useful value,
    /// low enough that sizes computed from them cannot overflow.
    public static let maxPaddingOrStride = 1 << 12

    /// A layer of `filters` kernels of `kernelHeight`×`kernelWidth` over samples of `input` (C, H, W)
    /// zero-padded by `padding` on every side, moved `stride` rows and columns at a time, with every
    /// parameter zero until the network is initialised. Throws `ShapeError` unless `input` has three
    /// axes, the kernel fits inside the padded input, 0 ≤ padding < kernel size (a padding as large
    /// as the kernel only adds outputs that see nothing but zeros), padding and stride at most
    /// `maxPaddingOrStride`, stride ≥ 1,
    /// and the input, the kernel (O, C, KH, KW) and the output each hold at most
    /// `Architecture.maxElements` values.
    public init(input: [Int], filters: Int, kernelHeight: Int, kernelWidth: Int, padding: Int = 0, stride: Int = 1,
                bias: Bias = .channel) throws(ShapeError) {
        guard input.count == 3 else {
            throw ShapeError("conv needs a C×H×W input, got \(shapeText(input))")
        }
        _ = try checkedCount(input, what: "conv input \(shapeText(input))")
        let (c, h, w) = (input[0], input[1], input[2])
        guard filters > 0, kernelHeight > 0, kernelWidth > 0 else {
            throw ShapeError("conv needs positive filters and kernel size")
        }
        guard padding >= 0, padding < min(kernelHeight, kernelWidth), padding <= Self.maxPaddingOrStride else {
            throw ShapeError("conv padding must be at least 0, less than the kernel size \(kernelHeight)×\(kernelWidth) and at most \(Self.maxPaddingOrStride), got \(padding)")
        }
        guard stride >= 1, stride <= Self.maxPaddingOrStride else {
            throw ShapeError("conv stride must be between 1 and \(Self.maxPaddingOrStride), got \(stride)")
        }
        guard kernelHeight <= h + 2 * padding, kernelWidth <= w + 2 * padding else {
            let padded = padding == 0 ? "" : " padded by \(padding)"
            throw ShapeError("a \(kernelHeight)×\(kernelWidth) kernel does not fit a \(h)×\(w) input\(padded)")
        }
        inputShape = input
        outputShape = [filters, (h + 2 * padding - kernelHeight) / stride + 1, (w + 2 * padding - kernelWidth) / stride + 1]
        _ = try checkedCount(outputShape, what: "conv output \(shapeText(outputShape))")
        (self.padding, self.stride) = (padding, stride)
        kernel = try Parameter(name: "weight", shape: [filters, c, kernelHeight, kernelWidth])
        switch bias {
        case .channel: self.bias = try Parameter(name: "bias", shape: [filters])
        case .untied: self.bias = try Parameter(name: "bias", shape: outputShape)
        case .none: self.bias = nil
        }
        biasMode = bias
        parameters = [kernel] + (self.bias.map { [$0] } ?? [])
        (C, H, W, O, KH, KW) = (Int32(c), Int32(h), Int32(w), Int32(filters), Int32(kernelHeight), Int32(kernelWidth))
    }

    /// "conv O K" or "conv O KHxKW", then "pad P" and "stride S" unless 0 and 1, then "untied" or
    /// "nobias" when the bias is not per channel: the line `Architecture` builds this layer from.
    public var spec: String {
        let size = KH == KW ? "\(KH)" : "\(KH)x\(KW)"
        return "conv \(O) \(size)" + (padding == 0 ? "" : " pad \(padding)") + (stride == 1 ? "" : " stride \(stride)")
            + (biasMode == .channel ? "" : " \(biasMode.rawValue == "none" ? "nobias" : biasMode.rawValue)")
    }

    /// The layer's name with its kernels, e.g. "Conv2D 8@5×5" or "Conv2D 32@3×3 pad 1 stride 2".
    public var description: String {
        "Conv2D \(O)@\(KH)×\(KW)" + (padding == 0 ? "" : " pad \(padding)") + (stride == 1 ? "" : " stride \(stride)")
            + (biasMode == .untied ? " (untied bias)" : biasMode == .none ? " (no bias)" : "")
    }

    /// 2·C·KH·KW per output value: C·KH·KW multiply-adds.
    public var forwardFlops: Int { 2 * outputCount * Int(C * KH * KW) }

    private func geometry(batch: Int) -> ck_conv2d_geometry {
        let (p, s) = (Int32(padding), Int32(stride))
        return ck_conv2d_geometry(N: Int32(batch), C: C, H: H, W: W, O: O, KH: KH, KW: KW, PH: p, PW: p, SH: s, SW: s)
    }

    /// One workspace for the forward pass and both gradients (one at a time); none when the
    /// convolution is valid with stride 1.
    package func reserve(batch: Int) {
        let g = geometry(batch: batch)
        let needed = max(ck_conv2d_padded_forward_work_size(g), ck_conv2d_padded_backward_kernel_work_size(g),
                         ck_conv2d_padded_backward_input_work_size(g))
        if needed > work.count { work = Buffer(count: needed) }
    }

    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: ForwardPass) {
        reserve(batch: batch)
        infer(x, y, batch: batch, variant: pass.variant, workspace: work.pointer)
    }

    /// The padded input (and the kernel with the output channel last, when strided): what the
    /// forward kernel needs, not the larger workspace of the gradients.
    package func inferenceWorkspaceCount(batch: Int) -> Int { ck_conv2d_padded_forward_work_size(geometry(batch: batch)) }

    /// The forward pass in the caller's workspace: the training pass runs it in the layer's own.
    package func infer(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, variant: Kernels.Variant,
                       workspace: UnsafeMutablePointer<Float>?) {
        ck_conv2d_padded_forward(variant.c, y, x, kernel.value.pointer, bias?.value.pointer, biasMode.c, workspace,
                                 geometry(batch: batch))
    }

    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, variant: Kernels.Variant) {
        reserve(batch: batch)
        let g = geometry(batch: batch)
        ck_conv2d_padded_backward_kernel(variant.c, kernel.gradient.pointer, x, dy, work.pointer, g)
        if let bias {
            ck_conv2d_backward_bias(bias.gradient.pointer, dy, biasMode.c, g.N, O, Int32(outputShape[1]), Int32(outputShape[2]))
        }
        if let dx {
            ck_conv2d_padded_backward_input(variant.c, dx, dy, kernel.value.pointer, work.pointer, g)
        }
    }
}
