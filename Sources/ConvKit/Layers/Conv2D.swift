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
    /// The convolution of one sample; `shapes` holds it for each batch size the layer has run.
    private let geometry: ConvGeometry
    private var shapes: [Int: BatchShape] = [:]
    private var work = Buffer(count: 0)

    /// The geometry of a batch and the one workspace the forward pass and both gradients share
    /// (one at a time): computed once per batch size, not on every pass.
    private struct BatchShape {
        let geometry: ConvGeometry
        let workCount: Int
    }

    /// The most rows or columns of padding and the largest stride: far above any useful value,
    /// low enough that sizes computed from them cannot overflow (`CK_CONV2D_MAX_PADDING_OR_STRIDE`).
    public static let maxPaddingOrStride = ConvGeometry.maxPaddingOrStride

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
        let g = ConvGeometry(n: 1, c: input[0], h: input[1], w: input[2], o: filters, kh: kernelHeight, kw: kernelWidth,
                             padding: padding, stride: stride)
        // A layer's own limits on its output and kernel come before the kernels' larger one.
        let kernelShape = [filters, input[0], kernelHeight, kernelWidth]
        if g.hasSizes {
            _ = try checkedCount([g.O, g.OH, g.OW], what: "conv output \(shapeText([g.O, g.OH, g.OW]))")
            _ = try checkedCount(kernelShape, what: "weight \(shapeText(kernelShape))")
        }
        try g.check()
        geometry = g
        inputShape = input
        outputShape = [g.O, g.OH, g.OW]
        (self.padding, self.stride) = (padding, stride)
        kernel = try Parameter(name: "weight", shape: kernelShape)
        switch bias {
        case .channel: self.bias = try Parameter(name: "bias", shape: [filters])
        case .untied: self.bias = try Parameter(name: "bias", shape: outputShape)
        case .none: self.bias = nil
        }
        biasMode = bias
        parameters = [kernel] + (self.bias.map { [$0] } ?? [])
    }

    /// "conv O K" or "conv O KHxKW", then "pad P" and "stride S" unless 0 and 1, then "untied" or
    /// "nobias" when the bias is not per channel: the line `Architecture` builds this layer from.
    public var spec: String {
        let (o, kh, kw) = (geometry.c.O, geometry.c.KH, geometry.c.KW)
        let size = kh == kw ? "\(kh)" : "\(kh)x\(kw)"
        return "conv \(o) \(size)" + (padding == 0 ? "" : " pad \(padding)") + (stride == 1 ? "" : " stride \(stride)")
            + (biasMode == .channel ? "" : " \(biasMode.rawValue == "none" ? "nobias" : biasMode.rawValue)")
    }

    /// The layer's name with its kernels, e.g. "Conv2D 8@5×5" or "Conv2D 32@3×3 pad 1 stride 2".
    public var description: String {
        "Conv2D \(geometry.c.O)@\(geometry.c.KH)×\(geometry.c.KW)" + (padding == 0 ? "" : " pad \(padding)") + (stride == 1 ? "" : " stride \(stride)")
            + (biasMode == .untied ? " (untied bias)" : biasMode == .none ? " (no bias)" : "")
    }

    /// 2·C·KH·KW per output value: C·KH·KW multiply-adds.
    public var forwardFlops: Int { 2 * outputCount * Int(geometry.c.C * geometry.c.KH * geometry.c.KW) }

    /// The convolution of a batch of `batch`. A batch the network accepts (`Sequential` bounds it
    /// by 32-bit indexing) has a geometry; a caller passing a larger one breaks the contract.
    private func geometry(batch: Int) -> ConvGeometry {
        let g = geometry.batch(batch)
        precondition(g.status == CK_CONV2D_OK, "Conv2D: a batch of \(batch) is too large for \(description)")
        return g
    }

    /// The batch's geometry and workspace size, remembered per batch size.
    private func shape(batch: Int) -> BatchShape {
        if let shape = shapes[batch] { return shape }
        let g = geometry(batch: batch)
        let shape = BatchShape(geometry: g, workCount: max(g.forwardWorkCount, g.kernelGradientWorkCount, g.inputGradientWorkCount))
        // Training sees one or two batch sizes; a caller running many others only refills this.
        if shapes.count >= 16 { shapes.removeAll() }
        shapes[batch] = shape
        return shape
    }

    /// One workspace for the forward pass and both gradients (one at a time); none when the
    /// convolution is valid with stride 1.
    package func reserve(batch: Int) {
        let needed = shape(batch: batch).workCount
        if needed > work.count { work = Buffer(count: needed) }
    }

    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass) {
        forward(x, y, batch: batch, pass: pass, planeStatistics: nil)
    }

    /// The forward pass, and with `planeStatistics` (batch, O, 2) each output plane's part of a
    /// batch norm's statistics (`ck_conv2d_forward_statistics`), for the batch norm after the
    /// layer (`ConvolutionBeforeNorm`).
    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass,
                         planeStatistics: UnsafeMutablePointer<Float>?) {
        let shape = shape(batch: batch)
        if shape.workCount > work.count { work = Buffer(count: shape.workCount) }
        run(x, y, shape.geometry, variant: pass.variant, workspace: work.pointer, planeStatistics: planeStatistics)
    }

    /// The padded input (and the kernel with the output channel last, when strided): what the
    /// forward kernel needs, not the larger workspace of the gradients.
    package func inferenceWorkspaceCount(batch: Int) -> Int { geometry(batch: batch).forwardWorkCount }

    /// The forward pass in the caller's workspace: the training pass runs it in the layer's own.
    /// Any number may run at once, so it keeps nothing: the geometry is made afresh (a few
    /// integer operations in C), not looked up in `shapes`, which `forward` writes.
    package func infer(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass,
                       workspace: UnsafeMutablePointer<Float>?) {
        run(x, y, geometry(batch: batch), variant: pass.variant, workspace: workspace)
    }

    /// `ck_conv2d_forward_statistics`, which is `ck_conv2d_forward` without `planeStatistics`.
    private func run(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ g: ConvGeometry, variant: Kernels.Variant,
                     workspace: UnsafeMutablePointer<Float>?, planeStatistics: UnsafeMutablePointer<Float>? = nil) {
        ck_conv2d_forward_statistics(variant.c, y, planeStatistics, x, kernel.value.pointer, bias?.value.pointer, biasMode.c,
                                     workspace, g.c)
    }

    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass) {
        backward(x, y, dy, dx, batch: batch, pass: pass, biasGradient: true)
    }

    /// The backward pass, leaving the bias gradient alone unless `biasGradient`: for a fused step
    /// after the layer that writes it (`ConvolutionBeforeNorm`).
    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass, biasGradient: Bool) {
        let shape = shape(batch: batch), g = shape.geometry.c
        if shape.workCount > work.count { work = Buffer(count: shape.workCount) }
        ck_conv2d_backward_kernel(pass.variant.c, kernel.gradient.pointer, x, dy, work.pointer, g)
        if biasGradient, let bias {
            ck_conv2d_backward_bias(bias.gradient.pointer, dy, biasMode.c, g.N, g.O, g.OH, g.OW)
        }
        if let dx {
            ck_conv2d_backward_input(pass.variant.c, dx, dy, kernel.value.pointer, work.pointer, g)
        }
    }
}
