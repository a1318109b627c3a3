import CKernels

package typealias MapKernel = (ck_variant, UnsafeMutablePointer<Float>?, UnsafePointer<Float>?, Int) -> Void
package typealias MapGradientKernel = (ck_variant, UnsafeMutablePointer<Float>?, UnsafePointer<Float>?, UnsafePointer<Float>?, Int) -> Void

/// An elementwise function whose derivative can be written from its output, y' = f'(y).
public class Activation: BatchLayer {
    /// The shape of one sample, e.g. [8, 24, 24].
    public let inputShape: [Int]
    /// The same as `inputShape`: an activation keeps the shape.
    public var outputShape: [Int] { inputShape }
    /// The spec line: "relu", "sigmoid" or "tanh".
    public let spec: String
    /// The layer's name, e.g. "ReLU".
    public let description: String
    private let forwardKernel: MapKernel
    private let backwardKernel: MapGradientKernel

    init(input: [Int], name: String, spec: String, forward: @escaping MapKernel, backward: @escaping MapGradientKernel) throws(ShapeError) {
        _ = try checkedCount(input, what: "\(spec) input \(shapeText(input))")
        inputShape = input
        description = name
        self.spec = spec
        forwardKernel = forward
        backwardKernel = backward
    }

    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass) {
        forwardKernel(pass.variant.c, y, x, batch * inputCount)
    }

    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass) {
        guard let dx else { return }
        backwardKernel(pass.variant.c, dx, dy, y, batch * inputCount)
    }
}

/// σ(x) = 1 / (1 + e^−x); σ' = σ(1 − σ).
public final class Sigmoid: Activation {
    /// A sigmoid over samples of `input`'s shape. Throws `ShapeError` unless `input` has
    /// positive dimensions and at most `Architecture.maxElements` values.
    public init(input: [Int]) throws(ShapeError) {
        try super.init(input: input, name: "Sigmoid", spec: "sigmoid", forward: ck_sigmoid_forward, backward: ck_sigmoid_backward)
    }
}

/// tanh; tanh' = 1 − tanh².
public final class Tanh: Activation {
    /// A tanh over samples of `input`'s shape. Throws `ShapeError` unless `input` has
    /// positive dimensions and at most `Architecture.maxElements` values.
    public init(input: [Int]) throws(ShapeError) {
        try super.init(input: input, name: "Tanh", spec: "tanh", forward: ck_tanh_forward, backward: ck_tanh_backward)
    }
}

/// max(x, 0); its derivative is 1 where the output is positive.
public final class ReLU: Activation {
    /// A ReLU over samples of `input`'s shape. Throws `ShapeError` unless `input` has
    /// positive dimensions and at most `Architecture.maxElements` values.
    public init(input: [Int]) throws(ShapeError) {
        try super.init(input: input, name: "ReLU", spec: "relu", forward: ck_relu_forward, backward: ck_relu_backward)
    }
}
