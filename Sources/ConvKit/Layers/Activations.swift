import CKernels

package typealias MapKernel = (ck_variant, UnsafeMutablePointer<Float>?, UnsafePointer<Float>?, Int) -> Void
package typealias MapGradientKernel = (ck_variant, UnsafeMutablePointer<Float>?, UnsafePointer<Float>?, UnsafePointer<Float>?, Int) -> Void

/// An elementwise function whose derivative can be written from its output, y' = f'(y).
public class Activation: BatchLayer {
    public let inputShape: [Int]
    public var outputShape: [Int] { inputShape }
    public let spec: String
    public let description: String
    private let forwardKernel: MapKernel
    private let backwardKernel: MapGradientKernel

    init(input: [Int], name: String, spec: String, forward: @escaping MapKernel, backward: @escaping MapGradientKernel) {
        inputShape = input
        description = name
        self.spec = spec
        forwardKernel = forward
        backwardKernel = backward
    }

    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, variant: Kernels.Variant) {
        forwardKernel(variant.c, y, x, batch * inputCount)
    }

    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, variant: Kernels.Variant) {
        guard let dx else { return }
        backwardKernel(variant.c, dx, dy, y, batch * inputCount)
    }
}

/// σ(x) = 1 / (1 + e^−x); σ' = σ(1 − σ).
public final class Sigmoid: Activation {
    public init(input: [Int]) {
        super.init(input: input, name: "Sigmoid", spec: "sigmoid", forward: ck_sigmoid_forward, backward: ck_sigmoid_backward)
    }
}

/// tanh; tanh' = 1 − tanh².
public final class Tanh: Activation {
    public init(input: [Int]) {
        super.init(input: input, name: "Tanh", spec: "tanh", forward: ck_tanh_forward, backward: ck_tanh_backward)
    }
}

/// max(x, 0); its derivative is 1 where the output is positive.
public final class ReLU: Activation {
    public init(input: [Int]) {
        super.init(input: input, name: "ReLU", spec: "relu", forward: ck_relu_forward, backward: ck_relu_backward)
    }
}
