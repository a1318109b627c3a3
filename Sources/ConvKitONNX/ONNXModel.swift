import ConvKit
import ConvKitFiles
import Foundation
import SwiftProtobuf

/// A network as an ONNX model (opset 17), for ONNX Runtime and other tools. The graph's input
/// `image` is float32 (N, inputShape…), N left symbolic, with pixels scaled to 0–1 (pixel/255);
/// the graph applies the input normalization itself. Its output `outputs` is (N, outputShape…):
/// the network's outputs, what `Model.outputs(pixels:)` and `convkit predict --json` give (sigmoid
/// outputs or logits, by the model's loss). docs/onnx.md lists how each layer maps to operators.
///
///     let onnx = try ONNXModel(model)
///     try onnx.write(path: "lenet.onnx")
public struct ONNXModel: Sendable {
    /// The ONNX operator set the graph uses (the default domain).
    public static let opset = 17
    /// ONNX's IR version 8, the first to know opset 17: the oldest runtimes that run the graph
    /// accept it.
    static let irVersion = 8

    /// The encoded ModelProto, as an .onnx file holds it.
    public let bytes: [UInt8]
    /// The graph's operators in order, e.g. ["Conv", "Relu", "MaxPool", …, "Gemm"].
    public let operators: [String]
    /// What `metadata_props` holds: `convkit_version`, `classes` (a JSON array of names, in the
    /// order of the outputs) and, for a `Model`, `loss`, `layers`, `input`, `input_mean`, `input_std`.
    public let metadata: [String: String]

    /// `network` with `normalization` applied to its input first; `classNames` name the outputs
    /// in order (empty: none recorded). Throws `ONNXExportError` for a layer ConvKit cannot
    /// export (a type of your own), a normalization that does not fit the input, or class names
    /// that do not match the outputs.
    public init(_ network: Sequential, normalization: InputNormalization = .unit, classNames: [String] = []) throws(ONNXExportError) {
        try self.init(network, normalization: normalization, classNames: classNames, extraMetadata: [:])
    }

    /// A saved model: its network, input normalization and classes, and its description
    /// (loss, layers, input shape and scaling) in the metadata.
    public init(_ model: Model) throws(ONNXExportError) {
        var extra = model.metadata
        for key in ["format", "digits", "classes"] { extra[key] = nil }
        try self.init(model.network, normalization: model.info.normalization, classNames: model.info.classes, extraMetadata: extra)
    }

    private init(_ network: Sequential, normalization: InputNormalization, classNames: [String],
                 extraMetadata: [String: String]) throws(ONNXExportError) {
        guard normalization.isValid, normalization.fits(network.inputShape) else {
            throw .badNormalization("\(normalization.channels) means and deviations for an input of \(network.inputShape.map(String.init).joined(separator: "×"))")
        }
        guard classNames.isEmpty || classNames.count == network.outputCount else {
            throw .badClassNames(count: classNames.count, outputs: network.outputCount)
        }
        var graph = ONNXGraph(input: "image")
        graph.appendNormalization(normalization, sampleShape: network.inputShape)
        for (index, layer) in network.layers.enumerated() {
            try graph.append(layer, prefix: "\(index)", index: index)
        }
        graph.finish(output: "outputs")

        var metadata = extraMetadata
        metadata["convkit_version"] = ConvKit.version
        if !classNames.isEmpty {
            let json = (try? JSONSerialization.data(withJSONObject: classNames, options: [])) ?? Data("[]".utf8)
            metadata["classes"] = String(decoding: json, as: UTF8.self)
        }

        var proto = Onnx_GraphProto()
        proto.name = "convkit"
        proto.node = graph.nodes
        proto.initializer = graph.initializers
        proto.input = [Self.tensorInfo("image", shape: network.inputShape,
                                       doc: "float32 pixels scaled to 0-1 (pixel/255), channels first")]
        proto.output = [Self.tensorInfo("outputs", shape: network.outputShape,
                                        doc: "the network's outputs, as `convkit predict --json` reports them")]

        var model = Onnx_ModelProto()
        model.irVersion = Int64(Self.irVersion)
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Int64(Self.opset)
        model.opsetImport = [opset]
        model.producerName = "ConvKit"
        model.producerVersion = ConvKit.version
        model.graph = proto
        // Sorted so that the same network gives the same bytes on every run.
        model.metadataProps = metadata.keys.sorted().map { key in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = metadata[key]!
            return entry
        }
        do {
            bytes = try model.serializedBytes()
        } catch {
            throw .encodingFailed(String(describing: error))
        }
        operators = graph.nodes.map(\.opType)
        self.metadata = metadata
    }

    /// A float32 tensor (N, shape…) with N symbolic.
    private static func tensorInfo(_ name: String, shape: [Int], doc: String) -> Onnx_ValueInfoProto {
        var batch = Onnx_TensorShapeProto.Dimension()
        batch.dimParam = "N"
        var tensorShape = Onnx_TensorShapeProto()
        tensorShape.dim = [batch] + shape.map { size in
            var dim = Onnx_TensorShapeProto.Dimension()
            dim.dimValue = Int64(size)
            return dim
        }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape = tensorShape
        var type = Onnx_TypeProto()
        type.tensorType = tensor
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        info.docString = doc
        return info
    }

    /// Writes the file atomically, as model files are written: a crash or a full disk leaves
    /// the old file or the new one.
    public func write(path: String) throws(ModelFileError) {
        try writeAtomically(bytes, to: path)
    }
}

/// Why a network could not become an ONNX model.
public enum ONNXExportError: Error, CustomStringConvertible, Equatable {
    /// The layer at `index` has no ONNX form here (a `Layer` type of your own).
    case unsupportedLayer(index: Int, layer: String)
    /// Input means and deviations that are not valid, or not one pair or one per channel.
    case badNormalization(String)
    /// As many class names as `count`, for a network with `outputs` outputs.
    case badClassNames(count: Int, outputs: Int)
    /// swift-protobuf could not encode the model (not expected for a graph built here).
    case encodingFailed(String)

    public var description: String {
        switch self {
        case .unsupportedLayer(let index, let layer): "layer \(index) (\(layer)) cannot be exported to ONNX"
        case .badNormalization(let why): "the input normalization cannot be exported: \(why)"
        case .badClassNames(let count, let outputs): "\(count) class names for a network with \(outputs) outputs"
        case .encodingFailed(let why): "the ONNX model could not be encoded: \(why)"
        }
    }
}

extension Sequential {
    /// The network as the bytes of an ONNX file: `ONNXModel(self, normalization:classNames:).bytes`.
    public func onnx(normalization: InputNormalization = .unit, classNames: [String] = []) throws(ONNXExportError) -> [UInt8] {
        try ONNXModel(self, normalization: normalization, classNames: classNames).bytes
    }
}
