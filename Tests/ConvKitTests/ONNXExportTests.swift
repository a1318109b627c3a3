import Foundation
import Testing
import ConvKit
import ConvKitFiles
@testable import ConvKitONNX

/// `convkit export` and `ONNXModel`: what the graph holds, one-line errors, and, where a Python
/// with onnx and onnxruntime is found (`CONVKIT_ONNX_PYTHON`, else `.venv-onnx/bin/python` in the
/// package root; docs/onnx.md), onnx.checker's full check and ONNX Runtime's outputs against
/// `convkit predict --json`'s on the four networks of issue 21.
@Suite struct ONNXExportTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The interpreter named by CONVKIT_ONNX_PYTHON, else the package's .venv-onnx, if it imports
    /// onnx, onnxruntime and numpy.
    static let python: String? = {
        let named = ProcessInfo.processInfo.environment["CONVKIT_ONNX_PYTHON"]
        let path = named ?? packageRoot.appendingPathComponent(".venv-onnx/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: path),
              let r = try? run(path, ["-c", "import onnx, onnxruntime, numpy"]), r.status == 0 else { return nil }
        return path
    }()

    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: Data, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // stderr is read on its own thread: a full pipe would otherwise stall the child.
        nonisolated(unsafe) var errData = Data()
        let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !reader.isFinished { usleep(1000) }
        return (process.terminationStatus, stdout, String(decoding: errData, as: UTF8.self))
    }

    // MARK: the four networks of the issue, with random weights and batch-norm statistics

    struct Case: Sendable {
        var name: String
        var architecture: Architecture
        var loss: LossKind
        var classes: Int
        var normalization: InputNormalization
    }

    static let cases: [Case] = [
        Case(name: "tutorial", architecture: .tutorial(classes: 2), loss: .binaryCrossEntropy, classes: 2, normalization: .unit),
        Case(name: "lenet", architecture: .lenet(classes: 10), loss: .softmaxCrossEntropy, classes: 10, normalization: .mnist),
        // Padding and stride, batch norm on planes and on features, average, max and global
        // pooling, a rectangular kernel without bias, a reshape that keeps three axes, dropout,
        // tanh, and a mean and deviation per colour channel.
        Case(name: "padded", architecture: Architecture(input: [3, 20, 20], spec: """
            conv 6 5 pad 2 stride 2, batchnorm, relu, avgpool 2 1, conv 8 3x5 pad 1 nobias, batchnorm, sigmoid, \
            maxpool 3 2, reshape 8x3x4, globalavgpool, flatten, dropout 0.3, dense 16, batchnorm, tanh, dense 4
            """), loss: .softmaxCrossEntropy, classes: 4,
             normalization: try! InputNormalization(means: [0.49, 0.48, 0.45], stds: [0.25, 0.24, 0.26])),
        Case(name: "fashion", architecture: Recipe.fashion.architecture(10), loss: .softmaxCrossEntropy, classes: 10,
             normalization: try! InputNormalization(mean: 0.286, std: 0.353)),
        // Residual blocks: an identity shortcut, and a projection (stride 2, more channels).
        Case(name: "resnet", architecture: Architecture(input: [3, 16, 16], spec: """
            conv 8 3 pad 1, batchnorm, relu, residual(conv 8 3 pad 1, batchnorm, relu, conv 8 3 pad 1, batchnorm), relu,             residual(conv 16 3 pad 1 stride 2, batchnorm, relu, conv 16 3 pad 1, batchnorm), relu, globalavgpool, flatten, dense 5
            """), loss: .softmaxCrossEntropy, classes: 5,
             normalization: try! InputNormalization(means: [0.5, 0.45, 0.4], stds: [0.25, 0.25, 0.27])),
    ]

    /// A model of `c` with seeded PyTorch-style weights and batch norm's γ, β and running
    /// statistics away from their start, so that a wrong mapping of any of them shows.
    static func model(_ c: Case, seed: UInt64 = 21) throws -> Model {
        let model = try Model(.init(architecture: c.architecture, loss: c.loss, classes: (0..<c.classes).map { "class \($0)" },
                                    normalization: c.normalization))
        var generator = SeededGenerator(seed: seed)
        model.network.initialize(.pytorch, generator: &generator)
        let layers = model.network.layers.flatMap { ($0 as? Residual).map { $0.body + $0.shortcut } ?? [$0] }
        for case let norm as BatchNorm in layers {
            func random(_ range: ClosedRange<Float>) throws -> Tensor {
                try Tensor(shape: [norm.channels], scalars: (0..<norm.channels).map { _ in Float.random(in: range, using: &generator) })
            }
            try norm.weight.set(try random(0.5...1.5))
            try norm.bias.set(try random(-0.3...0.3))
            try norm.runningMean.set(try random(-0.5...0.5))
            try norm.runningVariance.set(try random(0.2...2))
        }
        return model
    }

    /// `count` images of random pixels for `model`, seeded.
    static func images(for model: Model, count: Int, seed: UInt64 = 5) -> [[UInt8]] {
        var generator = SeededGenerator(seed: seed)
        let size = model.network.inputCount
        return (0..<count).map { _ in (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) } }
    }

    /// A PGM (grey) or PPM (colour) of planar pixels (C, H, W), as `convkit predict --image` reads it.
    static func netpbm(_ pixels: [UInt8], shape: [Int]) -> [UInt8] {
        let (c, h, w) = (shape[0], shape[1], shape[2])
        var body: [UInt8] = []
        for i in 0..<(h * w) { for k in 0..<c { body.append(pixels[k * h * w + i]) } }
        return Array("\(c == 1 ? "P5" : "P6")\n\(w) \(h)\n255\n".utf8) + body
    }

    // MARK: without Python

    @Test("the tutorial net is Conv, Add (its untied bias), Sigmoid, Flatten, Gemm…; metadata; same bytes each time")
    func tutorialGraph() throws {
        let model = try Self.model(Self.cases[0])
        let onnx = try ONNXModel(model)
        #expect(onnx.operators == ["Conv", "Add", "Sigmoid", "Flatten", "Gemm", "Sigmoid", "Gemm", "Sigmoid"])
        #expect(onnx.metadata["convkit_version"] == ConvKit.version)
        #expect(onnx.metadata["classes"] == #"["class 0","class 1"]"#)
        #expect(onnx.metadata["loss"] == "bce")
        #expect(onnx.metadata["layers"] == model.info.architecture.spec)
        #expect(try ONNXModel(model).bytes == onnx.bytes)

        let proto = try Onnx_ModelProto(serializedBytes: onnx.bytes)
        #expect(proto.opsetImport.map(\.version) == [17])
        let graph = proto.graph
        #expect(graph.input.map(\.name) == ["image"] && graph.output.map(\.name) == ["outputs"])
        let dims = graph.input[0].type.tensorType.shape.dim
        #expect(dims.first?.dimParam == "N" && dims.dropFirst().map(\.dimValue) == [1, 28, 28])
        #expect(graph.node.last?.output == ["outputs"])
        // The untied bias is one value per output position, (O, OH, OW).
        #expect(graph.initializer.first { $0.name == "0.bias" }?.dims == [5, 26, 26])
    }

    @Test("per-channel scaling is Sub and Div of (C, 1, 1) constants; no scaling, no nodes")
    func normalizationNodes() throws {
        let network = try Architecture(input: [3, 8, 8], spec: "conv 2 3, relu, flatten, dense 3").build()
        let scaled = try ONNXModel(network, normalization: InputNormalization(means: [0.1, 0.2, 0.3], stds: [0.5, 0.6, 0.7]))
        #expect(scaled.operators.prefix(2) == ["Sub", "Div"])
        let proto = try Onnx_ModelProto(serializedBytes: scaled.bytes)
        #expect(proto.graph.initializer.first { $0.name == "input_std" }?.dims == [3, 1, 1])
        #expect(try ONNXModel(network).operators.first == "Conv")
        #expect(try network.onnx() == ONNXModel(network).bytes)
    }

    @Test("a layer of the user's own cannot be exported: a typed error naming its position")
    func customLayerIsRefused() throws {
        let flatten = try Reshape(flattening: [2, 3])
        let network = try Sequential(inputShape: [2, 3], layers: [flatten, try Scale(features: 6)])
        #expect(throws: ONNXExportError.unsupportedLayer(index: 1, layer: network.layers[1].description)) { try ONNXModel(network) }
    }

    @Test("scaling that does not fit the input and class names that do not fit the outputs are typed errors")
    func badArguments() throws {
        let network = try Architecture(input: [3, 8, 8], spec: "flatten, dense 3").build()
        #expect(throws: ONNXExportError.self) {
            try ONNXModel(network, normalization: InputNormalization(means: [0, 0], stds: [1, 1]))
        }
        #expect(throws: ONNXExportError.badClassNames(count: 2, outputs: 3)) { try ONNXModel(network, classNames: ["a", "b"]) }
        // A network without layers is the identity; its graph still has an `outputs`.
        let empty = try ONNXModel(Sequential(inputShape: [4], layers: []))
        #expect(empty.operators == ["Identity"])
    }

    @Test("convkit export: a file that is not a model, a missing file and an unwritable path are one line each")
    func cliErrors() throws {
        let dir = TemporaryDirectory()
        let model = try Self.model(Self.cases[0])
        let modelPath = dir.path + "/m.safetensors"
        try model.save(to: modelPath)
        let garbage = dir.write("garbage.safetensors", Array("not a model".utf8))

        CLITests.expectOneLineFailure(try CLITests.run(["export", "--model", garbage, "--out", dir.path + "/g.onnx"]), status: 1)
        CLITests.expectOneLineFailure(try CLITests.run(["export", "--model", dir.path + "/none.safetensors", "--out", dir.path + "/n.onnx"]),
                                      status: 1, mentioning: "none.safetensors")
        CLITests.expectOneLineFailure(try CLITests.run(["export", "--model", modelPath, "--out", dir.path + "/no/such/dir/m.onnx"]),
                                      status: 1, mentioning: "m.onnx")
        CLITests.expectOneLineFailure(try CLITests.run(["export", "--model", modelPath]), status: 64, mentioning: "--out")
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/g.onnx"))

        // Over an existing file: replaced whole, no temporary file left beside it.
        let out = dir.write("m.onnx", Array("old".utf8))
        let r = try CLITests.run(["export", "--model", modelPath, "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("opset 17") && r.stdout.contains("[N, 1, 28, 28]"))
        #expect(dir.contents("m.onnx") == (try ONNXModel(model)).bytes)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["garbage.safetensors", "m.onnx", "m.safetensors"])
    }

    // MARK: with onnx and onnxruntime

    @Test("CONVKIT_ONNX_PYTHON, when set (CI sets it), imports onnx, onnxruntime and numpy, so the tests below run",
          .enabled(if: ProcessInfo.processInfo.environment["CONVKIT_ONNX_PYTHON"] != nil))
    func namedPythonWorks() throws {
        #expect(Self.python != nil, "CONVKIT_ONNX_PYTHON=\(ProcessInfo.processInfo.environment["CONVKIT_ONNX_PYTHON"]!) cannot import onnx, onnxruntime and numpy")
    }

    @Test("onnx.checker passes and ONNX Runtime gives convkit predict's outputs to 1e-5", .enabled(if: python != nil),
          arguments: cases.map(\.name))
    func runtimeMatchesPredict(_ name: String) throws {
        let c = Self.cases.first { $0.name == name }!
        let dir = TemporaryDirectory()
        let modelPath = dir.path + "/\(name).safetensors"
        try Self.model(c).save(to: modelPath)
        try Self.expectRuntimeMatchesPredict(modelPath: modelPath, name: name, in: dir)
    }

    @Test("a model that convkit train made (fashion recipe: measured scaling, trained batch norm) runs the same in ONNX Runtime",
          .enabled(if: python != nil))
    func trainedModelMatches() throws {
        let dir = TemporaryDirectory()
        let modelPath = dir.path + "/trained.safetensors"
        // The fashion recipe on the bundled MNIST (the same image and label format): the test needs
        // the recipe's layers and their trained statistics, not Fashion-MNIST, which a fresh
        // machine does not have.
        let train = try CLITests.run(["train", "--arch", "fashion", "--data", try MNIST.bundledDirectory(), "--epochs", "1",
                                      "--per-class", "6", "--test-per-class", "1", "--batch", "16", "--save", modelPath])
        try #require(train.status == 0, "\(train.stderr)")
        try Self.expectRuntimeMatchesPredict(modelPath: modelPath, name: "trained fashion", in: dir)
    }

    /// Exports `modelPath` with `convkit export`, then compares ONNX Runtime's outputs on six
    /// random images with the library's, which `convkit predict --json` prints (checked on the
    /// first image through the CLI itself).
    static func expectRuntimeMatchesPredict(modelPath: String, name: String, in dir: TemporaryDirectory,
                                            sourceLocation: SourceLocation = #_sourceLocation) throws {
        let model = try Model.load(path: modelPath).model
        let onnxPath = modelPath + ".onnx"
        let export = try CLITests.run(["export", "--model", modelPath, "--out", onnxPath])
        try #require(export.status == 0, "\(export.stderr)", sourceLocation: sourceLocation)

        let images = Self.images(for: model, count: 6)
        let expected = try images.map { try model.outputs(pixels: $0) }
        let input = model.info.architecture.input
        let image = dir.write("first.\(input[0] == 1 ? "pgm" : "ppm")", Self.netpbm(images[0], shape: input))
        let predict = try CLITests.run(["predict", "--model", modelPath, "--image", image, "--json"])
        try #require(predict.status == 0, "\(predict.stderr)", sourceLocation: sourceLocation)
        let printed = try JSONSerialization.jsonObject(with: Data(predict.stdout.utf8)) as? [String: Any]
        let printedOutputs = try #require(printed?["outputs"] as? [NSNumber], sourceLocation: sourceLocation).map(\.floatValue)
        #expect(printedOutputs == expected[0], sourceLocation: sourceLocation)

        // ONNX Runtime gets pixel/255, as docs/onnx.md tells users to feed it.
        var floats: [UInt8] = []
        for x in images.joined() {
            let bits = (Float(x) / 255).bitPattern
            for k in 0..<4 { floats.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt32(k)))) }
        }
        let inputPath = dir.write("images.f32", floats)
        let script = Self.packageRoot.appendingPathComponent("scripts/onnx_check.py").path
        let r = try Self.run(Self.python!, [script, onnxPath, inputPath])
        try #require(r.status == 0, "onnx_check.py: \(r.stderr)", sourceLocation: sourceLocation)
        let report = try #require(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], sourceLocation: sourceLocation)
        let rows = try #require(report["outputs"] as? [[NSNumber]], sourceLocation: sourceLocation).map { $0.map(\.floatValue) }
        #expect(report["opset"] as? [Int] == [17], sourceLocation: sourceLocation)
        let metadata = report["metadata"] as? [String: String]
        #expect(metadata?["convkit_version"] == ConvKit.version, sourceLocation: sourceLocation)
        #expect(metadata?["classes"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String] } == model.info.classes,
                sourceLocation: sourceLocation)
        #expect((report["output"] as? [String: Any])?["name"] as? String == "outputs", sourceLocation: sourceLocation)
        try #require(rows.count == expected.count && zip(rows, expected).allSatisfy { $0.count == $1.count }, sourceLocation: sourceLocation)

        // Relative error on the scale of each image's outputs, |ort − convkit| / max_k |convkit_k|:
        // the two sum in different orders, and a value near zero that comes from cancelling
        // terms of the row's size carries the row's rounding, not its own (measured: 1e-7
        // absolute on outputs of 0.3, 2e-5 relative on one of 1.5e-4). The per-value relative
        // error is printed too.
        var worst: Float = 0, worstPerValue: Float = 0
        for (row, want) in zip(rows, expected) {
            let scale = want.map(abs).max()!
            for (a, b) in zip(row, want) {
                worst = max(worst, abs(a - b) / scale)
                worstPerValue = max(worstPerValue, abs(a - b) / abs(b))
            }
        }
        print("ONNX \(name): max relative error \(worst) of the outputs' scale, \(worstPerValue) per value, over \(expected.count)×\(expected[0].count) outputs")
        #expect(worst <= 1e-5, "\(name): max relative error \(worst)", sourceLocation: sourceLocation)
    }
}
