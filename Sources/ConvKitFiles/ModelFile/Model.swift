import ConvKit
import Foundation
/// A network with what it takes to rebuild and use it. Saved as safetensors: the tensors under the
/// names of PyTorch's `nn.Sequential.state_dict()` for the same network, everything else
/// (architecture, loss, classes, input scaling) as text in `__metadata__`.
///
/// `input`, `outputs` and `probabilities` may run at once from any number of threads, as
/// `Sequential`'s inference may; training the network must not overlap them.
public final class Model: Sendable {
    public struct Description: Equatable, Sendable {
        public var architecture: Architecture
        /// Binary cross-entropy (sigmoid outputs) or softmax cross-entropy (logits).
        public var loss: LossKind
        /// The name of the class each output stands for, in order: "0"…"9" for MNIST's digits.
        public var classes: [String]
        public var normalization: InputNormalization

        public init(architecture: Architecture, loss: LossKind, classes: [String], normalization: InputNormalization) {
            self.architecture = architecture
            self.loss = loss
            self.classes = classes
            self.normalization = normalization
        }

        /// Classes named by digits, as MNIST models have them.
        public init(architecture: Architecture, loss: LossKind, digits: [Int], normalization: InputNormalization) {
            self.init(architecture: architecture, loss: loss, classes: digits.map(String.init), normalization: normalization)
        }

        /// The classes as numbers when every name is one (MNIST's digits), else empty; setting
        /// it names the classes by the digits. Kept for code written before `classes`.
        public var digits: [Int] {
            get {
                let numbers = classes.compactMap { Int($0) }
                return numbers.count == classes.count ? numbers : []
            }
            set { classes = newValue.map(String.init) }
        }
    }

    public let info: Description
    public let network: Sequential
    public let loss: any Loss

    public convenience init(_ info: Description) throws(ModelFileError) {
        try self.init(info, file: nil)
    }

    /// The model `info` describes; `file`, where it was read from, names it in errors.
    init(_ info: Description, file: String?) throws(ModelFileError) {
        let network: Sequential
        do { network = try info.architecture.build() } catch { throw .badDescription(file, reason: error.description) }
        guard network.outputShape == [info.classes.count] else {
            throw .badDescription(file, reason: "the network gives \(shapeText(network.outputShape)) outputs for \(info.classes.count) classes")
        }
        let channels = info.normalization.channels
        guard channels == 1 || channels == info.architecture.input.first else {
            throw .badDescription(file, reason: "input_mean/input_std give \(channels) channels, the input \(shapeText(info.architecture.input)) has \(info.architecture.input.first ?? 0)")
        }
        self.info = info
        self.network = network
        self.loss = info.loss.function
    }

    /// One image of 8-bit pixels as the network's input (1, C, H, W), scaled as in training.
    public func input(pixels: [UInt8]) throws(ShapeError) -> Tensor {
        let scaled: [Float]
        do { scaled = try info.normalization.apply(pixels) } catch { throw ShapeError(error.description) }
        return try Tensor(shape: [1] + network.inputShape, scalars: scaled)
    }

    /// The network's outputs for one image: sigmoid outputs or logits, by the loss.
    public func outputs(pixels: [UInt8]) throws(ShapeError) -> [Float] { try network.forward(input(pixels: pixels)).scalars }

    /// Class probabilities for one image.
    public func probabilities(pixels: [UInt8]) throws(ShapeError) -> [Float] { loss.probabilities(try outputs(pixels: pixels)) }

    // MARK: files

    static let format = "convkit-1"

    public var metadata: [String: String] {
        var m = [
            "format": Self.format,
            "input": info.architecture.input.map(String.init).joined(separator: "x"),
            "layers": info.architecture.spec,
            "loss": info.loss.rawValue,
            "classes": Self.classesText(info.classes),
            "input_mean": info.normalization.means.map { "\($0)" }.joined(separator: ","),
            "input_std": info.normalization.stds.map { "\($0)" }.joined(separator: ","),
        ]
        // Digit classes also as `digits`, which is all that readers before `classes` look for.
        let digits = info.digits
        if !digits.isEmpty, digits.allSatisfy({ (0...9).contains($0) }) { m["digits"] = digits.map(String.init).joined(separator: ",") }
        return m
    }

    /// The most classes a model file may name.
    public static let maxClasses = 1 << 16

    /// Class names as a JSON array of strings, since a name may hold a comma.
    static func classesText(_ names: [String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: names, options: [])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The weights, then the layers' state (batch norm's running statistics), and metadata, plus
    /// whatever a checkpoint adds. Batch norm's `num_batches_tracked` is written as I64 of shape [],
    /// as PyTorch keeps it, so a strict `load_state_dict` takes the file as it is.
    public func file(extraTensors: [(name: String, tensor: Tensor)] = [], extraMetadata: [String: String] = [:]) -> SafeTensorsFile {
        let weights = network.namedParameters.map { (name: $0.name, tensor: $0.parameter.tensor) }
        let state = network.namedState.map { (name: $0.name, tensor: $0.parameter.tensor) }
        let counts = network.namedState.filter { $0.parameter.name == "num_batches_tracked" }.map(\.name)
        return SafeTensorsFile(tensors: weights + state + extraTensors, metadata: metadata.merging(extraMetadata) { a, _ in a },
                               integerTensors: Set(counts))
    }

    public func save(to path: String) throws(ModelFileError) {
        try file().write(path: path)
    }

    /// Rebuilds a model from a file: architecture from its metadata, then every weight and every
    /// layer's state, which must be there with the shape the architecture gives it. Tensors named `optimizer.*`
    /// (checkpoints) are left to the caller; any other extra tensor is an error.
    public static func load(path: String) throws -> (model: Model, file: SafeTensorsFile) {
        let file = try SafeTensorsFile.read(path: path)
        return (try Model(file: file, path: path), file)
    }

    /// The model an already decoded file describes; `path` names it in errors.
    public convenience init(file: SafeTensorsFile, path: String) throws(ModelFileError) {
        let model = try Model(try Model.description(from: file.metadata, file: path), file: path)
        let tensors = model.network.namedParameters + model.network.namedState
        let expected = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.parameter) })
        for (name, tensor) in file.tensors where !name.hasPrefix("optimizer.") {
            guard let parameter = expected[name] else {
                throw .unexpectedTensor(path, tensor: name)
            }
            guard tensor.shape == parameter.shape else {
                throw .wrongShape(path, tensor: name, found: tensor.shape, expected: parameter.shape)
            }
            try? parameter.set(tensor)  // shape checked just above
        }
        if let missing = tensors.first(where: { file[$0.name] == nil }) {
            throw .missingTensor(path, tensor: missing.name, shape: missing.parameter.shape)
        }
        self.init(info: model.info, network: model.network, loss: model.loss)
    }

    private init(info: Description, network: Sequential, loss: any Loss) {
        self.info = info
        self.network = network
        self.loss = loss
    }

    static func description(from metadata: [String: String], file: String?) throws(ModelFileError) -> Description {
        func field(_ key: String) throws(ModelFileError) -> String {
            guard let value = metadata[key] else { throw .badDescription(file, reason: "metadata has no '\(key)'") }
            return value
        }
        guard try field("format") == format else { throw .badDescription(file, reason: "format '\(metadata["format"]!)' is not \(format)") }
        let inputText = try field("input")
        let input = inputText.split(separator: "x").compactMap { Int($0) }
        guard !input.isEmpty, input.count == inputText.split(separator: "x").count, input.allSatisfy({ $0 > 0 && $0 <= 4096 }) else {
            throw .badDescription(file, reason: "input shape '\(inputText)' is not like 1x28x28")
        }
        // `digits`: all that files from before `classes` have; newer files write it too when the
        // classes are digits, and then the two must agree.
        var digits: [Int]?
        if let digitsText = metadata["digits"] {
            let parsed = digitsText.split(separator: ",").compactMap { Int($0) }
            guard !parsed.isEmpty, parsed.count == digitsText.split(separator: ",").count, parsed.allSatisfy({ (0...9).contains($0) }),
                  Set(parsed).count == parsed.count else {
                throw .badDescription(file, reason: "digits '\(digitsText)' are not distinct digits 0-9")
            }
            digits = parsed
        }
        let classes: [String]
        if let classesText = metadata["classes"] {
            let parsed = (try? JSONSerialization.jsonObject(with: Data(classesText.utf8), options: [])) as? [Any]
            guard let names = parsed?.compactMap({ $0 as? String }), names.count == parsed?.count, !names.isEmpty,
                  names.count <= maxClasses, !names.contains(where: \.isEmpty), Set(names).count == names.count else {
                throw .badDescription(file, reason: "classes '\(classesText.prefix(80))' are not a JSON array of distinct, non-empty names")
            }
            if let digits, digits.map(String.init) != names {
                throw .badDescription(file, reason: "classes \(classesText.prefix(80)) and digits '\(metadata["digits"]!)' disagree")
            }
            classes = names
        } else if let digits {
            classes = digits.map(String.init)
        } else {
            throw .badDescription(file, reason: "metadata has no 'classes'")
        }
        func numbers(_ key: String) throws(ModelFileError) -> [Float] {
            let text = try field(key)
            let values = text.split(separator: ",", omittingEmptySubsequences: false).map { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard !values.isEmpty, values.count <= 4096, values.allSatisfy({ $0?.isFinite == true }) else {
                throw .badDescription(file, reason: "input_mean/input_std are not numbers with std > 0")
            }
            return values.map { $0! }
        }
        let means = try numbers("input_mean"), stds = try numbers("input_std")
        guard means.count == stds.count, stds.allSatisfy({ $0 > 0 }) else {
            throw .badDescription(file, reason: "input_mean/input_std are not numbers with std > 0")
        }
        let lossText = try field("loss")
        guard let loss = LossKind(rawValue: lossText) else { throw .badDescription(file, reason: "unknown loss '\(lossText)' (bce, softmax-ce)") }
        let normalization: InputNormalization
        do { normalization = try InputNormalization(means: means, stds: stds) } catch { throw .badDescription(file, reason: error.description) }
        return Description(architecture: Architecture(input: input, spec: try field("layers")), loss: loss,
                           classes: classes, normalization: normalization)
    }
}
