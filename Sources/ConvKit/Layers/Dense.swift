import CKernels

/// Y = X·Wᵀ + B over a batch: (N, I) → (N, O), W laid out (O, I) as PyTorch's Linear.
public final class Dense: BatchLayer {
    /// (I).
    public let inputShape: [Int]
    /// (O).
    public let outputShape: [Int]
    /// W, (O, I).
    public let weight: Parameter
    /// B, (O).
    public let bias: Parameter
    /// The weight, then the bias.
    public let parameters: [Parameter]
    private let (I, O): (Int32, Int32)
    private var work = Buffer(count: 0)

    /// A layer from samples of `input` (I) to `outputs` values, with every parameter zero until the
    /// network is initialised. Throws `ShapeError` unless `input` has a single axis, both sizes
    /// are at least 1 and the weight, (outputs, I), holds at most `Architecture.maxElements` values.
    public init(input: [Int], outputs: Int) throws(ShapeError) {
        guard input.count == 1 else {
            throw ShapeError("dense needs a flat input, got \(shapeText(input)); add flatten before it")
        }
        _ = try checkedCount(input, what: "dense input \(shapeText(input))")
        guard outputs > 0 else { throw ShapeError("dense needs at least one output, got \(outputs)") }
        inputShape = input
        outputShape = [outputs]
        weight = try Parameter(name: "weight", shape: [outputs, input[0]])
        bias = try Parameter(name: "bias", shape: [outputs])
        parameters = [weight, bias]
        (I, O) = (Int32(input[0]), Int32(outputs))
    }

    /// "dense O".
    public var spec: String { "dense \(O)" }
    /// The layer's name with its sizes, e.g. "Dense 256→10".
    public var description: String { "Dense \(I)→\(O)" }
    /// 2·I·O: one multiply-add per weight.
    public var forwardFlops: Int { 2 * Int(I) * Int(O) }

    package func reserve(batch: Int) {
        let needed = ck_dense_backward_sgd_work_size(Int32(batch), I, O)
        if needed > work.count { work = Buffer(count: needed) }
    }

    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass) {
        ck_dense_forward(pass.variant.c, y, x, weight.value.pointer, bias.value.pointer, Int32(batch), I, O)
    }

    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass) {
        ck_dense_backward(pass.variant.c, dx, weight.gradient.pointer, bias.gradient.pointer, dy, x,
                          weight.value.pointer, Int32(batch), I, O)
    }

    /// One pass over the weights for backward and update together (see ck_dense_backward_sgd).
    package func backwardThenSGD(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                                 _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass, learningRate: Float) {
        reserve(batch: batch)
        ck_dense_backward_sgd(pass.variant.c, dx, weight.value.pointer, bias.value.pointer, dy, x, learningRate,
                              work.pointer, Int32(batch), I, O)
    }
}
