import ArgumentParser
import ConvKit
import ConvKitFiles
import ConvKitONNX

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a saved model as an ONNX file (opset 17), for ONNX Runtime and other tools.",
        discussion: "The graph takes `image`, float32 [N, C, H, W] of pixels/255, applies the model's input scaling itself, and gives `outputs`: what `predict --json` reports as outputs. docs/onnx.md has the details.")

    @Option(help: "Model file (safetensors).") var model: String
    @Option(help: "The ONNX file to write (replaced atomically).") var out: String

    func run() throws {
        let loaded = try Model.load(path: model).model
        let onnx = try ONNXModel(loaded)
        try onnx.write(path: out)
        let input = (["N"] + loaded.network.inputShape.map(String.init)).joined(separator: ", ")
        let output = (["N"] + loaded.network.outputShape.map(String.init)).joined(separator: ", ")
        print("wrote \(out): opset \(ONNXModel.opset), \(onnx.operators.count) nodes, image [\(input)] -> outputs [\(output)]")
    }
}
