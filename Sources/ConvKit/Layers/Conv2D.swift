import CKernels

/// Y_i = B_i + Σ_j X_j ⋆ K_ij over a batch: (N, C, H, W) → (N, O, H−KH+1, W−KW+1).
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
    /// (O, H−KH+1, W−KW+1).
    public let outputShape: [Int]
    /// K, (O, C, KH, KW).
    public let kernel: Parameter
    /// B: (O) for `.channel`, (O, OH, OW) for `.untied`, nil for `.none`.
    public let bias: Parameter?
    /// Which biases the layer has.
    public let biasMode: Bias
    /// The kernel, then the bias if there is one.
    public let parameters: [Parameter]
    private let (C, H, W, O, KH, KW): (Int32, Int32, Int32, Int32, Int32, Int32)
    private var work = Buffer(count: 0)

    /// A layer of `filters` kernels of `kernelHeight`×`kernelWidth` over samples of `input` (C, H, W),
    /// with every parameter zero until the network is initialised. Throws `ShapeError` unless
    /// `input` has three axes and the kernel fits inside it.
    public init(input: [Int], filters: Int, kernelHeight: Int, kernelWidth: Int, bias: Bias = .channel) throws(ShapeError) {
        guard input.count == 3 else {
            throw ShapeError("conv needs a C×H×W input, got \(shapeText(input))")
        }
        let (c, h, w) = (input[0], input[1], input[2])
        guard filters > 0, kernelHeight > 0, kernelWidth > 0 else {
            throw ShapeError("conv needs positive filters and kernel size")
        }
        guard kernelHeight <= h, kernelWidth <= w else {
            throw ShapeError("a \(kernelHeight)×\(kernelWidth) kernel does not fit a \(h)×\(w) input")
        }
        inputShape = input
        outputShape = [filters, h - kernelHeight + 1, w - kernelWidth + 1]
        kernel = Parameter(name: "weight", shape: [filters, c, kernelHeight, kernelWidth])
        switch bias {
        case .channel: self.bias = Parameter(name: "bias", shape: [filters])
        case .untied: self.bias = Parameter(name: "bias", shape: outputShape)
        case .none: self.bias = nil
        }
        biasMode = bias
        parameters = [kernel] + (self.bias.map { [$0] } ?? [])
        (C, H, W, O, KH, KW) = (Int32(c), Int32(h), Int32(w), Int32(filters), Int32(kernelHeight), Int32(kernelWidth))
    }

    /// "conv O K" or "conv O KHxKW", with "untied" or "nobias" when the bias is not per channel.
    public var spec: String {
        let size = KH == KW ? "\(KH)" : "\(KH)x\(KW)"
        return "conv \(O) \(size)" + (biasMode == .channel ? "" : " \(biasMode.rawValue == "none" ? "nobias" : biasMode.rawValue)")
    }

    /// The layer's name with its kernels, e.g. "Conv2D 8@5×5".
    public var description: String {
        "Conv2D \(O)@\(KH)×\(KW)" + (biasMode == .untied ? " (untied bias)" : biasMode == .none ? " (no bias)" : "")
    }

    /// 2·C·KH·KW per output value: C·KH·KW multiply-adds.
    public var forwardFlops: Int { 2 * outputCount * Int(C * KH * KW) }

    package func reserve(batch: Int) {
        let needed = ck_conv2d_backward_input_work_size(Int32(batch), C, H, W, O, KH, KW)
        if needed > work.count { work = Buffer(count: needed) }
    }

    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: ForwardPass) {
        ck_conv2d_forward(pass.variant.c, y, x, kernel.value.pointer, bias?.value.pointer, biasMode.c,
                          Int32(batch), C, H, W, O, KH, KW)
    }

    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, variant: Kernels.Variant) {
        let n = Int32(batch)
        ck_conv2d_backward_kernel(variant.c, kernel.gradient.pointer, x, dy, n, C, H, W, O, KH, KW)
        if let bias {
            ck_conv2d_backward_bias(bias.gradient.pointer, dy, biasMode.c, n, O, Int32(outputShape[1]), Int32(outputShape[2]))
        }
        if let dx {
            reserve(batch: batch)
            ck_conv2d_backward_input(variant.c, dx, dy, kernel.value.pointer, work.pointer, n, C, H, W, O, KH, KW)
        }
    }
}
