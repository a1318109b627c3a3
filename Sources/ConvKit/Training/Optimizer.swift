import CKernels
import Foundation

/// Updates parameters from their gradients. State (momentum, Adam's moments, the step count) is
/// named so it can be saved beside the model and training can continue where it stopped.
public protocol Optimizer: AnyObject {
    /// The name checkpoints record: "sgd", "momentum", "nesterov" or "adam".
    var name: String { get }
    /// The parameters it updates; any others are left as they are.
    var parameters: [Parameter] { get }
    /// The step size of the next update: finite and at least 0. `step()` uses it as it is;
    /// `Trainer` and `Sequential.trainingStep` throw `TrainingError.badLearningRate` for any other
    /// value (ConvKit's optimizers also refuse one at init).
    var learningRate: Float { get set }
    /// Updates every parameter in `parameters` from its gradient.
    func step()
    /// State buffers by name ("m.0", "v.3", …) plus scalar state in `counters`.
    var state: [(name: String, buffer: Buffer)] { get }
    /// Scalar state by name, e.g. Adam's step count under "step".
    var counters: [String: Int] { get set }
}

extension Optimizer {
    /// None: an optimizer without state.
    public var state: [(name: String, buffer: Buffer)] { [] }
    /// None: an optimizer without scalar state; setting it does nothing.
    public var counters: [String: Int] { get { [:] } set {} }
}

/// An optimizer that can declare its update to be W −= rate·dW exactly, so the backward pass may
/// apply it to a layer right after that layer's gradient is computed, while the gradient is
/// still in cache (for a large dense layer: one pass over the weights instead of three).
/// The training step fuses only layers whose parameters all belong to the optimizer, and then
/// calls `step(skipping:)` for the rest.
public protocol FusableOptimizer: Optimizer {
    /// The rate r when this optimizer's next update is exactly W −= r·dW for every one of its
    /// parameters; nil when it is not (weight decay, say).
    var fusedSGDRate: Float? { get }
    /// `step()` for every parameter but those in `skipped` (already updated in the backward pass).
    func step(skipping skipped: Set<ObjectIdentifier>)
}

/// W −= lr·(dW + wd·W).
public final class SGD: FusableOptimizer {
    /// The parameters it updates.
    public let parameters: [Parameter]
    /// lr, the step size.
    public var learningRate: Float
    /// wd, the L2 penalty added to the gradient.
    public let weightDecay: Float

    /// Plain SGD over `parameters`. Throws `OptimizerError` unless the learning rate and the
    /// weight decay are finite and at least 0.
    public init(parameters: [Parameter], learningRate: Float, weightDecay: Float = 0) throws(OptimizerError) {
        try OptimizerError.check(learningRate: learningRate, weightDecay: weightDecay)
        self.parameters = parameters
        self.learningRate = learningRate
        self.weightDecay = weightDecay
    }

    /// "sgd".
    public var name: String { "sgd" }

    /// W −= lr·(dW + wd·W) for every parameter.
    public func step() { step(skipping: []) }

    /// `learningRate` when there is no weight decay, else nil.
    public var fusedSGDRate: Float? { weightDecay == 0 ? learningRate : nil }

    /// W −= lr·(dW + wd·W) for every parameter not in `skipped`.
    public func step(skipping skipped: Set<ObjectIdentifier>) {
        for p in parameters where !skipped.contains(ObjectIdentifier(p)) {
            ck_sgd_update(p.value.pointer, p.gradient.pointer, learningRate, weightDecay, p.count)
        }
    }
}

/// Heavy-ball momentum, u = μu + g, W −= lr·u; Nesterov's variant steps by g + μu.
public final class Momentum: Optimizer {
    /// The parameters it updates.
    public let parameters: [Parameter]
    /// lr, the step size.
    public var learningRate: Float
    /// μ, the fraction of the velocity kept from one step to the next.
    public let momentum: Float
    /// Whether the step looks ahead along the velocity (Nesterov) or not (heavy ball).
    public let nesterov: Bool
    /// wd, the L2 penalty added to the gradient.
    public let weightDecay: Float
    private let velocity: [Buffer]

    /// Momentum over `parameters`, each velocity starting at zero. Throws `OptimizerError` unless
    /// the learning rate and the weight decay are finite and at least 0 and 0 ≤ μ < 1.
    public init(parameters: [Parameter], learningRate: Float, momentum: Float = 0.9, nesterov: Bool = false,
                weightDecay: Float = 0) throws(OptimizerError) {
        try OptimizerError.check(learningRate: learningRate, weightDecay: weightDecay)
        guard momentum >= 0 && momentum < 1 else { throw .momentum(momentum) }
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        velocity = parameters.map { Buffer(count: $0.count) }
    }

    /// "momentum", or "nesterov".
    public var name: String { nesterov ? "nesterov" : "momentum" }

    /// Updates the velocity of every parameter, then the parameter.
    public func step() {
        for (p, u) in zip(parameters, velocity) {
            ck_momentum_update(p.value.pointer, u.pointer, p.gradient.pointer, learningRate, momentum, weightDecay,
                               nesterov ? 1 : 0, p.count)
        }
    }

    /// The velocity of each parameter, "velocity.0", "velocity.1", … in parameter order.
    public var state: [(name: String, buffer: Buffer)] { velocity.enumerated().map { ("velocity.\($0)", $1) } }
}

/// Adam (Kingma & Ba), with bias correction and optional L2 weight decay added to the gradient.
public final class Adam: Optimizer {
    /// The parameters it updates.
    public let parameters: [Parameter]
    /// lr, the step size.
    public var learningRate: Float
    /// β1 and β2, the decay of the first and second moment; ε, added to the denominator; the L2
    /// weight decay added to the gradient.
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    private let moment: [Buffer], secondMoment: [Buffer]
    private var t = 0

    /// Adam over `parameters`, with both moments starting at zero. Throws `OptimizerError` unless
    /// the learning rate and the weight decay are finite and at least 0, each β is in [0, 1) and
    /// ε is positive and finite (with ε = 0 a parameter whose gradient is always 0 would become 0/0).
    public init(parameters: [Parameter], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0) throws(OptimizerError) {
        try OptimizerError.check(learningRate: learningRate, weightDecay: weightDecay)
        guard beta1 >= 0 && beta1 < 1 else { throw .beta1(beta1) }
        guard beta2 >= 0 && beta2 < 1 else { throw .beta2(beta2) }
        guard epsilon > 0 && epsilon.isFinite else { throw .epsilon(epsilon) }
        self.parameters = parameters
        self.learningRate = learningRate
        (self.beta1, self.beta2, self.epsilon, self.weightDecay) = (beta1, beta2, epsilon, weightDecay)
        moment = parameters.map { Buffer(count: $0.count) }
        secondMoment = parameters.map { Buffer(count: $0.count) }
    }

    /// "adam".
    public var name: String { "adam" }

    /// One Adam update of every parameter, bias-corrected for the step count.
    public func step() {
        t += 1
        let c1 = 1 - powf(beta1, Float(t)), c2 = 1 - powf(beta2, Float(t))
        for (i, p) in parameters.enumerated() {
            ck_adam_update(p.value.pointer, moment[i].pointer, secondMoment[i].pointer, p.gradient.pointer,
                           learningRate, beta1, beta2, epsilon, weightDecay, c1, c2, p.count)
        }
    }

    /// The first moments "m.0", "m.1", …, then the second moments "v.0", "v.1", … in parameter order.
    public var state: [(name: String, buffer: Buffer)] {
        moment.enumerated().map { ("m.\($0)", $1) } + secondMoment.enumerated().map { ("v.\($0)", $1) }
    }

    /// "step": the number of updates done, which the bias correction depends on.
    public var counters: [String: Int] {
        get { ["step": t] }
        set { t = newValue["step"] ?? t }
    }
}

/// An optimizer setting out of range: NaN and infinities are out of every range.
public enum OptimizerError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A learning rate below 0 (which would climb the loss) or not finite.
    case learningRate(Float)
    /// A weight decay below 0 or not finite.
    case weightDecay(Float)
    /// A momentum μ outside [0, 1).
    case momentum(Float)
    /// Adam's β1 outside [0, 1).
    case beta1(Float)
    /// Adam's β2 outside [0, 1).
    case beta2(Float)
    /// Adam's ε not positive and finite.
    case epsilon(Float)

    /// What is wrong, in one line.
    public var description: String {
        switch self {
        case .learningRate(let lr): "the learning rate must be finite and at least 0, got \(lr)"
        case .weightDecay(let wd): "the weight decay must be finite and at least 0, got \(wd)"
        case .momentum(let m): "the momentum must be in [0, 1), got \(m)"
        case .beta1(let b): "Adam's beta1 must be in [0, 1), got \(b)"
        case .beta2(let b): "Adam's beta2 must be in [0, 1), got \(b)"
        case .epsilon(let e): "Adam's epsilon must be positive and finite, got \(e)"
        }
    }

    /// Whether a learning rate can be stepped by: finite and at least 0.
    static func isValid(learningRate: Float) -> Bool { learningRate >= 0 && learningRate.isFinite }

    static func check(learningRate: Float, weightDecay: Float) throws(OptimizerError) {
        guard isValid(learningRate: learningRate) else { throw .learningRate(learningRate) }
        guard weightDecay >= 0 && weightDecay.isFinite else { throw .weightDecay(weightDecay) }
    }
}

/// The optimizers ConvKit has, by name: what recipes and checkpoints record.
public enum OptimizerKind: String, CaseIterable, Sendable {
    /// `sgd`: `SGD`; `momentum` and `nesterov`: `Momentum`; `adam`: `Adam`.
    case sgd, momentum, nesterov, adam
}

/// The learning rate over training: constant, multiplied by `factor` every `every` epochs, a
/// cosine from the base rate down to zero over all steps, or one cycle up and down.
public enum LearningRateSchedule: Equatable, Sendable {
    /// The base rate throughout.
    case constant
    /// The base rate times `factor` to the power ⌊epoch / every⌋.
    case step(every: Int, factor: Float)
    /// base · ½(1 + cos(π·step/totalSteps)).
    case cosine
    /// One cycle (Smith & Topin), with PyTorch's `OneCycleLR` defaults and the base rate as its
    /// `max_lr`: for the first 30 % of the steps a cosine from base/25 up to base, then a cosine
    /// down to base/(25·10⁴) at the last step. Changed every optimizer step, the step numbered from
    /// 0 as PyTorch's `step_num`, so step 0 runs at base/25, step ⌊0.3·T⌋ − 1 at base and step
    /// T − 1 at the minimum. Unlike PyTorch's default, momentum (Adam's β1) is not cycled.
    case oneCycle

    /// One-cycle's share of the steps spent warming up (PyTorch's `pct_start`).
    public static let oneCycleWarmup = 0.3
    /// One-cycle starts at base/`oneCycleStartDivisor` (PyTorch's `div_factor`)…
    public static let oneCycleStartDivisor = 25.0
    /// …and ends at that start rate divided by `oneCycleEndDivisor` (`final_div_factor`).
    public static let oneCycleEndDivisor = 1e4

    /// Whether every rate is finite and at least 0 for such a base: a step schedule needs
    /// `every` ≥ 1 and a positive, finite `factor` (a factor of 0 stops training, a negative one
    /// climbs the loss every other period).
    var isValid: Bool {
        guard case .step(let every, let factor) = self else { return true }
        return every >= 1 && factor > 0 && factor.isFinite
    }

    /// The rate at `step` (0-based) of `totalSteps`, in epoch `epoch` (0-based).
    public func rate(base: Float, epoch: Int, step: Int, totalSteps: Int) -> Float {
        switch self {
        case .constant: return base
        case .step(let every, let factor): return base * powf(factor, Float(epoch / max(every, 1)))
        case .cosine: return base * 0.5 * (1 + cosf(Float.pi * Float(step) / Float(max(totalSteps, 1))))
        case .oneCycle: return Float(Self.oneCycleRate(base: Double(base), step: Double(step), totalSteps: Double(max(totalSteps, 1))))
        }
    }

    /// PyTorch's two phases, in Double as Python computes them: the warm-up ends at step
    /// 0.3·T − 1, the cool-down at T − 1; within a phase the rate goes from `start` to `end` as
    /// end + (start − end)·½(1 + cos(π·p)), p the fraction of the phase done.
    private static func oneCycleRate(base: Double, step t: Double, totalSteps: Double) -> Double {
        let low = base / oneCycleStartDivisor, lowest = low / oneCycleEndDivisor
        let peak = oneCycleWarmup * totalSteps - 1, last = totalSteps - 1
        func anneal(_ start: Double, _ end: Double, _ p: Double) -> Double { end + (start - end) / 2 * (cos(Double.pi * p) + 1) }
        // A run of 3 steps or fewer has its peak before step 0: all cool-down, as in PyTorch.
        if t <= peak { return anneal(low, base, t / peak) }
        return anneal(base, lowest, min((t - peak) / (last - peak), 1))
    }
}
