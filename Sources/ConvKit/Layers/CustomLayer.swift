import Foundation

/// A layer of your own, written with tensors, that trains inside `Sequential` beside ConvKit's:
/// give it `inputShape`, `outputShape`, `parameters`, `spec` and `description` (from `Layer`),
/// and its two passes.
///
/// ```swift
/// /// y = a ⊙ x, a learnable scale per feature of a flat sample.
/// final class Scale: CustomLayer {
///     let inputShape: [Int], outputShape: [Int]
///     let scale: Parameter
///     var parameters: [Parameter] { [scale] }
///     var spec: String { "scale" }
///     var description: String { "Scale \(inputShape[0])" }
///
///     init(features: Int) throws {
///         (inputShape, outputShape) = ([features], [features])
///         scale = try Parameter(name: "scale", shape: [features])
///         try scale.set(Tensor(shape: [features], repeating: 1))
///     }
///     /// a, repeated for each of the batch's rows.
///     func tiled(_ batch: Int) throws -> Tensor {
///         try Tensor(shape: [batch] + inputShape, scalars: Array(repeating: scale.tensor.scalars, count: batch).flatMap { $0 })
///     }
///     func forward(_ input: Tensor, training: Bool) throws -> Tensor {
///         try tiled(input.shape[0]) * input
///     }
///     func backward(_ outputGradient: Tensor, input: Tensor, output: Tensor) throws -> Tensor {
///         let perSample = try outputGradient * input                       // ∂E/∂a, sample by sample
///         let n = input.shape[0], f = inputShape[0]
///         try scale.accumulateGradient(Tensor(shape: [f], scalars: (0..<f).map { j in
///             (0..<n).reduce(0) { $0 + perSample[$1, j] } }))              // Σ over the batch
///         return try tiled(n) * outputGradient                              // ∂E/∂x = a ⊙ ∂E/∂y
///     }
/// }
/// ```
///
/// Both passes see a whole batch: tensors of (N, inputShape…) and (N, outputShape…), N the
/// batch's size (or a share of it in data-parallel training). `backward` gets the input and
/// output of the forward pass it answers, so the layer keeps no state between the two; it adds
/// each parameter's ∂E/∂value with `Parameter.accumulateGradient(_:)` (summed over the batch:
/// the output gradient already carries the loss's 1/N) and returns ∂E/∂input. Optimizers,
/// `namedParameters`, model files and checkpoints see `parameters` as they see a built-in
/// layer's. `Sequential.initialize` leaves them alone: the layer's initialiser sets them.
///
/// Threads: the network calls one custom layer's passes one at a time, even when many threads
/// run inference on the network at once (those calls wait for each other at this layer, and
/// only at it), so `forward` and `backward` need not be thread-safe.
///
/// Failures: ConvKit's calls do not throw for a layer's own failure, so an error thrown by
/// either pass, or a result of the wrong shape, stops the program with a message naming the
/// layer and the error. Check what can go wrong in the layer's initialiser.
public protocol CustomLayer: Layer {
    /// y = layer(x) for a batch: `input` is (N, inputShape…), the result must be
    /// (N, outputShape…). `training` is true in a training step, false in inference.
    func forward(_ input: Tensor, training: Bool) throws -> Tensor
    /// ∂E/∂input from ∂E/∂output for the forward pass that took `input` and gave `output`; adds
    /// the parameters' gradients with `Parameter.accumulateGradient(_:)`. The result must be
    /// (N, inputShape…).
    func backward(_ outputGradient: Tensor, input: Tensor, output: Tensor) throws -> Tensor
}

/// A `CustomLayer` run on the network's batch buffers: the batch is copied into tensors, the
/// layer's result copied back. The copies cost memory traffic a built-in layer does not have;
/// they are what lets a layer be written with safe values. One lock serialises the passes, so
/// concurrent inference stays correct for a layer that keeps state.
final class CustomLayerAdapter: BatchLayer, @unchecked Sendable {
    let layer: any CustomLayer
    let index: Int
    private let lock = NSLock()

    init(_ layer: any CustomLayer, index: Int) {
        self.layer = layer
        self.index = index
    }

    var inputShape: [Int] { layer.inputShape }
    var outputShape: [Int] { layer.outputShape }
    var parameters: [Parameter] { layer.parameters }
    var state: [Parameter] { layer.state }
    var spec: String { layer.spec }
    var forwardFlops: Int { layer.forwardFlops }
    var description: String { layer.description }

    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass) {
        run(x, y, batch: batch, training: pass.training)
    }

    func infer(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass,
               workspace: UnsafeMutablePointer<Float>?) {
        run(x, y, batch: batch, training: false)
    }

    func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                  _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass) {
        let input = tensor(x, [batch] + inputShape), output = tensor(y, [batch] + outputShape)
        let outputGradient = tensor(dy, [batch] + outputShape)
        let inputGradient: Tensor = lock.withLock {
            for p in parameters { p.gradient.fill(0) }
            return checked("backward", [batch] + inputShape) { try layer.backward(outputGradient, input: input, output: output) }
        }
        if let dx { inputGradient.withPointer { dx.update(from: $0, count: inputGradient.count) } }
    }

    private func run(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, training: Bool) {
        let input = tensor(x, [batch] + inputShape)
        let output = lock.withLock {
            checked("forward", [batch] + outputShape) { try layer.forward(input, training: training) }
        }
        output.withPointer { y.update(from: $0, count: output.count) }
    }

    private func tensor(_ p: UnsafePointer<Float>, _ shape: [Int]) -> Tensor {
        Tensor(unchecked: shape, Array(UnsafeBufferPointer(start: p, count: shape.reduce(1, *))))
    }

    /// The pass's result, which must be of `shape`; anything else is the layer's bug, and stops here.
    private func checked(_ what: String, _ shape: [Int], _ body: () throws -> Tensor) -> Tensor {
        let result: Tensor
        do { result = try body() } catch { fatalError("layer \(index) (\(layer)) \(what): \(error)") }
        guard result.shape == shape else {
            fatalError("layer \(index) (\(layer)) \(what) gave \(shapeText(result.shape)), expected \(shapeText(shape))")
        }
        return result
    }
}
