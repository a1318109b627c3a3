import Foundation

/// A loss over a batch of network outputs (N, K) against targets (N, K): one-hot rows for class
/// labels, or any values the loss accepts.
///
/// Implementing it means working on raw buffers (`loss(unsafeOutputs:…)`), which the training
/// loop calls without allocating; `loss(outputs:targets:)` is the checked, tensor-level call.
public protocol Loss: Sendable {
    /// Which loss this is; model files store its raw value.
    var kind: LossKind { get }
    /// The mean loss over the batch; writes ∂E/∂output (the batch mean's 1/N included) when
    /// `gradient` is given. Unsafe: `outputs`, `targets` and `gradient` must each point to
    /// `batch × classes` floats.
    func loss(unsafeOutputs outputs: UnsafePointer<Float>, targets: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>?,
              batch: Int, classes: Int) -> Float
    /// Class probabilities for one output vector, for display.
    func probabilities(_ output: [Float]) -> [Float]
}

extension Loss {
    /// The name model files store: "bce" or "softmax-ce".
    public var name: String { kind.rawValue }

    /// The mean loss of `outputs` (N, K) against `targets` (N, K), and ∂E/∂outputs.
    public func loss(outputs: Tensor, targets: Tensor) throws(ShapeError) -> (value: Float, gradient: Tensor) {
        guard outputs.rank == 2, outputs.shape == targets.shape, outputs.count > 0 else {
            throw ShapeError("outputs \(shapeText(outputs.shape)) and targets \(shapeText(targets.shape)) must be the same (N, K), not empty")
        }
        var gradient = outputs
        let value = outputs.withPointer { o in targets.withPointer { t in gradient.withMutablePointer { g in
            loss(unsafeOutputs: o, targets: t, gradient: g, batch: outputs.shape[0], classes: outputs.shape[1])
        } } }
        return (value, gradient)
    }
}

/// The losses ConvKit has, by name: what recipes and model files record.
public enum LossKind: String, CaseIterable, Sendable {
    /// `BinaryCrossEntropy`: one sigmoid output per class.
    case binaryCrossEntropy = "bce"
    /// `SoftmaxCrossEntropy`: logits, softmax inside the loss.
    case softmaxCrossEntropy = "softmax-ce"

    /// The loss that fits a network's outputs: binary cross-entropy when the last layer is a
    /// sigmoid (the outputs are already one probability per class, as in the tutorial), softmax
    /// cross-entropy otherwise (the outputs are logits, whatever the number of classes). What
    /// `convkit train --layers` trains with unless `--loss` says otherwise.
    public static func suited(to architecture: Architecture) -> LossKind {
        architecture.layers.last?.split(separator: " ").first?.lowercased() == "sigmoid" ? .binaryCrossEntropy : .softmaxCrossEntropy
    }

    /// The loss itself.
    public var function: any Loss {
        switch self {
        case .binaryCrossEntropy: BinaryCrossEntropy()
        case .softmaxCrossEntropy: SoftmaxCrossEntropy()
        }
    }
}

extension Loss where Self == BinaryCrossEntropy {
    /// Binary cross-entropy, for `loss: .binaryCrossEntropy`.
    public static var binaryCrossEntropy: BinaryCrossEntropy { BinaryCrossEntropy() }
}

extension Loss where Self == SoftmaxCrossEntropy {
    /// Softmax cross-entropy, for `loss: .softmaxCrossEntropy`.
    public static var softmaxCrossEntropy: SoftmaxCrossEntropy { SoftmaxCrossEntropy() }
    /// Softmax cross-entropy against targets smoothed by ε, for
    /// `loss: try .softmaxCrossEntropy(labelSmoothing: 0.1)`; throws unless 0 ≤ ε < 1.
    public static func softmaxCrossEntropy(labelSmoothing: Float) throws(LossError) -> SoftmaxCrossEntropy {
        try SoftmaxCrossEntropy(labelSmoothing: labelSmoothing)
    }
}

/// A loss setting out of range.
public enum LossError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Label smoothing outside [0, 1).
    case labelSmoothing(Float)

    /// What is wrong, in one line.
    public var description: String {
        switch self {
        case .labelSmoothing(let e): "label smoothing must be in [0, 1), got \(e)"
        }
    }
}

/// E = −(1/n) Σ [y* log y + (1−y*) log(1−y)] over all n = N·K outputs (sigmoid outputs, one per
/// class: for two classes the tutorial's loss, for more one-vs-rest).
/// ∂E/∂y = (1/n) ((1−y*)/(1−y) − y*/y).
public struct BinaryCrossEntropy: Loss {
    /// Outputs are clamped to [ε, 1−ε] in both the loss and its gradient, so a saturated sigmoid
    /// (y rounds to exactly 0 or 1 in float) gives a large finite loss and gradient, never inf or NaN.
    public static let epsilon: Float = 1e-7

    /// The loss; it has no settings.
    public init() {}
    /// `.binaryCrossEntropy`.
    public var kind: LossKind { .binaryCrossEntropy }

    /// The mean of −[y* log y + (1−y*) log(1−y)] over all outputs; writes ∂E/∂y when `gradient`
    /// is given. Unsafe: every pointer must hold `batch × classes` floats.
    public func loss(unsafeOutputs output: UnsafePointer<Float>, targets: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>?,
                     batch: Int, classes: Int) -> Float {
        let n = batch * classes
        let scale = 1 / Float(n)
        var total: Double = 0
        for i in 0..<n {
            let y = min(max(output[i], Self.epsilon), 1 - Self.epsilon), t = targets[i]
            total -= Double(t * logf(y) + (1 - t) * logf(1 - y))
            gradient?[i] = scale * ((1 - t) / (1 - y) - t / y)
        }
        return Float(total / Double(n))
    }

    /// The outputs themselves: each sigmoid output already is a probability.
    public func probabilities(_ output: [Float]) -> [Float] { output }
}

/// Softmax over each output row then categorical cross-entropy, fused: the network's last layer
/// gives logits z; E = −(1/N) Σ_n Σ_k y'_k log softmax(z)_k; ∂E/∂z = (softmax(z) − y')/N.
/// The log-sum-exp subtracts the row's maximum first, so large logits never overflow.
///
/// With label smoothing ε the targets y* are mixed with the uniform distribution,
/// y' = (1−ε)·y* + ε/K for K classes, as PyTorch's `CrossEntropyLoss(label_smoothing: ε)` does
/// (for class-index and for probability targets alike); ε = 0 is the plain loss, y' = y*.
/// The targets handed in stay one-hot: the mixing happens here.
public struct SoftmaxCrossEntropy: Loss, Equatable {
    /// ε in [0, 1): how much of each target row is spread evenly over all classes.
    public let labelSmoothing: Float

    /// Plain cross-entropy against the targets as given.
    public init() { labelSmoothing = 0 }

    /// The loss against targets mixed with ε/K, ε = `labelSmoothing`; throws
    /// `LossError.labelSmoothing` unless 0 ≤ ε < 1.
    public init(labelSmoothing: Float) throws(LossError) {
        guard labelSmoothing >= 0 && labelSmoothing < 1 else { throw .labelSmoothing(labelSmoothing) }
        self.labelSmoothing = labelSmoothing
    }
    /// `.softmaxCrossEntropy`: smoothing changes training, not what the outputs mean.
    public var kind: LossKind { .softmaxCrossEntropy }

    /// The mean of −Σ_k y'_k log softmax(z)_k over the batch, y' the smoothed targets; writes
    /// (softmax(z) − y')/N when `gradient` is given. Unsafe: every pointer must hold
    /// `batch × classes` floats.
    public func loss(unsafeOutputs output: UnsafePointer<Float>, targets: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>?,
                     batch: Int, classes: Int) -> Float {
        var total: Double = 0
        let scale = 1 / Float(batch)
        let keep = 1 - labelSmoothing, spread = labelSmoothing / Float(max(classes, 1))
        for n in 0..<batch {
            let z = output + n * classes, t = targets + n * classes
            var largest = z[0]
            for k in 1..<max(classes, 1) { largest = max(largest, z[k]) }
            // Work with z − max: at logits near 1000 the float spacing is 6e-5, too coarse for z − logΣ.
            var sum: Float = 0
            for k in 0..<classes { sum += expf(z[k] - largest) }
            let logSum = logf(sum)
            for k in 0..<classes {
                let shifted = z[k] - largest
                // ε = 0 gives keep·t + spread = t exactly, so the plain loss is unchanged bit for bit.
                let target = keep * t[k] + spread
                total -= Double(target * (shifted - logSum))
                gradient?[n * classes + k] = scale * (expf(shifted) / sum - target)
            }
        }
        return Float(total / Double(batch))
    }

    /// softmax(z), computed without overflow.
    public func probabilities(_ output: [Float]) -> [Float] {
        guard let largest = output.max() else { return [] }
        let e = output.map { expf($0 - largest) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }
}
