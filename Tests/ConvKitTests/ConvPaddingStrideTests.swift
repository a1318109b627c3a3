import Foundation
import Testing
@testable import ConvKit
import ConvKitFiles
import ConvKitBenchmark

/// Conv2D with zero padding and stride: against PyTorch, against finite differences, and its
/// spec line.
@Suite("Conv2D with padding and stride")
struct ConvPaddingStrideTests {
    static func fixture() throws -> [[String: Any]] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/conv_padding_stride.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        return json["cases"] as! [[String: Any]]
    }

    /// |actual − expected| ≤ 1e-5 · the largest |expected| of the tensor, element by element.
    static func expectMatches(_ actual: [Float], _ expected: [Double], _ what: String,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(actual.count == expected.count, "\(what): \(actual.count) values, PyTorch has \(expected.count)", sourceLocation: sourceLocation)
        let scale = expected.map(abs).max() ?? 0
        let worst = zip(actual, expected).map { abs(Double($0) - $1) }.max() ?? 0
        #expect(worst <= 1e-5 * scale, "\(what): max difference \(worst) against a largest value \(scale)", sourceLocation: sourceLocation)
    }

    @Test("forward and the three gradients match PyTorch's conv2d(padding, stride)", arguments: Kernels.Variant.allCases)
    func againstPyTorch(variant: Kernels.Variant) throws {
        let cases = try Self.fixture()
        #expect(cases.count >= 7)
        for c in cases {
            let shape = c["shape"] as! [Int], padding = c["padding"] as! Int, stride = c["stride"] as! Int
            let (N, C, H, W, O, KH, KW) = (shape[0], shape[1], shape[2], shape[3], shape[4], shape[5], shape[6])
            let bias: Conv2D.Bias = switch c["bias"] as! String { case "untied": .untied; case "none": .none; default: .channel }
            let layer = try Conv2D(input: [C, H, W], filters: O, kernelHeight: KH, kernelWidth: KW, padding: padding, stride: stride, bias: bias)
            let what = "\(layer) on \(shape) \(variant)"
            layer.kernel.value.copy(from: NetworkTests.pattern(layer.kernel.count, 2))
            if let b = layer.bias { b.value.copy(from: NetworkTests.pattern(b.count, 3)) }
            let x = NetworkTests.pattern(N * C * H * W, 1)
            let g = NetworkTests.pattern(N * layer.outputCount, 4)
            var y = [Float](repeating: .nan, count: g.count), dx = [Float](repeating: .nan, count: x.count)
            layer.reserve(batch: N)
            layer.forward(x, &y, batch: N, pass: Pass(variant: variant, training: true))
            layer.backward(x, y, g, &dx, batch: N, pass: Pass(variant: variant))
            Self.expectMatches(y, c["output"] as! [Double], "output \(what)")
            Self.expectMatches(dx, c["input_gradient"] as! [Double], "input gradient \(what)")
            Self.expectMatches(layer.kernel.gradient.array, c["kernel_gradient"] as! [Double], "kernel gradient \(what)")
            Self.expectMatches(layer.bias?.gradient.array ?? [], c["bias_gradient"] as! [Double], "bias gradient \(what)")
        }
    }

    @Test("the layer's gradients against finite differences")
    func finiteDifferences() throws {
        LayerGradientTests.check(try Conv2D(input: [2, 7, 8], filters: 3, kernelHeight: 3, kernelWidth: 3, padding: 1, stride: 2, bias: .channel), batch: 2, seed: 11)
        LayerGradientTests.check(try Conv2D(input: [2, 6, 7], filters: 3, kernelHeight: 3, kernelWidth: 2, padding: 1, bias: .untied), batch: 2, seed: 12)
        LayerGradientTests.check(try Conv2D(input: [1, 9, 10], filters: 10, kernelHeight: 5, kernelWidth: 4, padding: 2, stride: 3, bias: .untied), batch: 2, seed: 13)
        LayerGradientTests.check(try Conv2D(input: [3, 8, 9], filters: 2, kernelHeight: 3, kernelWidth: 3, stride: 2, bias: .none), batch: 1, seed: 14)
    }

    @Test("spec: pad, pad same and stride in any order, with the bias word")
    func spec() throws {
        let a = try Architecture.layer("conv 32 3 pad 1 stride 2", input: [3, 28, 28]) as! Conv2D
        #expect(a.outputShape == [32, 14, 14] && a.padding == 1 && a.stride == 2 && a.biasMode == .channel)
        #expect(a.spec == "conv 32 3 pad 1 stride 2")
        #expect(a.description == "Conv2D 32@3×3 pad 1 stride 2")
        let b = try Architecture.layer("conv 32 3 stride 2 pad 1", input: [3, 28, 28]) as! Conv2D
        #expect(b.spec == a.spec && b.outputShape == a.outputShape)

        let same = try Architecture.layer("conv 8 5 untied pad same", input: [1, 28, 28]) as! Conv2D
        #expect(same.outputShape == [8, 28, 28] && same.padding == 2 && same.biasMode == .untied)
        #expect(same.bias?.shape == [8, 28, 28])
        #expect(same.spec == "conv 8 5 pad 2 untied")

        let odd = try Architecture.layer("conv 4 5x3 nobias stride 3 pad 2", input: [2, 11, 10]) as! Conv2D
        #expect(odd.outputShape == [4, (11 + 4 - 5) / 3 + 1, (10 + 4 - 3) / 3 + 1] && odd.bias == nil)
        #expect(odd.spec == "conv 4 5x3 pad 2 stride 3 nobias")

        let plain = try Architecture.layer("conv 8 5", input: [1, 28, 28]) as! Conv2D
        #expect(plain.spec == "conv 8 5" && plain.padding == 0 && plain.stride == 1 && plain.outputShape == [8, 24, 24])
        #expect(try Architecture.layer("conv 8 3 pad 0 stride 1", input: [1, 28, 28]).spec == "conv 8 3")
        // PyTorch's floor: 28 + 2 − 3 = 27 rows, stride 2 → 14 positions (the last padded row unused).
        #expect(try Architecture.layer("conv 1 3 pad 1 stride 2", input: [1, 28, 28]).outputShape == [1, 14, 14])
    }

    @Test("spec: a built network's layer specs rebuild the same layers")
    func roundTrip() throws {
        let arch = Architecture(input: [3, 32, 32], spec: "conv 16 3 pad same, relu, conv 32 3 stride 2 pad 1 untied, relu, conv 8 4 nobias stride 3, flatten, dense 10")
        let net = try arch.build()
        let again = try Architecture(input: arch.input, layers: net.layers.map(\.spec)).build()
        #expect(again.layers.map(\.spec) == net.layers.map(\.spec))
        #expect(again.layers.map(\.outputShape) == net.layers.map(\.outputShape))
        #expect(again.parameters.map(\.shape) == net.parameters.map(\.shape))
        #expect(net.layers.map(\.spec)[0] == "conv 16 3 pad 1")
        #expect(net.layers.map(\.spec)[2] == "conv 32 3 pad 1 stride 2 untied")
        #expect(net.layers[4].outputShape == [8, 5, 5])  // (16 − 4)/3 + 1
    }

    @Test("a saved model with padded and strided layers loads as the same network")
    func modelFile() throws {
        let arch = Architecture(spec: "conv 8 3 pad same, relu, conv 16 3 stride 2 untied pad 1, relu, conv 4 5 nobias stride 3 pad 2, flatten, dense 10")
        let model = try ModelFileTests.trainedModel(arch, loss: .softmaxCrossEntropy, digits: Array(0...9))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("convkit-padded-\(UUID()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.save(to: path)
        let (loaded, file) = try Model.load(path: path)
        #expect(loaded.info == model.info)
        #expect(loaded.network.layers.map(\.spec) == model.network.layers.map(\.spec))
        #expect(model.network.layers.map(\.spec).prefix(5) == ["conv 8 3 pad 1", "relu", "conv 16 3 pad 1 stride 2 untied", "relu", "conv 4 5 pad 2 stride 3 nobias"])
        #expect(file.tensors.map(\.tensor.shape) == [[8, 1, 3, 3], [8], [16, 8, 3, 3], [16, 14, 14], [4, 16, 5, 5], [10, 100], [10]])
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<3 {
            let pixels = (0..<784).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            #expect(try loaded.probabilities(pixels: pixels) == model.probabilities(pixels: pixels))
        }
    }

    @Test("convkit bench has padded and strided conv rows, and their SIMD and scalar results agree")
    func benchmarkRows() {
        let shapes = KernelBenchmark.convShapes.filter { $0.padding != 0 || $0.stride != 1 }
        #expect(shapes.map(\.description) == ["64x8x28x28->16,3x3p1", "64x8x28x28->16,3x3p1s2", "64x1x28x28->32,3x3p1", "64x32x14x14->40,3x3p1"])
        for s in shapes {
            for bench in [KernelBenchmark.convForward(s), KernelBenchmark.convBackwardKernel(s), KernelBenchmark.convBackwardInput(s)] {
                let (ok, difference) = KernelBenchmark.check(bench)
                #expect(ok, "\(bench.kernel) \(bench.shape): SIMD and scalar differ by \(difference)")
            }
        }
    }

    @Test("spec errors are one clear line", arguments: [
        ("conv 8 4 pad same", "odd kernel"), ("conv 8 3 pad same stride 2", "stride 1"), ("conv 8 5x3 pad same", "square"),
        ("conv 8 3 pad 3", "less than the kernel"), ("conv 8 3 pad -1", "padding"), ("conv 8 3 pad x", "padding"),
        ("conv 8 3 stride 0", "stride"), ("conv 8 3 stride", "needs a value"), ("conv 8 3 pad 1 pad 1", "twice"),
        ("conv 8 3 stride 2 stride 2", "twice"), ("conv 8 3 untied nobias", "untied"), ("conv 8 3 frob", "does not know 'frob'"),
        ("conv 8 31 pad 1", "does not fit"), ("conv 8 3 stride 99999", "stride"), ("conv 8 3 pad 99999999999999999999", "padding"),
        ("conv 8", "usage"), ("conv 0 3", "filters"),
    ])
    func specErrors(line: String, message: String) {
        do {
            _ = try Architecture(input: [1, 28, 28], spec: line).build()
            Issue.record("'\(line)' built")
        } catch {
            #expect(error.description.contains(message), "'\(line)': \(error.description)")
            #expect(!error.description.contains("\n"))
        }
    }

    @Test("Conv2D.init rejects padding as large as the kernel, a zero stride and a kernel larger than the padded input")
    func initErrors() {
        #expect(throws: ShapeError.self) { try Conv2D(input: [1, 8, 8], filters: 2, kernelHeight: 3, kernelWidth: 3, padding: 3) }
        #expect(throws: ShapeError.self) { try Conv2D(input: [1, 8, 8], filters: 2, kernelHeight: 3, kernelWidth: 2, padding: 2) }
        #expect(throws: ShapeError.self) { try Conv2D(input: [1, 8, 8], filters: 2, kernelHeight: 3, kernelWidth: 3, stride: 0) }
        #expect(throws: ShapeError.self) { try Conv2D(input: [1, 8, 8], filters: 2, kernelHeight: 11, kernelWidth: 3, padding: 1) }
        #expect(throws: Never.self) { try Conv2D(input: [1, 8, 8], filters: 2, kernelHeight: 10, kernelWidth: 3, padding: 1) }
    }
}
