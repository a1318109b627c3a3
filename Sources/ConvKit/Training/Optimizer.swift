import CKernels
import Foundation

/// Updates parameters from their gradients. State (momentum, Adam's moments, the step count) is
/// named so it can be saved beside the model and training can continue where it stopped.
public protocol Optimizer: AnyObject {
    var name: String { get }
    var learningRate: Float { get set }
    func step()
    /// State buffers by name ("m.0", "v.3", …) plus scalar state in `counters`.
    var state: [(name: String, buffer: Buffer)] { get }
    var counters: [String: Int] { get set }
}

extension Optimizer {
    public var state: [(name: String, buffer: Buffer)] { [] }
    public var counters: [String: Int] { get { [:] } set {} }
}

/// W −= lr·(dW + wd·W).
public final class SGD: Optimizer {
    public let parameters: [Parameter]
    public var learningRate: Float
    public let weightDecay: Float

    public init(parameters: [Parameter], learningRate: Float, weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.weightDecay = weightDecay
    }

    public var name: String { "sgd" }

    public func step() {
        for p in parameters { ck_sgd_update(p.value.pointer, p.gradient.pointer, learningRate, weightDecay, p.count) }
    }
}

/// Heavy-ball momentum, u = μu + g, W −= lr·u; Nesterov's variant steps by g + μu.
public final class Momentum: Optimizer {
    public let parameters: [Parameter]
    public var learningRate: Float
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    private let velocity: [Buffer]

    public init(parameters: [Parameter], learningRate: Float, momentum: Float = 0.9, nesterov: Bool = false, weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        velocity = parameters.map { Buffer(count: $0.count) }
    }

    public var name: String { nesterov ? "nesterov" : "momentum" }

    public func step() {
        for (p, u) in zip(parameters, velocity) {
            ck_momentum_update(p.value.pointer, u.pointer, p.gradient.pointer, learningRate, momentum, weightDecay,
                               nesterov ? 1 : 0, p.count)
        }
    }

    public var state: [(name: String, buffer: Buffer)] { velocity.enumerated().map { ("velocity.\($0)", $1) } }
}

/// Adam (Kingma & Ba), with bias correction and optional L2 weight decay added to the gradient.
public final class Adam: Optimizer {
    public let parameters: [Parameter]
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    private let moment: [Buffer], secondMoment: [Buffer]
    private var t = 0

    public init(parameters: [Parameter], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        (self.beta1, self.beta2, self.epsilon, self.weightDecay) = (beta1, beta2, epsilon, weightDecay)
        moment = parameters.map { Buffer(count: $0.count) }
        secondMoment = parameters.map { Buffer(count: $0.count) }
    }

    public var name: String { "adam" }

    public func step() {
        t += 1
        let c1 = 1 - powf(beta1, Float(t)), c2 = 1 - powf(beta2, Float(t))
        for (i, p) in parameters.enumerated() {
            ck_adam_update(p.value.pointer, moment[i].pointer, secondMoment[i].pointer, p.gradient.pointer,
                           learningRate, beta1, beta2, epsilon, weightDecay, c1, c2, p.count)
        }
    }

    public var state: [(name: String, buffer: Buffer)] {
        moment.enumerated().map { ("m.\($0)", $1) } + secondMoment.enumerated().map { ("v.\($0)", $1) }
    }

    public var counters: [String: Int] {
        get { ["step": t] }
        set { t = newValue["step"] ?? t }
    }
}

/// The learning rate over training: constant, multiplied by `factor` every `every` epochs, or a
/// cosine from the base rate down to zero over all steps.
public enum LearningRateSchedule: Equatable, Sendable {
    case constant
    case step(every: Int, factor: Float)
    case cosine

    /// The rate at `step` (0-based) of `totalSteps`, in epoch `epoch` (0-based).
    public func rate(base: Float, epoch: Int, step: Int, totalSteps: Int) -> Float {
        switch self {
        case .constant: return base
        case .step(let every, let factor): return base * powf(factor, Float(epoch / max(every, 1)))
        case .cosine: return base * 0.5 * (1 + cosf(Float.pi * Float(step) / Float(max(totalSteps, 1))))
        }
    }
}
