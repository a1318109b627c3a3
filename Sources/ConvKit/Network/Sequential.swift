/// Layers applied in order, with the batch buffers between them owned here and sized once:
/// activations[i] is the input of layer i, gradients[i] the loss gradient with respect to it.
public final class Sequential {
    public let inputShape: [Int]
    public let layers: [Layer]
    private var activations: [BatchBuffer]
    private var gradients: [BatchBuffer]
    public private(set) var capacity = 0

    public init(inputShape: [Int], layers: [Layer]) {
        self.inputShape = inputShape
        self.layers = layers
        let sizes = [inputShape.reduce(1, *)] + layers.map(\.outputCount)
        activations = sizes.map { BatchBuffer(perSample: $0, capacity: 0) }
        gradients = sizes.map { BatchBuffer(perSample: $0, capacity: 0) }
    }

    public var outputShape: [Int] { layers.last?.outputShape ?? inputShape }
    public var outputCount: Int { outputShape.reduce(1, *) }
    public var parameters: [Parameter] { layers.flatMap(\.parameters) }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Parameters under the names of PyTorch's `nn.Sequential.state_dict()` for the same network:
    /// the layer's position in the sequence (activations and reshapes count), then its own name.
    public var namedParameters: [(name: String, parameter: Parameter)] {
        layers.enumerated().flatMap { index, layer in layer.parameters.map { ("\(index).\($0.name)", $0) } }
    }

    /// Sizes every buffer for batches of up to `batch` samples; training calls it once.
    public func reserve(batch: Int) {
        guard batch > capacity else { return }
        capacity = batch
        for buffer in activations + gradients { buffer.reserve(batch) }
        for layer in layers { layer.reserve(batch: batch) }
    }

    /// Where the caller writes a batch of inputs, (N, inputShape).
    public var input: UnsafeMutablePointer<Float> { activations[0].pointer }
    /// The network's output for the last forward pass, (N, outputShape).
    public var output: UnsafePointer<Float> { UnsafePointer(activations[layers.count].pointer) }
    /// Where the loss writes ∂E/∂output before `backward`.
    public var outputGradient: UnsafeMutablePointer<Float> { gradients[layers.count].pointer }

    public func forward(batch: Int) {
        precondition(batch <= capacity, "batch \(batch) over the reserved \(capacity)")
        for (i, layer) in layers.enumerated() {
            layer.forward(activations[i].pointer, activations[i + 1].pointer, batch: batch)
        }
    }

    /// Parameter gradients for the last forward pass, from `outputGradient`.
    public func backward(batch: Int) {
        for i in layers.indices.reversed() {
            layers[i].backward(activations[i].pointer, activations[i + 1].pointer, gradients[i + 1].pointer,
                               i == 0 ? nil : gradients[i].pointer, batch: batch)
        }
    }

    /// `backward` with a plain SGD step folded in, layer by layer from the last: each layer
    /// updates its weights right after computing the gradient it passes down, which it computes
    /// with the weights of the forward pass. Same result as `backward` then `SGD.step()`, in
    /// fewer passes over memory.
    public func backward(batch: Int, sgdLearningRate learningRate: Float) {
        for i in layers.indices.reversed() {
            layers[i].backwardThenSGD(activations[i].pointer, activations[i + 1].pointer, gradients[i + 1].pointer,
                                      i == 0 ? nil : gradients[i].pointer, batch: batch, learningRate: learningRate)
        }
    }

    /// Outputs for a batch of inputs given as a tensor (N, inputShape).
    public func predict(_ inputs: Tensor) -> Tensor {
        let perSample = inputShape.reduce(1, *)
        precondition(inputs.count % max(perSample, 1) == 0, "inputs \(inputs.shape) for input shape \(inputShape)")
        let n = inputs.count / perSample
        reserve(batch: n)
        inputs.withPointer { input.update(from: $0, count: inputs.count) }
        forward(batch: n)
        return Tensor(shape: [n] + outputShape, scalars: Array(UnsafeBufferPointer(start: output, count: n * outputCount)))
    }

    /// One line per layer: index, layer, output shape, parameters; then the totals.
    public var summary: String {
        var rows = [["#", "layer", "output", "parameters", "MFLOP/image"]]
        rows.append(["", "input", shapeText(inputShape), "", ""])
        for (i, layer) in layers.enumerated() {
            rows.append(["\(i)", layer.description, shapeText(layer.outputShape), layer.parameterCount == 0 ? "" : "\(layer.parameterCount)",
                         layer.forwardFlops == 0 ? "" : String(format2(Double(layer.forwardFlops) / 1e6))])
        }
        let flops = layers.reduce(0) { $0 + $1.forwardFlops }
        rows.append(["", "total", "", "\(parameterCount)", format2(Double(flops) / 1e6)])
        return Table(rows: rows, rightAligned: [0, 3, 4]).text
    }
}

func format2(_ x: Double) -> String {
    let scaled = (x * 100).rounded() / 100
    return String(scaled)
}

/// A plain text table: columns padded to their widest cell.
struct Table {
    var rows: [[String]]
    var rightAligned: Set<Int> = []

    var text: String {
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
    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}

extension Sequential {
    /// Layer i's input for the last forward pass (i = layers.count: the output); for tests and pictures.
    func activation(_ i: Int) -> UnsafePointer<Float> { UnsafePointer(activations[i].pointer) }
    /// ∂E/∂(layer i's input) from the last backward pass.
    func gradient(_ i: Int) -> UnsafePointer<Float> { UnsafePointer(gradients[i].pointer) }
}
