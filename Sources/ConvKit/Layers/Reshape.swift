/// The same numbers under another per-sample shape; `flatten` is the case of a single axis.
/// Values are copied (a few kilobytes) so every layer owns its output buffer.
public final class Reshape: BatchLayer {
    public let inputShape: [Int]
    public let outputShape: [Int]

    public init(input: [Int], output: [Int]) throws(ShapeError) {
        guard input.reduce(1, *) == output.reduce(1, *) else {
            throw ShapeError("cannot reshape \(shapeText(input)) to \(shapeText(output))")
        }
        inputShape = input
        outputShape = output
    }

    public convenience init(flattening input: [Int]) {
        try! self.init(input: input, output: [input.reduce(1, *)])
    }

    public var spec: String { outputShape.count == 1 ? "flatten" : "reshape \(outputShape.map(String.init).joined(separator: "x"))" }
    public var description: String { "Reshape \(shapeText(outputShape))" }

    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, variant: Kernels.Variant) {
        y.update(from: x, count: batch * inputCount)
    }

    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, variant: Kernels.Variant) {
        dx?.update(from: dy, count: batch * inputCount)
    }
}
