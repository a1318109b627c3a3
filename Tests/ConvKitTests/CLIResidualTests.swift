import Foundation
import Testing
import ConvKit
import ConvKitFiles

/// `convkit train` with residual blocks on an image folder and on CIFAR-format files, the
/// `resnet` preset, and the model files in PyTorch: a strict `load_state_dict` into the module
/// scripts/torch_load_check.py builds, and the same outputs. The PyTorch tests run when a python
/// with torch is found ($CONVKIT_TORCH_PYTHON, else the package's .venv-torch) and are skipped,
/// visibly, when none is.
@Suite(.serialized) struct CLIResidualTests {
    static let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let torchPython: String? = {
        let candidates: [String?] = [ProcessInfo.processInfo.environment["CONVKIT_TORCH_PYTHON"],
                          package.appendingPathComponent(".venv-torch/bin/python").path]
        return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) && imports(torch: $0) }
    }()

    /// Whether `python` runs and imports torch and safetensors.
    static func imports(torch python: String) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", "import torch, safetensors"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    @Test("CONVKIT_TORCH_PYTHON, when set (CI sets it), imports torch, so the PyTorch checks below run",
          .enabled(if: ProcessInfo.processInfo.environment["CONVKIT_TORCH_PYTHON"] != nil))
    func namedPythonWorks() {
        #expect(Self.torchPython == ProcessInfo.processInfo.environment["CONVKIT_TORCH_PYTHON"],
                "CONVKIT_TORCH_PYTHON=\(ProcessInfo.processInfo.environment["CONVKIT_TORCH_PYTHON"]!) cannot import torch and safetensors")
    }

    /// Runs python with `arguments` in the package directory: (status, stdout and stderr).
    static func python(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(torchPython))
        process.arguments = arguments
        process.currentDirectoryURL = package
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    /// Loads `model` into PyTorch strictly and returns the state_dict's keys, one per line.
    static func strictLoad(_ model: String) throws -> (status: Int32, output: String) {
        let script = """
        import sys
        sys.path.insert(0, "scripts")
        from safetensors import safe_open
        from safetensors.torch import load_file
        from torch_load_check import build
        with safe_open(sys.argv[1], "pt") as f:
            meta = f.metadata()
        net = build([int(v) for v in meta["input"].split("x")], meta["layers"])
        net.load_state_dict(load_file(sys.argv[1]))  # strict
        print("\\n".join(net.state_dict().keys()))
        """
        return try python(["-c", script, model])
    }

    static let layers = ResidualTests.issueSpec

    @Test("--layers with residual blocks trains on an image folder")
    func imageFolder() throws { try Self.folderRun(torch: false) }

    @Test("a model with residual blocks from an image folder loads strictly into PyTorch", .enabled(if: torchPython != nil))
    func imageFolderInPyTorch() throws { try Self.folderRun(torch: true) }

    static func folderRun(torch: Bool) throws {
        let dir = TemporaryDirectory()
        _ = DataSetTests.imageFolder(in: dir)
        let model = dir.path + "/m.safetensors"
        let r = try CLITests.run(["train", "--data", dir.path, "--classes", "all", "--per-class", "all", "--test-per-class", "all",
                                  "--layers", Self.layers.replacingOccurrences(of: "dense 10", with: "dense 3"), "--epochs", "2",
                                  "--batch", "4", "--save", model])
        #expect(r.status == 0, "\(r.stderr)")
        let saved = try Model.load(path: model).model
        #expect(saved.info.architecture.layers[3] == "residual(conv 16 3 pad 1, batchnorm, relu, conv 16 3 pad 1, batchnorm)")
        #expect(saved.network.namedParameters.map(\.name).contains("5.shortcut.0.weight"))
        // Two epochs of three steps moved the blocks' running statistics.
        #expect(saved.network.namedState.first { $0.name == "5.shortcut.1.num_batches_tracked" }?.parameter.value.array == [6])
        let summary = try CLITests.run(["summary", "--model", model])
        #expect(summary.status == 0 && summary.stdout.contains("  shortcut.1 BatchNorm2d 32"), "\(summary.stdout)")
        if torch {
            let loaded = try Self.strictLoad(model)
            #expect(loaded.status == 0, "\(loaded.output)")
            let keys = loaded.output.split(separator: "\n").map(String.init)
            #expect(Set(keys) == Set((saved.network.namedParameters + saved.network.namedState).map(\.name)))
        }
    }

    @Test("--layers with residual blocks trains on CIFAR-format files")
    func cifarFiles() throws { try Self.cifarRun(torch: false) }

    @Test("a model with residual blocks from CIFAR files loads strictly into PyTorch and gives the same outputs", .enabled(if: torchPython != nil))
    func cifarFilesInPyTorch() throws { try Self.cifarRun(torch: true) }

    static func cifarRun(torch: Bool) throws {
        let dir = TemporaryDirectory()
        for name in CIFAR.Kind.cifar10.files(.train) + CIFAR.Kind.cifar10.files(.test) {
            dir.write(name, (0..<10).flatMap { DataSetTests.cifarRecord([UInt8($0)], seed: $0 * 3 + name.count) })
        }
        let model = dir.path + "/m.safetensors"
        let r = try CLITests.run(["train", "--data", dir.path, "--classes", "all", "--per-class", "2", "--layers", Self.layers,
                                  "--epochs", "1", "--batch", "8", "--save", model])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Model.load(path: model).model.info.architecture.spec == Self.layers)
        if torch, let convkit = CLITests.executable {
            let check = try Self.python(["scripts/torch_load_check.py", model, "--convkit", convkit, "--data", dir.path, "--images", "4"])
            #expect(check.status == 0, "\(check.output)")
            #expect(check.output.contains("same class in PyTorch and ConvKit"), "\(check.output)")
        }
    }

    @Test("--arch resnet needs --data, trains on CIFAR-format files, and its summary lists the blocks")
    func resnetPreset() throws { try Self.presetRun(torch: false) }

    @Test("an --arch resnet model loads strictly into PyTorch", .enabled(if: torchPython != nil))
    func resnetPresetInPyTorch() throws { try Self.presetRun(torch: true) }

    static func presetRun(torch: Bool) throws {
        let r = try CLITests.run(["train", "--arch", "resnet"])
        CLITests.expectOneLineFailure(r, status: 64, mentioning: "--arch resnet needs --data")
        let summary = try CLITests.run(["summary", "--arch", "resnet"])
        #expect(summary.status == 0, "\(summary.stderr)")
        #expect(summary.stdout.contains("input 3×32×32") && summary.stdout.contains("Residual (projection 1×1 stride 2)"))
        #expect(summary.stdout.contains("  body.0 Conv2D 64@3×3 pad 1 stride 2"), "\(summary.stdout)")

        let dir = TemporaryDirectory()
        for name in CIFAR.Kind.cifar10.files(.train) + CIFAR.Kind.cifar10.files(.test) {
            dir.write(name, (0..<10).flatMap { DataSetTests.cifarRecord([UInt8($0)], seed: $0 * 5 + name.count) })
        }
        let model = dir.path + "/r.safetensors"
        let t = try CLITests.run(["train", "--arch", "resnet", "--data", dir.path, "--per-class", "2", "--epochs", "1", "--save", model, "--json"])
        #expect(t.status == 0, "\(t.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(t.stdout.utf8)) as? [String: Any]
        #expect(json?["layers"] as? String == Recipe.resnetSpec(classes: 10))
        if torch {
            let loaded = try Self.strictLoad(model)
            #expect(loaded.status == 0, "\(loaded.output)")
        }
    }
}

/// Residual blocks under `mpirun -np 2` against one process with `--shares 2`: the same weights
/// and running statistics (inside the blocks too), bit for bit. Needs a build with MPI and
/// mpirun on PATH.
@Suite("Residual blocks on MPI", .serialized)
struct ResidualDataParallelTests {
    @Test("2 ranks end bit-identical to one process with 2 shares", .enabled(if: DataParallelTests.canRun))
    func twoRanksMatchTwoShares() throws {
        let dir = TemporaryDirectory()
        let recipe = ["train", "--layers", "conv 4 3 pad 1, batchnorm, relu, "
                      + "residual(conv 4 3 pad 1, batchnorm, relu, dropout 0.25, conv 4 3 pad 1, batchnorm), relu, "
                      + "residual(conv 8 3 pad 1 stride 2, batchnorm, relu, conv 8 3 pad 1, batchnorm), relu, globalavgpool, flatten, dense 10",
                      "--optimizer", "adam", "--lr", "0.01", "--digits", "all", "--per-class", "10", "--test-per-class", "5",
                      "--epochs", "2", "--batch", "25", "--seed", "3"]
        let ranks = try DataParallelTests.mpirun(2, recipe + ["--save", dir.path + "/ranks.safetensors"])
        #expect(ranks.status == 0, "\(ranks.stderr)")
        let shares = try CLITests.run(recipe + ["--shares", "2", "--save", dir.path + "/shares.safetensors"])
        #expect(shares.status == 0, "\(shares.stderr)")
        func tensors(_ path: String) throws -> [[UInt32]] {
            let network = try Model.load(path: path).model.network
            return (network.parameters + network.state).map { $0.value.array.map(\.bitPattern) }
        }
        #expect(try tensors(dir.path + "/ranks.safetensors") == tensors(dir.path + "/shares.safetensors"))
        let model = try Model.load(path: dir.path + "/shares.safetensors").model
        #expect(model.network.namedState.first { $0.name == "5.shortcut.1.num_batches_tracked" }?.parameter.value.array == [8])
    }
}
