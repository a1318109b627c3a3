/// The same numbers under another per-sample shape; `flatten` is the case of a single axis.
/// Values are copied (a few kilobytes) so every layer owns its output buffer.
public final class Reshape: BatchLayer {
    /// The shape of one sample going in.
    public let inputShape: [Int]
    /// The shape of one sample coming out, with as many values.
    public let outputShape: [Int]

    /// A layer giving samples of `input` the shape `output`; throws `ShapeError` unless both have
    /// positive dimensions, at most `Architecture.maxElements` values, and as many values.
    public init(input: [Int], output: [Int]) throws(ShapeError) {
        let count = try checkedCount(input, what: "reshape input shape \(shapeText(input))")
        guard try checkedCount(output, what: "output shape \(shapeText(output))") == count else {
            throw ShapeError("cannot reshape \(shapeText(input)) to \(shapeText(output))")
        }
        inputShape = input
        outputShape = output
    }

    /// A layer flattening samples of `input` to one axis: what `flatten` builds. Throws
    /// `ShapeError` unless `input` has positive dimensions and at most `Architecture.maxElements`
    /// values.
    public convenience init(flattening input: [Int]) throws(ShapeError) {
        let count = try checkedCount(input, what: "flatten input shape \(shapeText(input))")
        try self.init(input: input, output: [count])
    }

    /// "flatten" for a single output axis, else "reshape AxB…".
    public var spec: String { outputShape.count == 1 ? "flatten" : "reshape \(outputShape.map(String.init).joined(separator: "x"))" }
    /// The layer's name with its output shape, e.g. "Reshape 256".
    public var description: String { "Reshape \(shapeText(outputShape))" }

    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass) {
        y.update(from: x, count: batch * inputCount)
    }

    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass) {
        dx?.update(from: dy, count: batch * inputCount)
    }
}
