/// How weights start. Biases start at zero except under `.normal` (the tutorial's scheme) and
/// `.pytorch`.
public enum WeightInit: String, CaseIterable, Sendable {
    /// Every weight and bias from N(0, 1), as the tutorial does.
    case normal
    /// He: N(0, 2/fan_in), for layers followed by ReLU.
    case he
    /// Glorot: U(±√(6/(fan_in+fan_out))), for layers followed by sigmoid, tanh or nothing.
    case glorot
    /// He before a ReLU, Glorot elsewhere.
    case auto
    /// PyTorch's default for Conv2d and Linear: weights and biases from U(±1/√fan_in).
    case pytorch
}

extension Sequential {
    /// Fills every parameter from `generator`, layer by layer, weight before bias. The default,
    /// `.pytorch`, suits any network (and is what `Recipe.custom` uses); `.normal` is the
    /// tutorial's and suits little else. A `CustomLayer`'s parameters are left as they are.
    public func initialize(_ scheme: WeightInit = .pytorch, generator: inout SeededGenerator) {
        Self.initialize(layers, reLUAfter: false, scheme, generator: &generator)
    }

    /// `layers` in order, a residual block's body then its shortcut; `reLUAfter` tells whether a
    /// ReLU follows the list (the layer after a residual block, for the end of its branches).
    private static func initialize(_ layers: [any Layer], reLUAfter: Bool, _ scheme: WeightInit, generator: inout SeededGenerator) {
        for (index, layer) in layers.enumerated() {
            // Batch norm starts at γ = 1, β = 0 under every scheme, as in PyTorch.
            if let norm = layer as? BatchNorm { norm.reset(); continue }
            // A layer of the user's own keeps the values its initialiser gave.
            if layer is any CustomLayer { continue }
            // Layers that keep the scale of what passes through do not hide the ReLU after them.
            let next = layers.dropFirst(index + 1).first { !($0 is Reshape || $0 is BatchNorm || $0 is Dropout) }
            let nextIsReLU = next.map { $0 is ReLU } ?? reLUAfter
            if let block = layer as? Residual {
                initialize(block.body, reLUAfter: nextIsReLU, scheme, generator: &generator)
                initialize(block.shortcut, reLUAfter: nextIsReLU, scheme, generator: &generator)
                continue
            }
            let params = layer.parameters
            guard let weight = params.first(where: { $0.name == "weight" }) else { continue }
            let fanIn = weight.shape.dropFirst().reduce(1, *)
            let fanOut = weight.shape[0] * weight.shape.dropFirst(2).reduce(1, *)
            let chosen = scheme == .auto ? (nextIsReLU ? .he : .glorot) : scheme
            for p in params {
                let v = p.value.pointer
                switch (chosen, p.name) {
                case (.normal, _):
                    for i in 0..<p.count { v[i] = generator.nextNormal() }
                case (.pytorch, _):
                    let bound = 1 / Float(fanIn).squareRoot()
                    for i in 0..<p.count { v[i] = bound * (2 * generator.nextUnitFloat() - 1) }
                case (_, "bias"):
                    p.value.fill(0)
                case (.he, _):
                    let std = (2 / Float(fanIn)).squareRoot()
                    for i in 0..<p.count { v[i] = std * generator.nextNormal() }
                default:
                    let limit = (6 / Float(fanIn + fanOut)).squareRoot()
                    for i in 0..<p.count { v[i] = limit * (2 * generator.nextUnitFloat() - 1) }
                }
            }
        }
    }
}
