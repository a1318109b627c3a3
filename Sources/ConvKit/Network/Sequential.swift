/// Layers applied in order, with the batch buffers between them owned here: activations[i] is
/// the input of layer i, gradients[i] the loss gradient with respect to it. Buffers grow to the
/// largest batch seen and are reused after that, so a training loop allocates nothing per step.
///
/// The public calls take and give `Tensor`s and check every shape; the raw-buffer calls the
/// trainer runs on are internal to the package.
///
/// Threads: inference (`forward(_:)`, `predict(_:)`, both `evaluate` calls and
/// `activations(for:)`) reads the weights and writes only memory of its own call, so any number
/// of threads may run it at once on one network. Whatever changes the network must run alone,
/// overlapping neither inference nor other training: training (`Trainer.fit`, `trainingStep`),
/// `initialize`, `Parameter.set`, `BatchNorm.reset`, setting `variant`. That is not checked.
public final class Sequential: @unchecked Sendable {
    /// The shape of one sample, without the batch axis.
    public let inputShape: [Int]
    /// The layers, in order; each one's input shape is the previous one's output shape.
    /// (Stored beside `batchLayers` rather than converted from it: the training loop reads it on
    /// every step, and a conversion would allocate.)
    public let layers: [any Layer]
    /// Which implementation of the C kernels this network runs: `.simd` unless changed.
    public var variant: Kernels.Variant = .simd
    package let batchLayers: [any BatchLayer]
    /// How the layers run: fused where batch norm, ReLU and max pooling follow one another.
    package private(set) var chain: LayerChain
    /// Whether `chain` fuses (true unless a test compares the two): the results are the same.
    package var fusesLayers = true {
        didSet {
            chain = LayerChain(batchLayers, fusing: fusesLayers)
            for case let block as Residual in layers { block.fusesLayers = fusesLayers }
        }
    }
    private var activations: [BatchBuffer]
    private var gradients: [BatchBuffer]
    package private(set) var capacity = 0
    /// Steps taken by `trainingStep`, numbering their random choices (dropout).
    var trainingSteps = 0
    /// Inference's buffers, one set per call in flight; never the training buffers above.
    let inferenceWorkspaces = InferenceWorkspaces()

    /// A network of `layers` taking samples of `inputShape`. Throws `ShapeError` unless
    /// `inputShape` has at least one axis, positive dimensions and at most
    /// `Architecture.maxElements` values, naming the first layer whose input shape is not what
    /// comes before it, and for a layer that is neither ConvKit's own nor a `CustomLayer`.
    /// No layers is the identity.
    public init(inputShape: [Int], layers: [any Layer]) throws(ShapeError) {
        try Self.checkInputShape(inputShape)
        var shape = inputShape
        var batchLayers: [any BatchLayer] = []
        for (index, layer) in layers.enumerated() {
            let runnable: any BatchLayer
            if let builtIn = layer as? any BatchLayer { runnable = builtIn }
            else if let custom = layer as? any CustomLayer { runnable = CustomLayerAdapter(custom, index: index) }
            else { throw ShapeError("layer \(index) (\(layer)) is neither one of ConvKit's layers nor a CustomLayer") }
            guard layer.inputShape == shape else {
                throw ShapeError("layer \(index) (\(layer)) takes \(shapeText(layer.inputShape)) but gets \(shapeText(shape))")
            }
            batchLayers.append(runnable)
            shape = layer.outputShape
        }
        self.inputShape = inputShape
        self.layers = layers
        self.batchLayers = batchLayers
        chain = LayerChain(batchLayers)
        outputShape = shape
        outputCount = shape.reduce(1, *)
        inputCount = inputShape.reduce(1, *)
        let sizes = [inputShape.reduce(1, *)] + layers.map(\.outputCount)
        activations = sizes.map { BatchBuffer(perSample: $0, capacity: 0) }
        gradients = sizes.map { BatchBuffer(perSample: $0, capacity: 0) }
    }

    /// The shape of one sample's output: the last layer's, or the input shape without layers.
    public let outputShape: [Int]
    /// The number of values in one input sample.
    public let inputCount: Int
    /// The number of values in one output sample: the class count for a classifier.
    public let outputCount: Int
    /// Every layer's parameters, in layer order.
    public var parameters: [Parameter] { layers.flatMap(\.parameters) }
    /// Every layer's untrained state (batch norm's running statistics), in layer order.
    public var state: [Parameter] { layers.flatMap(\.state) }
    /// The number of trainable values in the network.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Parameters under the names of PyTorch's `nn.Sequential.state_dict()` for the same network:
    /// the layer's position in the sequence (activations and reshapes count), then its own name
    /// ("3.weight"; "3.body.0.weight" and "3.shortcut.1.bias" in a residual block).
    public var namedParameters: [(name: String, parameter: Parameter)] {
        layers.enumerated().flatMap { index, layer in layer.namedParameters.map { ("\(index).\($0.name)", $0.parameter) } }
    }

    /// The layers' untrained state under PyTorch's `state_dict` names, e.g. "1.running_mean".
    public var namedState: [(name: String, parameter: Parameter)] {
        layers.enumerated().flatMap { index, layer in layer.namedState.map { ("\(index).\($0.name)", $0.parameter) } }
    }

    // MARK: tensors in, tensors out

    /// The network's outputs for a batch: `inputs` is (N, inputShape…), the result
    /// (N, outputShape…). A single sample of exactly `inputShape` gives `outputShape`.
    /// Inference only: nothing is trained, and calls may run at once from any number of threads.
    /// NaN inputs give NaN outputs.
    public func forward(_ inputs: Tensor) throws(ShapeError) -> Tensor {
        let (n, single) = try batchCount(inputs)
        guard n > 0 else { return Tensor(unchecked: [0] + outputShape, []) }
        let values = [Float](unsafeUninitializedCapacity: n * outputCount) { y, count in
            inputs.withPointer { infer($0, y.baseAddress!, batch: n) }
            count = n * outputCount
        }
        return Tensor(unchecked: single ? outputShape : [n] + outputShape, values)
    }

    /// The class each sample is given: the index of its largest output.
    public func predict(_ inputs: Tensor) throws(ShapeError) -> [Int] {
        let outputs = try forward(inputs)
        let k = outputCount
        return outputs.withUnsafeBufferPointer { out in
            (0..<(out.count / max(k, 1))).map { argmax(out.baseAddress! + $0 * k, k) }
        }
    }

    /// How many samples `inputs` holds, and whether it is one sample without a batch axis.
    func batchCount(_ inputs: Tensor) throws(ShapeError) -> (Int, single: Bool) {
        if inputs.shape == inputShape { return (1, true) }
        guard inputs.rank == inputShape.count + 1, Array(inputs.shape.dropFirst()) == inputShape else {
            throw ShapeError("inputs \(shapeText(inputs.shape)) are not (N, \(shapeText(inputShape))) for this network")
        }
        try checkBatch(inputs.shape[0])
        return (inputs.shape[0], false)
    }

    /// Throws `ShapeError` unless `shape` has at least one axis, positive dimensions and at most
    /// `Architecture.maxElements` values: the one check of a network's input shape, which
    /// `Architecture.build()` runs before it builds any layer for that shape.
    static func checkInputShape(_ shape: [Int]) throws(ShapeError) {
        guard !shape.isEmpty else { throw ShapeError("the input shape must have at least one axis") }
        _ = try checkedCount(shape, what: "input shape \(shapeText(shape))")
    }

    /// Throws `TrainingError.badBatchSize` unless `n` is at least 1 and a batch of `n` fits
    /// (`checkBatch`): the one check of a training or evaluation batch size.
    func checkBatchSize(_ n: Int) throws(TrainingError) {
        guard n >= 1, (try? checkBatch(n)) != nil else { throw .badBatchSize(n) }
    }

    /// Throws unless a batch of `n` fits in memory bounds the kernels index with 32-bit ints.
    func checkBatch(_ n: Int) throws(ShapeError) {
        // A residual block's inner layers run on buffers of their own, which may be wider than its output.
        let inner = layers.compactMap { $0 as? Residual }.flatMap { $0.body + $0.shortcut }
        let widest = ([inputCount] + (layers + inner).map(\.outputCount)).max() ?? 1
        guard n >= 0, n <= kernelElementLimit / max(widest, 1) else {
            throw ShapeError("a batch of \(n) is too large for this network (at most \(kernelElementLimit / max(widest, 1)))")
        }
    }

    // MARK: raw buffers, for the training loop

    /// Sizes every buffer for batches of up to `batch` samples.
    package func reserve(batch: Int) {
        guard batch > capacity else { return }
        capacity = batch
        for buffer in activations + gradients { buffer.reserve(batch) }
        for layer in batchLayers { layer.reserve(batch: batch) }
    }

    /// Where the caller writes a batch of inputs, (N, inputShape).
    package var input: UnsafeMutablePointer<Float> { activations[0].pointer }
    /// The network's output for the last forward pass, (N, outputShape).
    package var output: UnsafePointer<Float> { UnsafePointer(activations[batchLayers.count].pointer) }
    /// Where the loss writes ∂E/∂output before `backward`.
    package var outputGradient: UnsafeMutablePointer<Float> { gradients[batchLayers.count].pointer }

    /// The forward pass over the first `batch` samples of `input`: inference unless `training`
    /// (see `Pass`), where `noiseKey` and `firstSample` place the call's random choices.
    /// It writes the network's buffers and the layers' workspaces for `backward`, so it is part of
    /// training, one call at a time; inference that may run alongside other calls is `infer`.
    package func forward(batch: Int, training: Bool = false, noiseKey: UInt64 = 0, firstSample: Int = 0) {
        precondition(batch <= capacity, "batch \(batch) over the reserved \(capacity)")
        var pass = Pass(variant: variant, training: training, noiseKey: noiseKey, firstSample: firstSample)
        for step in chain.steps {
            pass.layerIndex = step.first
            step.runner.forward(activations[step.first].pointer, activations[step.last + 1].pointer, batch: batch, pass: pass)
        }
    }

    /// Parameter gradients for the last forward pass, from `outputGradient`. Where `fusedSGD`
    /// gives a learning rate for layer i, that layer applies W −= rate·dW itself right after
    /// computing the gradient it passes down (which it computes with the forward pass's weights):
    /// the same result as the gradient and then the SGD step, in fewer passes over memory.
    package func backward(batch: Int, fusedSGD: (layers: [Bool], rate: Float)? = nil) {
        precondition(batch <= capacity, "batch \(batch) over the reserved \(capacity)")
        for step in chain.steps.reversed() {
            let (i, j) = (step.first, step.last + 1)
            let dx = i == 0 ? nil : gradients[i].pointer
            // A fused step's parameters are its first layer's (batch norm's).
            if let fusedSGD, fusedSGD.layers[i] {
                step.runner.backwardThenSGD(activations[i].pointer, activations[j].pointer, gradients[j].pointer,
                                            dx, batch: batch, pass: Pass(variant: variant), learningRate: fusedSGD.rate)
            } else {
                step.runner.backward(activations[i].pointer, activations[j].pointer, gradients[j].pointer,
                                     dx, batch: batch, pass: Pass(variant: variant))
            }
        }
    }

    /// Layer i's input for the last forward pass (i = layers.count: the output); for tests. Not
    /// written for a layer inside a fused step (its input is the output of a layer before it in
    /// the step).
    package func activation(_ i: Int) -> UnsafePointer<Float> { UnsafePointer(activations[i].pointer) }
    /// ∂E/∂(layer i's input) from the last backward pass; not written inside a fused step either.
    package func gradient(_ i: Int) -> UnsafePointer<Float> { UnsafePointer(gradients[i].pointer) }
}

extension Sequential: CustomStringConvertible {
    /// The layers as a table: index, layer, output shape, parameters, MFLOP per sample.
    public var description: String { summary }

    /// One line per layer: index, layer, output shape, parameters; then the totals. A residual
    /// block's layers follow its line, indented, under their PyTorch names ("body.0", "shortcut.0").
    public var summary: String {
        var rows = [["#", "layer", "output", "parameters", "MFLOP/image"]]
        rows.append(["", "input", shapeText(inputShape), "", ""])
        func row(_ index: String, _ name: String, _ layer: any Layer) -> [String] {
            [index, name, shapeText(layer.outputShape), layer.parameterCount == 0 ? "" : "\(layer.parameterCount)",
             layer.forwardFlops == 0 ? "" : format2(Double(layer.forwardFlops) / 1e6)]
        }
        for (i, layer) in layers.enumerated() {
            rows.append(row("\(i)", layer.description, layer))
            // A residual block's own row counts its branches and the sum; its layers follow, indented.
            guard let block = layer as? Residual else { continue }
            for (k, inner) in block.body.enumerated() { rows.append(row("", "  body.\(k) \(inner)", inner)) }
            for (k, inner) in block.shortcut.enumerated() { rows.append(row("", "  shortcut.\(k) \(inner)", inner)) }
        }
        let flops = layers.reduce(0) { $0 + $1.forwardFlops }
        rows.append(["", "total", "", "\(parameterCount)", format2(Double(flops) / 1e6)])
        return Table(rows: rows, rightAligned: [0, 3, 4]).text
    }
}

package func format2(_ x: Double) -> String {
    let scaled = (x * 100).rounded() / 100
    return String(scaled)
}

/// A plain text table: columns padded to their widest cell.
package struct Table {
    package var rows: [[String]]
    package var rightAligned: Set<Int> = []

    package init(rows: [[String]], rightAligned: Set<Int> = []) {
        self.rows = rows
        self.rightAligned = rightAligned
    }

    package var text: String {
        let widths = (0..<(rows.map(\.count).max() ?? 0)).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return rightAligned.contains(c) ? pad + cell : cell + pad
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }.joined(separator: "\n")
    }
}

extension String {
    package func trimmingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
