import CKernels

/// A residual block (He et al., "Deep Residual Learning", 2015): the body's layers in order, and
/// a shortcut beside them,
///
///     y = body(x) + shortcut(x)
///
/// The shortcut is the identity when the body keeps the shape. When it changes it (a stride, or
/// more channels), the shortcut is a projection, as ResNet's option B: a 1×1 convolution with the
/// body's stride and output channels and no bias, then batch norm. An activation after the sum is
/// an ordinary layer after the block: "residual(…), relu".
///
/// The backward pass sends ∂E/∂y to both branches as it is (the derivative of a sum), and ∂E/∂x
/// is the sum of what the body and the shortcut pass down.
///
/// PyTorch names, as a module with `body` and `shortcut` submodules (both `nn.Sequential`):
/// the body's layer K as "body.K.weight", the projection as "shortcut.0.weight" (the convolution)
/// and "shortcut.1.weight", "shortcut.1.running_mean", … (the batch norm).
public final class Residual: BatchLayer {
    /// The body's input: (C, H, W), or any shape for a body that keeps it.
    public let inputShape: [Int]
    /// The body's output, which the shortcut's matches.
    public var outputShape: [Int] { body.last!.outputShape }
    /// The body's layers, in order: at least one, none of them a residual block.
    public let body: [any Layer]
    /// No layers for the identity; a 1×1 `Conv2D` without bias, then a `BatchNorm`, for a
    /// projection.
    public let shortcut: [any Layer]
    /// The body's parameters, then the shortcut's.
    public let parameters: [Parameter]
    /// The body's state (batch norm's running statistics), then the shortcut's.
    public let state: [Parameter]
    private let bodyLayers: [any BatchLayer]
    private let shortcutLayers: [any BatchLayer]
    /// How each branch runs (`LayerChain`): fused where batch norm and ReLU follow one another.
    private var bodyChain: LayerChain
    private var shortcutChain: LayerChain
    /// Whether the branches fuse (`Sequential.fusesLayers` sets it for the blocks it holds).
    package var fusesLayers = true {
        didSet {
            bodyChain = LayerChain(bodyLayers, fusing: fusesLayers)
            shortcutChain = LayerChain(shortcutLayers, fusing: fusesLayers)
        }
    }
    /// The output of each layer of the body, then of the shortcut, for the backward pass.
    private let bodyOutputs: [BatchBuffer]
    private let shortcutOutputs: [BatchBuffer]
    /// ∂E/∂(output of inner layer k) for every inner layer but the last, whose output gradient is
    /// the block's own; and ∂E/∂x through the shortcut, which is added to the body's.
    private let bodyGradients: [BatchBuffer]
    private let shortcutGradients: [BatchBuffer]
    private let shortcutInputGradient: BatchBuffer
    /// The widest output of any inner layer, per sample: the size of each of inference's two
    /// buffers.
    private let widest: Int

    /// A block of `body` (layers already built, the first one taking `input`) with the shortcut
    /// that fits it. Throws `ShapeError` naming the body layer whose input is not what comes before
    /// it, for an empty body, for a residual block or a layer that is not ConvKit's in the body,
    /// and when no projection fits: the body must keep the shape, or turn a C×H×W input into a
    /// C'×H'×W' output that a 1×1 convolution with the body's stride gives too.
    public init(input: [Int], body: [any Layer]) throws(ShapeError) {
        guard !body.isEmpty else { throw ShapeError("a residual block needs at least one layer") }
        _ = try checkedCount(input, what: "residual input \(shapeText(input))")
        var shape = input
        var runnable: [any BatchLayer] = []
        for (k, layer) in body.enumerated() {
            guard !(layer is Residual) else { throw ShapeError("residual blocks do not nest (body layer \(k))") }
            guard let batchLayer = layer as? any BatchLayer else {
                throw ShapeError("body layer \(k) (\(layer)) is not one of ConvKit's layers")
            }
            guard layer.inputShape == shape else {
                throw ShapeError("body layer \(k) (\(layer)) takes \(shapeText(layer.inputShape)) but gets \(shapeText(shape))")
            }
            runnable.append(batchLayer)
            shape = layer.outputShape
        }
        let output = shape
        var shortcut: [any BatchLayer] = []
        if output != input {
            guard input.count == 3, output.count == 3 else {
                throw ShapeError("the body turns \(shapeText(input)) into \(shapeText(output)); a projection shortcut needs C×H×W on both sides")
            }
            // The stride a 1×1 convolution needs to land on the body's grid: the product of the
            // body's own strides.
            let stride = body.reduce(1) { product, layer in
                switch layer {
                case let conv as Conv2D: product * conv.stride
                case let pool as MaxPool2D: product * pool.stride
                case let pool as AvgPool2D: product * pool.stride
                default: product
                }
            }
            let projection = try Conv2D(input: input, filters: output[0], kernelHeight: 1, kernelWidth: 1,
                                        stride: min(stride, Conv2D.maxPaddingOrStride), bias: .none)
            guard projection.outputShape == output else {
                throw ShapeError("the body turns \(shapeText(input)) into \(shapeText(output)), but a 1×1 projection with the body's stride \(stride) gives \(shapeText(projection.outputShape))")
            }
            shortcut = [projection, try BatchNorm(input: output)]
        }
        inputShape = input
        self.body = body
        self.shortcut = shortcut
        bodyLayers = runnable
        shortcutLayers = shortcut
        bodyChain = LayerChain(runnable)
        shortcutChain = LayerChain(shortcut)
        parameters = body.flatMap(\.parameters) + shortcut.flatMap(\.parameters)
        state = body.flatMap(\.state) + shortcut.flatMap(\.state)
        bodyOutputs = body.map { BatchBuffer(perSample: $0.outputCount, capacity: 0) }
        shortcutOutputs = shortcut.map { BatchBuffer(perSample: $0.outputCount, capacity: 0) }
        bodyGradients = body.dropLast().map { BatchBuffer(perSample: $0.outputCount, capacity: 0) }
        shortcutGradients = shortcut.dropLast().map { BatchBuffer(perSample: $0.outputCount, capacity: 0) }
        shortcutInputGradient = BatchBuffer(perSample: shortcut.isEmpty ? 0 : input.reduce(1, *), capacity: 0)
        widest = (body + shortcut).map(\.outputCount).max()!
    }

    /// Whether the shortcut is a projection (1×1 convolution and batch norm) rather than the identity.
    public var projects: Bool { !shortcut.isEmpty }

    /// "residual(" and the body's lines, comma-separated, then ")": the shortcut follows from them.
    public var spec: String { "residual(" + body.map(\.spec).joined(separator: ", ") + ")" }
    /// "Residual" with its shortcut, e.g. "Residual (projection 1×1 stride 2)".
    public var description: String {
        guard let projection = shortcut.first as? Conv2D else { return "Residual (identity)" }
        return "Residual (projection 1×1" + (projection.stride == 1 ? ")" : " stride \(projection.stride))")
    }
    /// Both branches, and one addition per output value.
    public var forwardFlops: Int { (body + shortcut).reduce(outputCount) { $0 + $1.forwardFlops } }

    /// "body.K.name" for the body's layer K, "shortcut.K.name" for the projection's.
    public var namedParameters: [(name: String, parameter: Parameter)] {
        Self.named(body, "body") { $0.namedParameters } + Self.named(shortcut, "shortcut") { $0.namedParameters }
    }

    /// The state under the same names as `namedParameters`, e.g. "shortcut.1.running_mean".
    public var namedState: [(name: String, parameter: Parameter)] {
        Self.named(body, "body") { $0.namedState } + Self.named(shortcut, "shortcut") { $0.namedState }
    }

    private static func named(_ layers: [any Layer], _ prefix: String,
                              _ names: (any Layer) -> [(name: String, parameter: Parameter)]) -> [(name: String, parameter: Parameter)] {
        layers.enumerated().flatMap { k, layer in names(layer).map { ("\(prefix).\(k).\($0.name)", $0.parameter) } }
    }

    package func reserve(batch: Int) {
        for buffer in bodyOutputs + shortcutOutputs + bodyGradients + shortcutGradients + [shortcutInputGradient] {
            buffer.reserve(batch)
        }
        for layer in bodyLayers + shortcutLayers { layer.reserve(batch: batch) }
    }

    /// Inner layers' random choices are keyed apart from the other layers' by a key of the
    /// block's own (the step's key mixed with the block's position), and from each other by their
    /// position inside it: the body's first, then the shortcut's.
    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass) {
        reserve(batch: batch)
        var inner = pass
        inner.noiseKey = Dropout.key(pass.noiseKey, layer: pass.layerIndex)
        var source = x
        for step in bodyChain.steps {
            inner.layerIndex = step.first
            step.runner.forward(source, bodyOutputs[step.last].pointer, batch: batch, pass: inner)
            source = UnsafePointer(bodyOutputs[step.last].pointer)
        }
        let bodyOutput = source
        source = x
        for step in shortcutChain.steps {
            inner.layerIndex = bodyLayers.count + step.first
            step.runner.forward(source, shortcutOutputs[step.last].pointer, batch: batch, pass: inner)
            source = UnsafePointer(shortcutOutputs[step.last].pointer)
        }
        ck_add(pass.variant.c, y, bodyOutput, source, batch * outputCount)
    }

    /// dy goes to both branches unchanged; dx = (body's dx) + (shortcut's dx).
    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass) {
        Self.backward(bodyChain, x, bodyOutputs, bodyGradients, dy, dx, batch: batch, pass: pass)
        guard !shortcutLayers.isEmpty else {
            if let dx { ck_add(pass.variant.c, dx, dx, dy, batch * inputCount) }
            return
        }
        let shortcutDx = dx == nil ? nil : shortcutInputGradient.pointer
        Self.backward(shortcutChain, x, shortcutOutputs, shortcutGradients, dy, shortcutDx, batch: batch, pass: pass)
        if let dx, let shortcutDx { ck_add(pass.variant.c, dx, dx, shortcutDx, batch * inputCount) }
    }

    /// Backward through one branch, last step first: the step over layers i ... j reads its input
    /// (x or the output of layer i − 1), its output (layer j's) and the gradient of that output (dy
    /// for the branch's last layer).
    private static func backward(_ chain: LayerChain, _ x: UnsafePointer<Float>, _ outputs: [BatchBuffer],
                                 _ gradients: [BatchBuffer], _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>?,
                                 batch: Int, pass: Pass) {
        for step in chain.steps.reversed() {
            let (i, j) = (step.first, step.last)
            let input = i == 0 ? x : UnsafePointer(outputs[i - 1].pointer)
            let outputGradient = j == outputs.count - 1 ? dy : UnsafePointer(gradients[j].pointer)
            let inputGradient = i == 0 ? dx : gradients[i - 1].pointer
            step.runner.backward(input, UnsafePointer(outputs[j].pointer), outputGradient, inputGradient, batch: batch, pass: pass)
        }
    }

    /// Two buffers of the widest inner output that the inner layers write in turn, then the
    /// largest scratch an inner layer asks for.
    package func inferenceWorkspaceCount(batch: Int) -> Int {
        2 * batch * widest + ((bodyLayers + shortcutLayers).map { $0.inferenceWorkspaceCount(batch: batch) }.max() ?? 0)
    }

    /// The body's last layer writes y, the shortcut's output is added to it; everything else
    /// goes to `workspace`.
    package func infer(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass,
                       workspace: UnsafeMutablePointer<Float>?) {
        let buffers = (workspace!, workspace! + batch * widest)
        let scratchCount = inferenceWorkspaceCount(batch: batch) - 2 * batch * widest
        let scratch = scratchCount == 0 ? nil : workspace! + 2 * batch * widest
        func buffer(_ k: Int) -> UnsafeMutablePointer<Float> { k % 2 == 0 ? buffers.0 : buffers.1 }
        var source = x
        for (k, step) in bodyChain.steps.enumerated() {
            let target = k == bodyChain.steps.count - 1 ? y : buffer(k)
            step.runner.infer(source, target, batch: batch, pass: pass, workspace: scratch)
            source = UnsafePointer(target)
        }
        source = x
        for (k, step) in shortcutChain.steps.enumerated() {
            step.runner.infer(source, buffer(k), batch: batch, pass: pass, workspace: scratch)
            source = UnsafePointer(buffer(k))
        }
        ck_add(pass.variant.c, y, y, source, batch * outputCount)
    }
}

extension Architecture {
    /// The spec's layer lines: split at the commas outside parentheses, so that a residual
    /// block's body stays on its block's line.
    static func splitLayers(_ spec: String) -> [String] {
        var lines: [String] = [], current = "", depth = 0
        for character in spec {
            switch character {
            case "(": depth += 1
            case ")": depth = max(depth - 1, 0)
            case "," where depth == 0:
                lines.append(current.trimmingCharacters())
                current = ""
                continue
            default: break
            }
            current.append(character)
        }
        lines.append(current.trimmingCharacters())
        return lines
    }

    /// The body's lines of "residual(LINE, LINE, …)", or nil when `text` is not a residual block.
    static func residualBody(_ text: String) throws(ShapeError) -> [String]? {
        guard text.lowercased().hasPrefix("residual") else { return nil }
        let rest = text.dropFirst("residual".count).trimmingCharacters()
        guard rest.hasPrefix("("), rest.hasSuffix(")"), rest.count >= 2 else {
            throw ShapeError("usage: residual(LAYER, LAYER, …)")
        }
        let inner = String(rest.dropFirst().dropLast())
        guard inner.filter({ $0 == "(" }).count == inner.filter({ $0 == ")" }).count else {
            throw ShapeError("residual block has unbalanced parentheses")
        }
        let lines = splitLayers(inner)
        guard lines != [""] else { throw ShapeError("a residual block needs at least one layer") }
        return lines
    }

    /// A residual block from its body's lines, each built on the shape before it.
    static func residual(_ lines: [String], input: [Int]) throws(ShapeError) -> Residual {
        var shape = input
        var body: [any Layer] = []
        for (k, line) in lines.enumerated() {
            if line.contains("(") || line.lowercased().hasPrefix("residual") { throw ShapeError("residual blocks do not nest") }
            do {
                let layer = try layer(line, input: shape)
                body.append(layer)
                shape = layer.outputShape
            } catch {
                throw ShapeError("body layer \(k) '\(line)' (input \(shapeText(shape))): \(error.description)")
            }
        }
        return try Residual(input: input, body: body)
    }
}
