import Foundation
import Testing
import ConvKit
import ConvKitFiles

/// Off the presets: a network of the user's own gets defaults that fit it (not the tutorial's
/// N(0, 1) and binary cross-entropy), odd classes are warned about, and --export-data hands
/// another framework exactly the images a run used.
@Suite(.serialized) struct CustomNetDefaultsTests {
    static func report(_ r: CLITests.Result) throws -> [String: Any] {
        #expect(r.status == 0, "\(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
    }

    @Test("--layers without --arch: the custom recipe, PyTorch init, the loss its last layer calls for; presets unchanged")
    func defaultsFitTheNetwork() throws {
        let dir = TemporaryDirectory()
        let data = CLITests.tinyData(in: dir)
        let logits = try Self.report(try CLITests.run(["train", "--data", data, "--classes", "all", "--layers",
                                                       "conv 4 5, relu, maxpool 2, flatten, dense 3", "--epochs", "1", "--json"]))
        let recipe = try #require(logits["recipe"] as? [String: Any])
        #expect(logits["arch"] as? String == "custom")
        #expect(recipe["weight_init"] as? String == "pytorch" && recipe["loss"] as? String == "softmax-ce")
        #expect(recipe["optimizer"] as? String == "adam" && recipe["batch"] as? Int == 64 && recipe["normalization"] as? String == "measured")
        // Every image of every class, not the tutorial's first 100 zeros and ones.
        #expect(logits["train_images"] as? Int == 72 && logits["test_images"] as? Int == 18)

        // A network that ends in a sigmoid outputs probabilities: binary cross-entropy.
        let sigmoid = try Self.report(try CLITests.run(["train", "--data", data, "--layers", "conv 4 5, relu, flatten, dense 3, sigmoid",
                                                        "--epochs", "1", "--json"]))
        #expect((sigmoid["recipe"] as? [String: Any])?["loss"] as? String == "bce")

        // A preset's training settings with your own layers: the preset's optimizer and batch,
        // but an init and loss that fit the layers; the flags still win.
        let tutorialLayers = try Self.report(try CLITests.run(["train", "--data", data, "--arch", "tutorial", "--layers",
                                                               "conv 4 5, relu, flatten, dense 2", "--epochs", "1", "--json"]))
        let t = try #require(tutorialLayers["recipe"] as? [String: Any])
        #expect(t["weight_init"] as? String == "pytorch" && t["loss"] as? String == "softmax-ce" && t["batch"] as? Int == 1)
        let given = try Self.report(try CLITests.run(["train", "--data", data, "--layers", "conv 4 5, relu, flatten, dense 3",
                                                      "--weight-init", "normal", "--loss", "bce", "--epochs", "1", "--json"]))
        let g = try #require(given["recipe"] as? [String: Any])
        #expect(g["weight_init"] as? String == "normal" && g["loss"] as? String == "bce")

        // The tutorial preset keeps its own N(0, 1) and binary cross-entropy, and the header names the init.
        let tutorial = try CLITests.run(["train", "--data", data, "--epochs", "1"])
        #expect(tutorial.status == 0 && tutorial.stdout.contains("training: bce, sgd lr 0.1, batch 1, 1 epochs, init normal, seed 0"),
                "\(tutorial.stdout)")
        let custom = try CLITests.run(["train", "--data", data, "--layers", "conv 4 5, relu, flatten, dense 3", "--epochs", "1"])
        #expect(custom.stdout.contains("training: softmax-ce, adam lr 0.001, batch 64, 1 epochs, init pytorch, seed 0"), "\(custom.stdout)")
    }

    @Test("--arch custom without --layers trains its own general network, on every class of the data")
    func customPresetNetwork() throws {
        let dir = TemporaryDirectory()
        let r = try Self.report(try CLITests.run(["train", "--data", CLITests.tinyData(in: dir), "--arch", "custom", "--epochs", "1", "--json"]))
        #expect((r["layers"] as? String)?.hasPrefix("conv 32 3 pad 1, batchnorm, relu") == true)
        #expect(r["classes"] as? [String] == ["0", "1", "2"])
    }

    @Test("the API: LossKind.suited(to:), and initialize() defaults to .pytorch")
    func libraryDefaults() throws {
        #expect(LossKind.suited(to: Architecture(spec: "conv 2 3, flatten, dense 10")) == .softmaxCrossEntropy)
        #expect(LossKind.suited(to: .tutorial(classes: 2)) == .binaryCrossEntropy)
        let a = try Architecture(spec: "conv 4 5, relu, maxpool 2, flatten, dense 10").build()
        let b = try Architecture(spec: "conv 4 5, relu, maxpool 2, flatten, dense 10").build()
        var g1 = SeededGenerator(seed: 5), g2 = SeededGenerator(seed: 5)
        a.initialize(generator: &g1)
        b.initialize(.pytorch, generator: &g2)
        #expect(a.parameters.map(\.tensor) == b.parameters.map(\.tensor))
        // U(±1/√fan_in) with fan_in 25 for the conv: weights and biases within ±0.2, far below
        // the tutorial's N(0, 1), and not all zero.
        for p in a.parameters.prefix(2) {
            #expect(p.tensor.scalars.allSatisfy { abs($0) <= 0.2 } && p.tensor.scalars.contains { $0 != 0 })
        }
    }

    @Test("a class with training images but no test images, or under 1 % of the median, is one warning line each")
    func oddClassesWarn() throws {
        let dir = TemporaryDirectory()
        // Labels 0-2, 120 of each to train and 10 to test, plus one stray 12 in the training labels.
        for (split, n) in [("train", 361), ("t10k", 30)] {
            let labels = (0..<n).map { i -> UInt8 in split == "train" && i == n - 1 ? 12 : UInt8(i % 3) }
            let pixels = (0..<(n * 64)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
            dir.write("\(split)-images-idx3-ubyte", idxFile(magic: IDX.imagesMagic, dims: [UInt32(n), 8, 8], body: pixels))
            dir.write("\(split)-labels-idx1-ubyte", idxFile(magic: IDX.labelsMagic, dims: [UInt32(n)], body: labels))
        }
        let r = try CLITests.run(["train", "--data", dir.path, "--classes", "all", "--layers", "conv 2 3, relu, flatten, dense 4", "--epochs", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let warnings = r.stderr.split(separator: "\n").filter { $0.hasPrefix("warning: ") }
        #expect(warnings == ["warning: class '12' has 1 training image (under 1 % of the median class's 120) and no test images"], "\(r.stderr)")
        // Balanced classes: no warning.
        let clean = try CLITests.run(["train", "--data", dir.path, "--classes", "0,1,2", "--layers", "conv 2 3, relu, flatten, dense 3", "--epochs", "1"])
        #expect(clean.status == 0 && !clean.stderr.contains("warning"), "\(clean.stderr)")
    }

    @Test("--export-data writes the run's images and labels as IDX, and --json gives digests that match them")
    func exportData() throws {
        let dir = TemporaryDirectory()
        _ = DataSetTests.imageFolder(in: dir, perClass: 3)
        let out = dir.path + "/exported"
        let r = try Self.report(try CLITests.run(["train", "--data", dir.path, "--layers", "conv 4 3, relu, flatten, dense 3",
                                                  "--epochs", "1", "--export-data", out, "--json"]))
        let digest = try #require(r["data_digest"] as? [String: [String: Any]])
        #expect(r["export_data"] as? String == out)
        for (split, count) in [("train", 9), ("test", 9)] {
            let images = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(out)/\(split)-images.idx")))
            let labels = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(out)/\(split)-labels.idx")))
            // Rank 4 (N, C, H, W) of bytes, then the pixels; labels as bytes.
            #expect(Array(images.prefix(4)) == [0, 0, 8, 4] && Array(images[4..<8]) == [0, 0, 0, UInt8(count)])
            #expect(images.count == 4 + 16 + count * 3 * 3 * 4 && labels.count == 8 + count)
            let pixels = Array(images.dropFirst(20)), classes = labels.dropFirst(8).map(Int.init)
            let set = try LabeledImages(bytes: pixels, sampleShape: [3, 3, 4], labels: classes, classes: 3)
            let d = try #require(digest[split])
            #expect(d["count"] as? Int == count && d["labels_sha256"] as? String == set.digest.labels
                    && d["samples_sha256"] as? String == set.digest.samples)
        }
        // The digest is of the samples in order: another order, another digest.
        let a = try LabeledImages(bytes: [1, 2, 3, 4], sampleShape: [2], labels: [0, 1], classes: 2)
        let b = try LabeledImages(bytes: [1, 2, 3, 4], sampleShape: [2], indices: [1, 0], labels: [1, 0], classes: 2)
        #expect(a.digest.samples != b.digest.samples && a.digest.labels != b.digest.labels && a.digest.count == b.digest.count)
        // A folder it cannot make is one line.
        dir.write("file", [1])
        CLITests.expectOneLineFailure(try CLITests.run(["train", "--data", dir.path, "--layers", "conv 4 3, relu, flatten, dense 3",
                                                         "--epochs", "1", "--export-data", dir.path + "/file/sub"]),
                                      mentioning: "--export-data")
    }
}
