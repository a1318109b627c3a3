/// A network as text: the input shape and a comma-separated list of layers, e.g.
/// "conv 8 5, relu, maxpool 2, conv 16 5, relu, maxpool 2, flatten, dense 10".
///
/// Layers: `conv F K` or `conv F KHxKW` (optionally `untied` or `nobias`), `dense N`, `relu`,
/// `sigmoid`, `tanh`, `maxpool P [S]`, `avgpool P [S]`, `globalavgpool` (C×H×W → C×1×1),
/// `batchnorm` (per channel of C×H×W, per feature of a flat input), `dropout P`, `flatten`,
/// `reshape AxB…`, and `residual(LAYER, LAYER, …)`: a block whose output is its layers' output plus
/// its input, through a projection when the layers change the shape (see `Residual`). A conv also takes `pad P` or `pad same` and `stride S`, in any order with its
/// bias word. The same text is stored in model files, so a saved model rebuilds from it.
public struct Architecture: Equatable, Sendable {
    /// The shape of one sample, (C, H, W) for images.
    public var input: [Int]
    /// One spec line per layer, e.g. ["conv 8 5", "relu"].
    public var layers: [String]

    /// An architecture from its layer lines; nothing is checked until `build()`.
    public init(input: [Int] = [1, 28, 28], layers: [String]) {
        self.input = input
        self.layers = layers
    }

    /// An architecture from comma-separated layer lines, e.g. "conv 8 5, relu, flatten, dense 10".
    /// Commas inside parentheses separate a residual block's layers, not the network's.
    /// An empty entry ("relu,, dense 10", or a trailing comma) is kept as an empty line, which
    /// `build()` refuses; a spec of only white space has no layers, which it refuses too.
    public init(input: [Int] = [1, 28, 28], spec: String) {
        let lines = Self.splitLayers(spec)
        self.init(input: input, layers: lines == [""] ? [] : lines)
    }

    /// The layers as one comma-separated line, as `init(input:spec:)` reads it.
    public var spec: String { layers.joined(separator: ", ") }

    /// The tutorial's network: Conv2D 5@3×3 with a bias per output position, sigmoid,
    /// reshape, Dense 100, sigmoid, Dense to one sigmoid output per class.
    public static func tutorial(classes: Int) -> Architecture {
        Architecture(layers: ["conv 5 3 untied", "sigmoid", "reshape 3380", "dense 100", "sigmoid", "dense \(classes)", "sigmoid"])
    }

    /// The LeNet-style net of the PyTorch reference (`shared/anchors/lenet_torch.py`).
    public static func lenet(classes: Int) -> Architecture {
        Architecture(spec: "conv 8 5, relu, maxpool 2, conv 16 5, relu, maxpool 2, flatten, dense \(classes)")
    }

    /// The most values one parameter may hold and one sample may take at any layer (2^26, 256 MiB
    /// of floats): far above any network this library trains on MNIST, low enough that a corrupt
    /// model file, a typo in --layers or a mistyped size in code is an error instead of gigabytes
    /// of allocation or an overflowing size. The one cap of every layer initialiser,
    /// `Parameter.init(name:shape:)`, `Sequential.init(inputShape:layers:)` and `build()`.
    public static let maxElements = 1 << 26

    /// Builds the layers, checking that each fits the shape before it. Throws `ShapeError` for an
    /// input shape without axes, with a dimension below 1 or more than `maxElements` values, for
    /// no layers at all, and naming the first layer line that is empty, unknown or does not fit.
    public func build() throws(ShapeError) -> Sequential {
        try Sequential.checkInputShape(input)
        guard !layers.isEmpty else { throw ShapeError("an architecture needs at least one layer") }
        var shape = input
        var built: [Layer] = []
        for (index, text) in layers.enumerated() {
            do {
                let layer = try Self.layer(text, input: shape)
                built.append(layer)
                shape = layer.outputShape
            } catch {
                throw ShapeError("layer \(index) '\(text)' (input \(shapeText(shape))): \(error.description)")
            }
        }
        return try Sequential(inputShape: input, layers: built)
    }

    static func layer(_ text: String, input: [Int]) throws(ShapeError) -> Layer {
        if let body = try residualBody(text) { return try residual(body, input: input) }
        let words = text.split(separator: " ").map(String.init)
        guard let kind = words.first else { throw ShapeError("empty layer") }
        let args = Array(words.dropFirst())

        func count(_ word: String, _ what: String) throws(ShapeError) -> Int {
            guard let n = Int(word), n > 0, n <= 1 << 20 else { throw ShapeError("\(what) must be a positive whole number, got '\(word)'") }
            return n
        }
        func dims(_ word: String, _ what: String) throws(ShapeError) -> [Int] {
            var result: [Int] = []
            for part in word.split(separator: "x", omittingEmptySubsequences: false) { result.append(try count(String(part), what)) }
            return result
        }
        func expect(_ range: ClosedRange<Int>, _ usage: String) throws(ShapeError) {
            guard range.contains(args.count) else { throw ShapeError("usage: \(usage)") }
        }
        /// A pooling layer's `SIZE [STRIDE]`, the stride the size when not given.
        func window(_ layer: String) throws(ShapeError) -> (size: Int, stride: Int) {
            try expect(1...2, "\(layer) SIZE [STRIDE]")
            let size = try count(args[0], "window")
            return (size, args.count == 2 ? try count(args[1], "stride") : size)
        }

        switch kind.lowercased() {
        case "conv":
            return try convolution(args, input: input)
        case "dense", "linear":
            try expect(1...1, "dense OUTPUTS")
            return try Dense(input: input, outputs: try count(args[0], "outputs"))
        case "relu": try expect(0...0, "relu"); return try ReLU(input: input)
        case "sigmoid": try expect(0...0, "sigmoid"); return try Sigmoid(input: input)
        case "tanh": try expect(0...0, "tanh"); return try Tanh(input: input)
        case "maxpool", "pool":
            let (size, stride) = try window("maxpool")
            return try MaxPool2D(input: input, size: size, stride: stride)
        case "batchnorm":
            try expect(0...0, "batchnorm")
            return try BatchNorm(input: input)
        case "dropout":
            try expect(1...1, "dropout P")
            guard let p = Float(args[0]), p >= 0, p < 1 else { throw ShapeError("dropout P needs 0 ≤ P < 1, got '\(args[0])'") }
            return try Dropout(input: input, probability: p)
        case "avgpool":
            let (size, stride) = try window("avgpool")
            return try AvgPool2D(input: input, size: size, stride: stride)
        case "globalavgpool":
            try expect(0...0, "globalavgpool")
            return try GlobalAvgPool2D(input: input)
        case "flatten":
            try expect(0...0, "flatten")
            return try Reshape(flattening: input)
        case "reshape":
            try expect(0...1, "reshape [AxBx…]")
            if args.isEmpty { return try Reshape(flattening: input) }
            return try Reshape(input: input, output: try dims(args[0], "shape"))
        default:
            throw ShapeError("unknown layer '\(kind)' (conv, dense, relu, sigmoid, tanh, maxpool, avgpool, globalavgpool, batchnorm, dropout, flatten, reshape, residual(…))")
        }
    }
}

extension StringProtocol {
    /// Without leading and trailing white space.
    package func trimmingCharacters() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
