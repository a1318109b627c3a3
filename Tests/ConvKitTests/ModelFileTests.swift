import Foundation
import Testing
@testable import ConvKit
import ConvKitFiles

@Suite("Model files")
struct ModelFileTests {
    static func trainedModel(_ architecture: Architecture, loss: LossKind, digits: [Int]) throws -> Model {
        let model = try Model(.init(architecture: architecture, loss: loss, digits: digits, normalization: .mnist))
        var rng = SeededGenerator(seed: 5)
        model.network.initialize(.auto, generator: &rng)
        return model
    }

    @Test("save, load, identical predictions; names and metadata as PyTorch expects", arguments: ["tutorial", "lenet"])
    func roundTrip(preset: String) throws {
        let digits = preset == "tutorial" ? [0, 1] : Array(0...9)
        let model = try Self.trainedModel(preset == "tutorial" ? .tutorial(classes: 2) : .lenet(classes: 10),
                                          loss: preset == "tutorial" ? .binaryCrossEntropy : .softmaxCrossEntropy, digits: digits)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("convkit-\(preset)-\(UUID()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try model.save(to: path)

        let (loaded, file) = try Model.load(path: path)
        #expect(loaded.info == model.info)
        #expect(file.tensors.map(\.name) == model.network.namedParameters.map(\.name))
        if preset == "tutorial" {
            #expect(file.tensors.map(\.tensor.shape) == [[5, 1, 3, 3], [5, 26, 26], [100, 3380], [100], [2, 100], [2]])
        }
        var rng = SeededGenerator(seed: 6)
        for _ in 0..<5 {
            let pixels = (0..<784).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            #expect(try loaded.probabilities(pixels: pixels) == model.probabilities(pixels: pixels))
        }
    }

    @Test("a file missing a tensor, with an extra one, or a wrong shape is refused with its name")
    func mismatches() throws {
        let model = try Self.trainedModel(.lenet(classes: 10), loss: .softmaxCrossEntropy, digits: Array(0...9))
        let dir = FileManager.default.temporaryDirectory.path
        func attempt(_ edit: (inout SafeTensorsFile) throws -> Void) throws -> String {
            var file = model.file()
            try edit(&file)
            let path = "\(dir)/convkit-mismatch-\(UUID()).safetensors"
            defer { try? FileManager.default.removeItem(atPath: path) }
            try file.write(path: path)
            do { _ = try Model.load(path: path); return "" } catch { return "\(error)" }
        }
        #expect(try attempt { $0.tensors.removeLast() }.contains("\"7.bias\" 10 is missing"))
        #expect(try attempt { $0.tensors.append((name: "9.weight", tensor: try Tensor(zeros: [1]))) }.contains("\"9.weight\" is not part"))
        #expect(try attempt { $0.tensors[0].tensor = try Tensor(zeros: [8, 1, 3, 3]) }.contains("8×1×3×3 but the architecture needs 8×1×5×5"))
        #expect(try attempt { $0.metadata["layers"] = "conv 8 5, dense 10" }.contains("layer 1 'dense 10'"))
    }
}
