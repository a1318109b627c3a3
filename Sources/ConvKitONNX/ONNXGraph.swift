import ConvKit
import Foundation
import SwiftProtobuf

/// An ONNX graph being built: nodes in order, the constants they read (initializers), and the
/// name of the tensor the last node wrote. Every tensor that flows between layers is
/// (N, shape of one sample…), N the batch, as ConvKit's own buffers are.
struct ONNXGraph {
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []
    /// The tensor the next node reads.
    private(set) var current: String

    init(input: String) { current = input }

    /// A float constant under `name`: little-endian raw bytes, as ONNX stores them.
    @discardableResult
    mutating func constant(_ name: String, shape: [Int], _ values: [Float]) -> String {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dims = shape.map(Int64.init)
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        var bytes = [UInt8]()
        bytes.reserveCapacity(4 * values.count)
        for x in values {
            let bits = x.bitPattern
            for k in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt32(k)))) }
        }
        tensor.rawData = Data(bytes)
        initializers.append(tensor)
        return name
    }

    /// An int64 constant, e.g. a target shape for Reshape.
    @discardableResult
    mutating func constant(_ name: String, shape: [Int], integers values: [Int]) -> String {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dims = shape.map(Int64.init)
        tensor.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        tensor.int64Data = values.map(Int64.init)
        initializers.append(tensor)
        return name
    }

    /// A parameter of a layer as a constant of its own shape, under its `state_dict` name.
    @discardableResult
    mutating func constant(_ name: String, _ parameter: Parameter) -> String {
        constant(name, shape: parameter.shape, parameter.value.array)
    }

    /// Appends `op` reading the current tensor then `extraInputs`; its output, named `name`,
    /// becomes the current tensor.
    mutating func apply(_ op: String, name: String, extraInputs: [String] = [], attributes: [Onnx_AttributeProto] = []) {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = name
        node.input = [current] + extraInputs
        node.output = [name]
        node.attribute = attributes
        nodes.append(node)
        current = name
    }

    /// Names the current tensor `name`, the graph's output: the last node's output is renamed,
    /// or, when no node wrote it (a network without layers and without input scaling), an
    /// Identity copies the input.
    mutating func finish(output name: String) {
        if let last = nodes.indices.last, nodes[last].output == [current] {
            nodes[last].output = [name]
            current = name
        } else {
            apply("Identity", name: name)
        }
    }
}

/// Node attributes, built the way the operator pages of the ONNX spec write them.
enum Attribute {
    static func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .int
        a.i = Int64(value)
        return a
    }

    static func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .ints
        a.ints = values.map(Int64.init)
        return a
    }

    static func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = .float
        a.f = value
        return a
    }
}

extension ONNXGraph {
    /// (x − mean)/std per channel, on inputs already scaled to 0–1: what
    /// `InputNormalization.apply` does to 8-bit pixels after dividing them by 255. Nothing for
    /// `.unit` (mean 0, std 1), which would only add two nodes that change no value.
    mutating func appendNormalization(_ normalization: InputNormalization, sampleShape: [Int]) {
        guard normalization.means.contains(where: { $0 != 0 }) || normalization.stds.contains(where: { $0 != 1 }) else { return }
        // One pair: a scalar for every value. One per channel: (C, 1, 1…), which broadcasts over
        // the batch before it and the planes after it.
        let shape = normalization.channels == 1 ? [] : [normalization.channels] + Array(repeating: 1, count: sampleShape.count - 1)
        let mean = constant("input_mean", shape: shape, normalization.means)
        let std = constant("input_std", shape: shape, normalization.stds)
        apply("Sub", name: "centred", extraInputs: [mean])
        apply("Div", name: "normalized", extraInputs: [std])
    }

    /// The nodes of one layer: `prefix` is its position in the network, which names its tensors
    /// as `Sequential.namedParameters` names its parameters ("3.weight", "4.body.0.weight").
    /// Throws for a layer type ConvKit does not know how to export (a user's own `Layer`);
    /// `index` is the position of the top-level layer it belongs to, for the error.
    mutating func append(_ layer: any Layer, prefix: String, index: Int) throws(ONNXExportError) {
        switch layer {
        case let block as Residual:
            // body(x) + shortcut(x): both branches read the block's input; the shortcut is the
            // input itself unless it projects (1×1 conv and batch norm).
            let input = current
            for (k, inner) in block.body.enumerated() { try append(inner, prefix: "\(prefix).body.\(k)", index: index) }
            let body = current
            current = input
            for (k, inner) in block.shortcut.enumerated() { try append(inner, prefix: "\(prefix).shortcut.\(k)", index: index) }
            let skip = current
            current = body
            apply("Add", name: "\(prefix).add", extraInputs: [skip])
        case let conv as Conv2D:
            let kernel = conv.kernel.shape
            let p = conv.padding, s = conv.stride
            let attributes = [Attribute.ints("kernel_shape", [kernel[2], kernel[3]]), Attribute.ints("pads", [p, p, p, p]),
                              Attribute.ints("strides", [s, s])]
            let weight = constant("\(prefix).weight", conv.kernel)
            switch conv.biasMode {
            case .channel:
                let bias = constant("\(prefix).bias", conv.bias!)
                apply("Conv", name: "\(prefix).conv", extraInputs: [weight, bias], attributes: attributes)
            case .none:
                apply("Conv", name: "\(prefix).conv", extraInputs: [weight], attributes: attributes)
            case .untied:
                // A bias per output position, (O, OH, OW): Conv has no such input, so it is an Add
                // that broadcasts over the batch.
                apply("Conv", name: "\(prefix).conv", extraInputs: [weight], attributes: attributes)
                let bias = constant("\(prefix).bias", conv.bias!)
                apply("Add", name: "\(prefix).untied_bias", extraInputs: [bias])
            }
        case let dense as Dense:
            // y = x·Wᵀ + b with W stored (O, I), as PyTorch's Linear.
            let weight = constant("\(prefix).weight", dense.weight), bias = constant("\(prefix).bias", dense.bias)
            apply("Gemm", name: "\(prefix).dense", extraInputs: [weight, bias], attributes: [Attribute.int("transB", 1)])
        case is ReLU: apply("Relu", name: "\(prefix).relu")
        case is Sigmoid: apply("Sigmoid", name: "\(prefix).sigmoid")
        case is Tanh: apply("Tanh", name: "\(prefix).tanh")
        case let pool as MaxPool2D:
            // No padding, windows that do not fit dropped: ONNX's defaults (floor, pads 0) are ConvKit's.
            apply("MaxPool", name: "\(prefix).maxpool",
                  attributes: [Attribute.ints("kernel_shape", [pool.size, pool.size]), Attribute.ints("strides", [pool.stride, pool.stride])])
        case let pool as AvgPool2D:
            apply("AveragePool", name: "\(prefix).avgpool",
                  attributes: [Attribute.ints("kernel_shape", [pool.size, pool.size]), Attribute.ints("strides", [pool.stride, pool.stride])])
        case is GlobalAvgPool2D:
            apply("GlobalAveragePool", name: "\(prefix).globalavgpool")
        case let norm as BatchNorm:
            // Evaluation form: the running statistics, as `Sequential`'s inference uses them.
            // BatchNormalization takes (N, C, …) and a flat (N, F) input alike.
            let inputs = [constant("\(prefix).weight", norm.weight), constant("\(prefix).bias", norm.bias),
                          constant("\(prefix).running_mean", norm.runningMean), constant("\(prefix).running_var", norm.runningVariance)]
            apply("BatchNormalization", name: "\(prefix).batchnorm", extraInputs: inputs,
                  attributes: [Attribute.float("epsilon", norm.epsilon)])
        case is Dropout:
            // Inference drops nothing and does not rescale (ConvKit's dropout scales in training).
            apply("Identity", name: "\(prefix).dropout")
        case let reshape as Reshape:
            if reshape.outputShape.count == 1 {
                apply("Flatten", name: "\(prefix).flatten", attributes: [Attribute.int("axis", 1)])
            } else {
                // 0 keeps the batch axis as it is (Reshape's default allowzero = 0), even for N = 0.
                let shape = constant("\(prefix).shape", shape: [reshape.outputShape.count + 1], integers: [0] + reshape.outputShape)
                apply("Reshape", name: "\(prefix).reshape", extraInputs: [shape])
            }
        default:
            throw .unsupportedLayer(index: index, layer: layer.description)
        }
    }
}
