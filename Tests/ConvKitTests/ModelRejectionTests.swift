import Testing
@testable import ConvKit
import ConvKitFiles

/// Files that are valid safetensors but not a model of the architecture they describe: each is
/// refused by `Model.load` with one line naming the file, never a trap.
@Suite struct ModelRejectionTests {
    let path = "m.safetensors"

    /// A correct small model file: conv 2@3×3 then dense 2 over 1×6×6 inputs.
    func good() throws -> SafeTensorsFile {
        let model = try Model(.init(architecture: Architecture(input: [1, 6, 6], spec: "conv 2 3, relu, flatten, dense 2"),
                                    loss: .softmaxCrossEntropy, digits: [3, 8], normalization: .unit))
        return model.file()
    }

    func load(_ file: SafeTensorsFile) throws(ModelFileError) -> Model {
        try Model(file: file, path: path)
    }

    /// The error's one line, which must name the file.
    func message(_ file: SafeTensorsFile) -> String {
        do {
            _ = try load(file)
            return "accepted"
        } catch {
            return error.description
        }
    }

    @Test func theGoodFileLoads() throws {
        let model = try load(try good())
        #expect(model.info.digits == [3, 8] && model.network.namedParameters.map(\.name) == ["0.weight", "0.bias", "3.weight", "3.bias"])
    }

    @Test func missingTensor() throws {
        var file = try good()
        file.tensors.removeAll { $0.name == "3.weight" }
        #expect(throws: ModelFileError.self) { try load(file) }
        #expect(message(file) == "m.safetensors: tensor \"3.weight\" 2×32 is missing for this architecture")
    }

    @Test func extraTensor() throws {
        var file = try good()
        file.tensors.append((name: "5.weight", tensor: try Tensor(zeros: [2, 2])))
        #expect(message(file) == "m.safetensors: tensor \"5.weight\" is not part of this architecture")
    }

    @Test func tensorOfAnotherLayerName() throws {
        var file = try good()
        file.tensors[0].name = "conv1.weight"
        #expect(message(file) == "m.safetensors: tensor \"conv1.weight\" is not part of this architecture")
    }

    @Test func wrongShape() throws {
        var file = try good()
        file.tensors[2].tensor = try Tensor(zeros: [2, 31])
        #expect(message(file) == "m.safetensors: tensor \"3.weight\" is 2×31 but the architecture needs 2×32")
    }

    @Test func sameCountOtherShape() throws {
        var file = try good()
        file.tensors[0].tensor = try Tensor(zeros: [2, 9])
        #expect(message(file) == "m.safetensors: tensor \"0.weight\" is 2×9 but the architecture needs 2×1×3×3")
    }

    @Test func noTensorsAtAll() throws {
        var file = try good()
        file.tensors = []
        #expect(message(file).hasPrefix("m.safetensors: tensor \"0.weight\""))
    }

    @Test("metadata that does not describe a model", arguments: [
        ("format", "convkit-9", "format 'convkit-9' is not convkit-1"),
        ("input", "1x0x6", "input shape '1x0x6' is not like 1x28x28"),
        ("input", "4096x4096x4096", "input shape 4096×4096×4096 exceeds"),
        ("digits", "3,3", "digits '3,3' are not distinct digits 0-9"),
        ("digits", "3", #"classes ["3","8"] and digits '3' disagree"#),
        ("classes", #"["3"]"#, "disagree"),
        ("classes", #"["3","3"]"#, "are not a JSON array of distinct, non-empty names"),
        ("classes", #"["3",""]"#, "are not a JSON array of distinct, non-empty names"),
        ("classes", "3,8", "are not a JSON array of distinct, non-empty names"),
        ("input_mean", "0.1,0.2", "input_mean/input_std are not numbers with std > 0"),
        ("input_mean", "0.1,nan", "input_mean/input_std are not numbers with std > 0"),
        ("loss", "mse", "unknown loss 'mse'"),
        ("input_std", "0", "input_mean/input_std are not numbers with std > 0"),
        ("layers", "conv 2 3, relu, flatten, dense 2, warp", "unknown layer 'warp'"),
        ("layers", "conv 2 9, flatten, dense 2", "a 9×9 kernel does not fit a 6×6 input"),
        ("layers", "reshape 1024x1024x1024", "shape 1024×1024×1024 exceeds"),
        ("layers", "reshape 100000x100000x100000", "exceeds"),
    ])
    func badMetadata(_ key: String, _ value: String, _ expected: String) throws {
        var file = try good()
        file.metadata[key] = value
        let text = message(file)
        #expect(text.hasPrefix("m.safetensors: ") && text.contains(expected), "\(text)")
        #expect(!text.contains("\n"))
    }

    @Test("a layer too large to allocate is refused before allocating")
    func hugeLayer() throws {
        var file = try good()
        file.metadata["input"] = "1x4096x4096"
        file.metadata["layers"] = "flatten, dense 8"
        #expect(message(file).contains("layer 1 'dense 8' (input 16777216): weight 8×16777216 exceeds 67108864 values"))
        file.metadata["layers"] = "conv 1048576 3"
        #expect(message(file).contains("conv output 1048576×4094×4094 exceeds"))
    }

    @Test func missingMetadata() throws {
        for key in ["format", "input", "layers", "loss", "input_mean", "input_std"] {
            var file = try good()
            file.metadata[key] = nil
            #expect(message(file) == "m.safetensors: metadata has no '\(key)'")
        }
        // Either names the classes: without both, the file does not say what its outputs are.
        var file = try good()
        file.metadata["digits"] = nil
        #expect(try Model(file: file, path: "m").info.classes == ["3", "8"])
        file.metadata["classes"] = nil
        #expect(message(file) == "m.safetensors: metadata has no 'classes'")
    }
}
