import Foundation
import Testing
import ConvKit
import ConvKitFiles

/// The built `convkit` executable, run as a user would: bad options and bad files give exactly
/// one line on stderr and a non-zero exit, never a crash; checkpoints survive SIGKILL; resume
/// and thread counts do not change the result.
@Suite(.serialized) struct CLITests {
    /// `convkit` next to the test bundle (`swift test` builds every product into the same
    /// directory), else in any `.build*/debug` of this package.
    static let executable: String? = {
        let fm = FileManager.default
        var candidates: [String] = []
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
            // macOS-style bundles nest the binary in Contents/MacOS.
            for _ in 0..<4 {
                candidates.append(dir.appendingPathComponent("convkit").path)
                dir = dir.deletingLastPathComponent()
            }
        }
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for entry in (try? fm.contentsOfDirectory(atPath: package.path)) ?? [] where entry.hasPrefix(".build") {
            candidates.append(package.appendingPathComponent("\(entry)/debug/convkit").path)
        }
        return candidates.first { fm.isExecutableFile(atPath: $0) }
    }()

    struct Result {
        var status: Int32
        var signaled: Bool
        var stdout: String
        var stderr: String
        var lines: [Substring] { stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast(stderr.hasSuffix("\n") ? 1 : 0).map { $0 } }
    }

    static func run(_ arguments: [String]) throws -> Result {
        let process = try start(arguments)
        let out = process.standardOutput as! Pipe, err = process.standardError as! Pipe
        let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
                      stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    static func start(_ arguments: [String], output: Bool = true) throws -> Process {
        let executable = try #require(Self.executable, "convkit is not built; run `swift build` first")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OMP_NUM_THREADS"] = "2"
        // Under `swift test --sanitize=address` the executable is instrumented too, and LeakSanitizer
        // reports ArgumentParser's parse tables still allocated at exit(): noise that would turn
        // every one-line error into many lines and exit 1. Real leaks inside a run are not the issue here.
        environment["ASAN_OPTIONS"] = (environment["ASAN_OPTIONS"].map { $0 + ":" } ?? "") + "detect_leaks=0"
        process.environment = environment
        if output {
            process.standardOutput = Pipe()
            process.standardError = Pipe()
        } else {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        return process
    }

    /// A failure as the CLI promises it: non-zero status, no signal, exactly one line on stderr.
    static func expectOneLineFailure(_ r: Result, status: Int32? = nil, mentioning: String? = nil,
                                     sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!r.signaled, "crashed: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.status != 0, sourceLocation: sourceLocation)
        if let status { #expect(r.status == status, "status \(r.status): \(r.stderr)", sourceLocation: sourceLocation) }
        #expect(r.lines.count == 1 && r.stderr.hasPrefix("Error: "), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        if let mentioning { #expect(r.stderr.contains(mentioning), "stderr: \(r.stderr)", sourceLocation: sourceLocation) }
    }

    /// A tiny MNIST-format directory: digits 0 and 1 (and a few 2s), 28×28, 24 per digit to
    /// train and 6 to test, so every run here takes a fraction of a second.
    static func tinyData(in dir: TemporaryDirectory) -> String {
        var g = SeededGenerator(seed: 2024)
        func split(_ prefix: String, _ perDigit: Int) {
            var labels: [UInt8] = [], pixels: [UInt8] = []
            for i in 0..<(3 * perDigit) {
                let digit = UInt8(i % 3)
                labels.append(digit)
                for r in 0..<28 {
                    for c in 0..<28 {
                        let ink = (digit == 0 && (r == 7 || r == 20) && (8...20).contains(c))
                            || (digit == 1 && c == 14 && (5...22).contains(r)) || (digit == 2 && r == c)
                        pixels.append(ink ? 255 : UInt8(g.next() % 64))
                    }
                }
            }
            dir.write("\(prefix)-images-idx3-ubyte", idxFile(magic: 0x803, dims: [UInt32(labels.count), 28, 28], body: pixels))
            dir.write("\(prefix)-labels-idx1-ubyte", idxFile(magic: 0x801, dims: [UInt32(labels.count)], body: labels))
        }
        split("train", 24)
        split("t10k", 6)
        return dir.path
    }

    /// Train options for the small runs below.
    static func small(_ data: String, _ extra: [String]) -> [String] {
        ["train", "--data", data, "--per-class", "20", "--test-per-class", "4"] + extra
    }

    static let lenet = ["--arch", "lenet", "--digits", "0,1", "--batch", "8"]

    // MARK: options

    @Test("nonsense options", arguments: [
        ["--lr", "0"], ["--lr", "-1"], ["--lr", "nan"], ["--lr=-1"], ["--batch", "0"], ["--epochs", "-1"], ["--epochs=-1"],
        ["--digits", "12"], ["--digits", "1,1"], ["--digits", ""], ["--threads", "0"], ["--kernels", "gpu"],
        ["--schedule", "bogus"], ["--schedule", "step:0:0.5"], ["--schedule", "step:2"], ["--schedule", "cosine:3"],
        ["--layers", "conv 0 3"], ["--layers", "warp 3"], ["--layers", "conv 8 40"], ["--layers", "dense"],
        ["--layers", "flatten, dense 1048576, dense 1048576"], ["--optimizer", "rmsprop"],
        ["--loss", "mse"], ["--weight-init", "zero"], ["--momentum", "1"], ["--weight-decay", "-1"], ["--per-class", "0"],
        ["--checkpoint-every", "0", "--checkpoint", "x"], ["--checkpoint-every", "2"], ["--resume", "x", "--lr", "0.1"],
        ["--unknown-flag"],
        ["--betas", "1,0.5"], ["--betas", "0.9,-0.1"], ["--betas", "0.9"], ["--betas", "a,b"], ["--betas", "0.9,0.99,0.9"],
        ["--arch", "lenet", "--optimizer", "sgd", "--betas", "0.5,0.5"], ["--label-smoothing", "1"], ["--label-smoothing", "-0.1"],
        ["--label-smoothing", "0.1"], ["--augment", "shift:0"], ["--augment", "spin"], ["--augment", "flip,flip"],
        ["--augment", ""], ["--schedule", "onecycle:3"], ["--resume", "x", "--augment", "flip"], ["--resume", "x", "--betas", "0.5,0.5"],
        ["--resume", "x", "--label-smoothing", "0.1"],
    ])
    func rejectsOption(_ options: [String]) throws {
        let dir = TemporaryDirectory()
        let r = try Self.run(["train", "--data", Self.tinyData(in: dir)] + options)
        Self.expectOneLineFailure(r, status: 64)
    }

    @Test("--arch cifar without --data is one line naming --data; its summary takes 3×32×32 colour images")
    func cifarPreset() throws {
        let r = try Self.run(["train", "--arch", "cifar"])
        Self.expectOneLineFailure(r, status: 64)
        #expect(r.stderr.contains("--data"))
        let summary = try Self.run(["summary", "--arch", "cifar"])
        #expect(summary.status == 0)
        #expect(summary.stdout.contains("input 3×32×32"))
        #expect(summary.stdout.contains("BatchNorm"))
    }

    @Test("other commands' options", arguments: [
        ["evaluate"], ["predict", "--model", "m"], ["predict", "--model", "m", "--index", "-3"],
        ["predict", "--model", "m", "--index", "1", "--image", "x.png"], ["frobnicate"], ["info", "--threads", "-2"],
    ])
    func rejectsCommand(_ arguments: [String]) throws {
        Self.expectOneLineFailure(try Self.run(arguments), status: 64)
    }

    // MARK: files

    /// A model trained for one epoch, and corrupt variants of it.
    static func corruptModels(in dir: TemporaryDirectory, data: String) throws -> [(String, String)] {
        let good = dir.path + "/good.safetensors"
        let r = try run(small(data, lenet + ["--epochs", "1", "--save", good]))
        #expect(r.status == 0, "\(r.stderr)")
        let bytes = dir.contents("good.safetensors")
        var file = try SafeTensorsFile.read(path: good)
        var cases: [(String, String)] = []
        cases.append((dir.write("truncated.safetensors", Array(bytes.prefix(bytes.count - 10))), "outside the"))
        cases.append((dir.write("empty.safetensors", []), "too short"))
        var badHeader = bytes
        badHeader[9] = UInt8(ascii: "#")
        cases.append((dir.write("header.safetensors", badHeader), "JSON"))
        let missing = file.tensors.removeLast()
        cases.append((dir.write("missing.safetensors", try file.encode()), "is missing"))
        file.tensors.append(missing)
        file.tensors.append((name: "9.weight", tensor: try Tensor(zeros: [1])))
        cases.append((dir.write("extra.safetensors", try file.encode()), "not part of this architecture"))
        file.tensors.removeLast()
        file.metadata["layers"] = "conv 8 3, relu, maxpool 2, conv 16 5, relu, maxpool 2, flatten, dense 2"
        cases.append((dir.write("shape.safetensors", try file.encode()), "but the architecture needs"))
        file.metadata["layers"] = "conv 8 5, bogus"
        cases.append((dir.write("layers.safetensors", try file.encode()), "unknown layer 'bogus'"))
        return cases
    }

    @Test("a corrupt model gives one line and exit 1 in evaluate, predict and train --init")
    func corruptModel() throws {
        let dir = TemporaryDirectory(), data = Self.tinyData(in: dir)
        for (path, reason) in try Self.corruptModels(in: dir, data: data) {
            for arguments in [["evaluate", "--model", path, "--data", data],
                              ["predict", "--model", path, "--data", data, "--index", "0"],
                              Self.small(data, ["--init", path, "--epochs", "1"]),
                              ["train", "--resume", path, "--data", data]] {
                let r = try Self.run(arguments)
                Self.expectOneLineFailure(r, status: 1, mentioning: path)
                #expect(r.stderr.contains(reason), "\(arguments[0]): \(r.stderr)")
            }
        }
    }

    @Test("a missing model, a plain model to --resume, corrupt data and a corrupt image")
    func otherBadFiles() throws {
        let dir = TemporaryDirectory(), data = Self.tinyData(in: dir)
        let missing = dir.path + "/nope.safetensors"
        Self.expectOneLineFailure(try Self.run(["evaluate", "--model", missing, "--data", data]), status: 1, mentioning: "no such file")

        let model = dir.path + "/model.safetensors"
        #expect(try Self.run(Self.small(data, ["--epochs", "0", "--save", model])).status == 0)
        Self.expectOneLineFailure(try Self.run(["train", "--resume", model, "--data", data]), status: 1, mentioning: "not a checkpoint")

        dir.write("picture.png", [0x89, 0x50, 0x4E, 0x47, 1, 2, 3])
        Self.expectOneLineFailure(try Self.run(["predict", "--model", model, "--image", dir.path + "/picture.png"]), status: 1,
                                  mentioning: "picture.png")

        let broken = TemporaryDirectory()
        _ = Self.tinyData(in: broken)
        let labels = broken.contents("t10k-labels-idx1-ubyte")
        broken.write("t10k-labels-idx1-ubyte", Array(labels.dropLast(3)))
        Self.expectOneLineFailure(try Self.run(Self.small(broken.path, ["--epochs", "1"])), status: 1, mentioning: "t10k-labels-idx1-ubyte")
    }

    // MARK: divergence

    // --lr 1000 is not enough here: ReLU LeNet only overflows on some data at that rate, and the
    // tutorial's sigmoid net never does (it saturates, and BCE is clamped), so 1e6 it is.
    @Test("--lr 1e6 stops LeNet/SGD with the epoch and step, non-zero, nothing saved")
    func divergenceStops() throws {
        let dir = TemporaryDirectory(), data = Self.tinyData(in: dir)
        let save = dir.path + "/never.safetensors"
        let r = try Self.run(Self.small(data, Self.lenet + ["--optimizer", "sgd", "--lr", "1e6", "--epochs", "3", "--save", save]))
        Self.expectOneLineFailure(r, status: 1, mentioning: "training diverged")
        #expect(r.stderr.contains("at epoch 1, step "))
        #expect(!FileManager.default.fileExists(atPath: save))
    }

    @Test("a run that diverges in epoch 2 keeps the checkpoint of epoch 1")
    func divergenceKeepsLastGoodCheckpoint() throws {
        let dir = TemporaryDirectory(), data = Self.tinyData(in: dir)
        let checkpoint = dir.path + "/ck.safetensors"
        // The rate is multiplied by 1e12 after epoch 1. He init: with PyTorch's smaller default
        // the tiny net's ReLUs can all go dead at that rate, which stops learning without overflow.
        let r = try Self.run(Self.small(data, Self.lenet + ["--weight-init", "auto", "--optimizer", "sgd", "--lr", "0.01", "--schedule", "step:1:1e12",
                                                            "--epochs", "3", "--checkpoint", checkpoint]))
        Self.expectOneLineFailure(r, status: 1, mentioning: "at epoch 2, step")
        let file = try SafeTensorsFile.read(path: checkpoint)
        #expect(file.metadata["checkpoint.epoch"] == "1")
        #expect(file.tensors.allSatisfy { $0.tensor.scalars.allSatisfy(\.isFinite) })
    }

    // MARK: nothing lost, repeatable

    @Test("SIGKILL at random moments never leaves a torn checkpoint")
    func killDuringSave() throws {
        let dir = TemporaryDirectory(), data = Self.tinyData(in: dir)
        let checkpoint = dir.path + "/ck.safetensors"
        // The tutorial net (1.4 MB file) with one batch per epoch: the run is mostly checkpoint writes.
        let arguments = Self.small(data, ["--batch", "60", "--epochs", "100000", "--checkpoint", checkpoint])
        var g = SeededGenerator(seed: 11)
        var epochs: [String] = []
        // The first run measures how long the first checkpoint takes on this (possibly busy)
        // machine; later runs are killed at random moments up to 0.3 s past that.
        var firstWrite: UInt32 = 0
        for round in 0..<10 {
            let process = try Self.start(arguments, output: false)
            if round == 0 {
                let started = DispatchTime.now().uptimeNanoseconds
                while !FileManager.default.fileExists(atPath: checkpoint) && process.isRunning { usleep(1_000) }
                firstWrite = UInt32((DispatchTime.now().uptimeNanoseconds - started) / 1_000)
            }
            usleep(firstWrite + UInt32(g.next() % 300_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal)
            guard FileManager.default.fileExists(atPath: checkpoint) else { continue }
            let file = try SafeTensorsFile.read(path: checkpoint)
            _ = try Model(file: file, path: checkpoint)
            epochs.append(file.metadata["checkpoint.epoch"] ?? "?")
        }
        #expect(!epochs.isEmpty, "no checkpoint was ever written")
    }

    @Test("killed mid-run and resumed with --resume alone equals the uninterrupted run (momentum, cosine)")
    func resumeAfterKill() throws {
        let dir = TemporaryDirectory(), data = Self.tinyData(in: dir)
        let recipe = Self.small(data, Self.lenet + ["--optimizer", "momentum", "--schedule", "cosine", "--epochs", "30", "--seed", "5"])
        let full = dir.path + "/full.safetensors", resumed = dir.path + "/resumed.safetensors", checkpoint = dir.path + "/ck.safetensors"
        #expect(try Self.run(recipe + ["--save", full]).status == 0)

        let process = try Self.start(recipe + ["--save", resumed, "--checkpoint", checkpoint], output: false)
        while !FileManager.default.fileExists(atPath: checkpoint) && process.isRunning { usleep(2_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let stoppedAt = try SafeTensorsFile.read(path: checkpoint).metadata["checkpoint.epoch"]
        #expect(process.terminationReason == .uncaughtSignal && stoppedAt != "30", "the run finished before it was killed")
        #expect(!FileManager.default.fileExists(atPath: resumed))

        let r = try Self.run(["train", "--resume", checkpoint])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("resumed from \(checkpoint) after epoch \(stoppedAt ?? "?")"))
        #expect(dir.contents("resumed.safetensors") == dir.contents("full.safetensors"))
    }

    @Test("killed mid-run and resumed with --resume alone equals the uninterrupted run (augment, smoothing, one-cycle, betas)")
    func resumeWithTrainingFeatures() throws {
        let dir = TemporaryDirectory(), data = Self.tinyData(in: dir)
        let recipe = Self.small(data, Self.lenet + ["--augment", "shift:2,flip", "--label-smoothing", "0.1", "--schedule", "onecycle",
                                                   "--betas", "0.7,0.9", "--epochs", "30", "--seed", "6"])
        let full = dir.path + "/full.safetensors", resumed = dir.path + "/resumed.safetensors", checkpoint = dir.path + "/ck.safetensors"
        let straight = try Self.run(recipe + ["--save", full])
        #expect(straight.status == 0, "\(straight.stderr)")
        #expect(straight.stdout.contains("schedule onecycle, betas 0.7,0.9, label smoothing 0.1, augment shift:2,flip"))

        let process = try Self.start(recipe + ["--save", resumed, "--checkpoint", checkpoint], output: false)
        while !FileManager.default.fileExists(atPath: checkpoint) && process.isRunning { usleep(2_000) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let metadata = try SafeTensorsFile.read(path: checkpoint).metadata
        #expect(process.terminationReason == .uncaughtSignal && metadata["checkpoint.epoch"] != "30", "the run finished before it was killed")
        #expect(metadata["recipe.augment"] == "shift:2,flip" && metadata["recipe.label_smoothing"] == "0.1")
        #expect(metadata["recipe.schedule"] == "onecycle" && metadata["recipe.beta1"] == "0.7" && metadata["recipe.beta2"] == "0.9")

        let r = try Self.run(["train", "--resume", checkpoint])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(dir.contents("resumed.safetensors") == dir.contents("full.safetensors"))
        // Without the features the same run ends elsewhere: the flags were not ignored.
        let plain = dir.path + "/plain.safetensors"
        #expect(try Self.run(Self.small(data, Self.lenet + ["--epochs", "30", "--seed", "6", "--save", plain])).status == 0)
        #expect(dir.contents("plain.safetensors") != dir.contents("full.safetensors"))
    }

    @Test("checkpoints without the new recipe fields resume with the defaults; bad values are one line")
    func olderCheckpointsResume() throws {
        let dir = TemporaryDirectory(), data = Self.tinyData(in: dir), checkpoint = dir.path + "/ck.safetensors"
        let first = try Self.run(Self.small(data, Self.lenet + ["--epochs", "1", "--checkpoint", checkpoint, "--augment", "flip",
                                                               "--label-smoothing", "0.2", "--betas", "0.5,0.6"]))
        #expect(first.status == 0, "\(first.stderr)")
        let file = try SafeTensorsFile.read(path: checkpoint)
        for (key, bad) in [("recipe.augment", "spin"), ("recipe.label_smoothing", "1"), ("recipe.beta1", "-0.5"), ("recipe.beta2", "x")] {
            var edited = file
            edited.metadata[key] = bad
            try edited.write(path: checkpoint)
            Self.expectOneLineFailure(try Self.run(["train", "--resume", checkpoint, "--epochs", "2"]), mentioning: key)
        }
        var old = file
        for key in ["recipe.augment", "recipe.label_smoothing", "recipe.beta1", "recipe.beta2"] { old.metadata[key] = nil }
        try old.write(path: checkpoint)
        let r = try Self.run(["train", "--resume", checkpoint, "--epochs", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("seed 0\n"), "no betas, smoothing or augmentation: \(r.stdout)")
    }

    @Test("show --augment draws stored and augmented training images; it takes no model")
    func showAugmented() throws {
        let dir = TemporaryDirectory(), data = Self.tinyData(in: dir), out = dir.path + "/aug.png"
        let r = try Self.run(["show", "--data", data, "--augment", "shift:2,flip", "--count", "6", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("12 tiles"), "\(r.stdout)")
        #expect(dir.contents("aug.png").starts(with: [0x89, 0x50, 0x4E, 0x47]))
        for bad in [["--augment", "flip", "--model", "m"], ["--augment", "flip", "--count", "0"], ["--augment", "twirl"], []] {
            Self.expectOneLineFailure(try Self.run(["show", "--data", data] + bad), status: 64)
        }
    }

    @Test("a checkpoint after 2 of 5 epochs, resumed with --epochs 5, equals 5 epochs straight (Adam)")
    func resumeExtendsAConstantSchedule() throws {
        let dir = TemporaryDirectory(), data = Self.tinyData(in: dir)
        let recipe = Self.small(data, Self.lenet + ["--seed", "9"])
        let full = dir.path + "/full.safetensors", checkpoint = dir.path + "/ck.safetensors", resumed = dir.path + "/r.safetensors"
        #expect(try Self.run(recipe + ["--epochs", "5", "--save", full]).status == 0)
        #expect(try Self.run(recipe + ["--epochs", "2", "--checkpoint", checkpoint]).status == 0)
        #expect(try Self.run(["train", "--resume", checkpoint, "--epochs", "5", "--save", resumed]).status == 0)
        #expect(dir.contents("r.safetensors") == dir.contents("full.safetensors"))
        Self.expectOneLineFailure(try Self.run(["train", "--resume", checkpoint, "--epochs", "1"]), mentioning: "past --epochs 1")
    }

    @Test("the same seed gives bit-identical weights on 1 and 2 threads, and run to run")
    func threadsAndRunsAgree() throws {
        let dir = TemporaryDirectory(), data = Self.tinyData(in: dir)
        let recipe = Self.small(data, ["--arch", "lenet", "--digits", "0,1", "--batch", "20", "--epochs", "2", "--seed", "4"])
        for (name, threads) in [("a", "1"), ("b", "2"), ("c", "2")] {
            let r = try Self.run(recipe + ["--threads", threads, "--save", dir.path + "/\(name).safetensors"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        #expect(dir.contents("a.safetensors") == dir.contents("b.safetensors"))
        #expect(dir.contents("b.safetensors") == dir.contents("c.safetensors"))
    }
}
