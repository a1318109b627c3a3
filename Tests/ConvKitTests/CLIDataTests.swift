import Foundation
import Testing
import ConvKit
import ConvKitFiles

/// `convkit` on data sets other than MNIST: an image folder of colour PNGs (and one of JPEGs), CIFAR-10 binary files,
/// class selection by name and index, --val-split and resuming it, measured normalisation.
@Suite(.serialized) struct CLIDataTests {
    static let layers = ["--layers", "conv 4 3, relu, flatten, dense 3"]

    @Test("train, evaluate and predict on a folder of colour PNGs, classes named by their folders")
    func imageFolderRun() throws {
        let dir = TemporaryDirectory()
        _ = DataSetTests.imageFolder(in: dir)
        let model = dir.path + "/m.safetensors"
        let r = try CLITests.run(["train", "--data", dir.path, "--classes", "all", "--per-class", "all", "--test-per-class", "all",
                                  "--layers", "conv 4 3, relu, flatten, dense 3", "--epochs", "1", "--save", model])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("data: image folder at \(dir.path) · 3 classes (cat,dog,emu) · 3×3×4 · 9 training images · 9 test images"),
                "\(r.stdout)")
        #expect(r.stdout.contains("  cat  ") && r.stdout.contains("  emu  "))
        let saved = try Model.load(path: model).model
        #expect(saved.info.classes == ["cat", "dog", "emu"] && saved.info.architecture.input == [3, 3, 4])

        let e = try CLITests.run(["evaluate", "--model", model, "--data", dir.path, "--json"])
        #expect(e.status == 0, "\(e.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as? [String: Any]
        #expect(json?["classes"] as? [String] == ["cat", "dog", "emu"] && json?["total"] as? Int == 9)

        let p = try CLITests.run(["predict", "--model", model, "--image", dir.path + "/test/dog/img0.png"])
        #expect(p.status == 0 && p.stdout.hasPrefix("predicted "), "\(p.stderr)")
        #expect(["cat", "dog", "emu"].contains { p.stdout.hasPrefix("predicted \($0)\n") }, "\(p.stdout)")
        let i = try CLITests.run(["predict", "--model", model, "--data", dir.path, "--index", "4"])
        #expect(i.status == 0 && i.stdout.contains("(label dog: "), "\(i.stdout) \(i.stderr)")
        // A grey 4×3 image is repeated into RGB for the colour model; a wrong size is one line.
        dir.write("grey.pgm", Array("P5 4 3 255\n".utf8) + [UInt8](repeating: 90, count: 12))
        #expect(try CLITests.run(["predict", "--model", model, "--image", dir.path + "/grey.pgm"]).status == 0)
        dir.write("big.pgm", Array("P5 5 3 255\n".utf8) + [UInt8](repeating: 90, count: 15))
        CLITests.expectOneLineFailure(try CLITests.run(["predict", "--model", model, "--image", dir.path + "/big.pgm"]), status: 1,
                                      mentioning: "image is 5×3, expected 4×3")
        // The MNIST default data does not fit this model: one line.
        CLITests.expectOneLineFailure(try CLITests.run(["evaluate", "--model", model]), mentioning: "the model takes 3×3×4 inputs")
    }

    @Test("train and predict on a folder of JPEGs, grey and colour; a truncated JPEG is one line",
          .enabled(if: RasterImage.readsJPEG))
    func jpegFolderRun() throws {
        let dir = TemporaryDirectory()
        let rgb = try JPEGTests.fixture("rgb.jpg"), grey = try JPEGTests.fixture("grey.jpg")
        for split in ["train", "test"] {
            dir.write("\(split)/colour/a.jpg", rgb)
            dir.write("\(split)/grey/a.jpeg", grey)
        }
        dir.write("train/colour/b.jpg", try JPEGTests.fixture("rgb-420.jpg"))
        dir.write("train/grey/b.jpg", grey)
        let model = dir.path + "/m.safetensors"
        let r = try CLITests.run(["train", "--data", dir.path, "--classes", "all", "--per-class", "all", "--test-per-class", "all",
                                  "--layers", "conv 2 3, relu, maxpool 4, flatten, dense 2", "--epochs", "1", "--save", model])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("data: image folder at \(dir.path) · 2 classes (colour,grey) · 3×48×64 · 4 training images · 2 test images"),
                "\(r.stdout)")
        for image in ["test/colour/a.jpg", "test/grey/a.jpeg"] {
            let p = try CLITests.run(["predict", "--model", model, "--image", dir.path + "/" + image])
            #expect(p.status == 0 && ["colour", "grey"].contains { p.stdout.hasPrefix("predicted \($0)\n") }, "\(p.stdout) \(p.stderr)")
        }
        let cut = dir.write("cut.jpg", Array(rgb.prefix(rgb.count / 2)))
        CLITests.expectOneLineFailure(try CLITests.run(["predict", "--model", model, "--image", cut]), status: 1,
                                      mentioning: "cut.jpg: truncated (JPEG data ends early")
    }

    @Test("--classes by name or index, in the order given; unknown names are one line")
    func classSelection() throws {
        let dir = TemporaryDirectory()
        _ = DataSetTests.imageFolder(in: dir)
        for (choice, expected) in [("emu,cat", ["emu", "cat"]), ("1,2", ["dog", "emu"]), ("dog", ["dog"])] {
            let r = try CLITests.run(["train", "--data", dir.path, "--classes", choice, "--layers", "conv 4 3, relu, flatten, dense \(expected.count)",
                                      "--loss", "softmax-ce", "--epochs", "1", "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            #expect(json?["classes"] as? [String] == expected && json?["train_images"] as? Int == 3 * expected.count)
        }
        CLITests.expectOneLineFailure(try CLITests.run(["train", "--data", dir.path, "--classes", "cat,fox"] + Self.layers),
                                      mentioning: "--classes: the data has no class 'fox' (classes: cat,dog,emu)")
        CLITests.expectOneLineFailure(try CLITests.run(["train", "--data", dir.path, "--classes", "cat", "--digits", "0"]),
                                      mentioning: "at most one of --digits and --classes")
    }

    @Test("--val-split holds out per class by --seed, measured normalisation is saved, --resume keeps both")
    func valSplitAndResume() throws {
        let dir = TemporaryDirectory()
        _ = DataSetTests.imageFolder(in: dir, test: false, perClass: 4)
        let noTest = try CLITests.run(["train", "--data", dir.path] + Self.layers)
        CLITests.expectOneLineFailure(noTest, status: 1, mentioning: "no test set; add a test/ folder or pass --val-split F")

        let checkpoint = dir.path + "/c.safetensors", model = dir.path + "/m.safetensors"
        let options = ["train", "--data", dir.path, "--val-split", "0.25", "--seed", "3", "--normalize", "measured", "--loss", "softmax-ce",
                       "--batch", "4"] + Self.layers
        let first = try CLITests.run(options + ["--epochs", "1", "--checkpoint", checkpoint, "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any]
        #expect(json?["train_images"] as? Int == 9 && json?["test_images"] as? Int == 3)
        let measured = try Model.load(path: checkpoint).model.info.normalization
        #expect(measured.channels == 3 && measured.stds.allSatisfy { $0 > 0 && $0 != 1 })

        // Resuming from another directory, with no data options: the same folder, split and scaling.
        let resumed = try CLITests.run(["train", "--resume", checkpoint, "--epochs", "2", "--save", model])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("9 training images · 3 held-out (--val-split 0.25) images"), "\(resumed.stdout)")
        #expect(try Model.load(path: model).model.info.normalization == measured)
        // One run of two epochs gives the same model as one epoch and a resume.
        let straight = dir.path + "/straight.safetensors"
        #expect(try CLITests.run(options + ["--epochs", "2", "--save", straight]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: straight)) == Data(contentsOf: URL(fileURLWithPath: model)))
        CLITests.expectOneLineFailure(try CLITests.run(["train", "--resume", checkpoint, "--val-split", "0.5"]), mentioning: "drop --val-split")

        // evaluate with the same split and seed tests on the same 3 images.
        let e = try CLITests.run(["evaluate", "--model", model, "--data", dir.path, "--val-split", "0.25", "--seed", "3", "--json"])
        let ej = try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as? [String: Any]
        #expect(ej?["total"] as? Int == 3, "\(e.stderr)")
    }

    @Test("CIFAR-10 binary: trains on 3×32×32 with its names; a truncated batch is one line naming the file")
    func cifarRun() throws {
        let dir = TemporaryDirectory()
        for name in CIFAR.Kind.cifar10.files(.train) + CIFAR.Kind.cifar10.files(.test) {
            dir.write(name, (0..<10).flatMap { DataSetTests.cifarRecord([UInt8($0)], seed: $0 * 3 + name.count) })
        }
        dir.write("batches.meta.txt", Array("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n".utf8))
        let r = try CLITests.run(["train", "--data", dir.path, "--classes", "cat,dog", "--per-class", "3", "--layers",
                                  "conv 2 5, relu, maxpool 4, flatten, dense 2", "--epochs", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("data: CIFAR-10 binary at \(dir.path) · 2 classes (cat,dog) · 3×32×32 · 6 training images · 2 test images"),
                "\(r.stdout)")
        dir.write("data_batch_4.bin", Array(DataSetTests.cifarRecord([1], seed: 1).dropLast(5)))
        CLITests.expectOneLineFailure(try CLITests.run(["train", "--data", dir.path] + Self.layers), status: 1,
                                      mentioning: "data_batch_4.bin: 3068 bytes are not whole 3073-byte CIFAR records")
    }

    @Test("IDX with labels 1–3 (as EMNIST letters 1–26): the tutorial's digits 0,1 are missing, --classes all trains on 1,2,3")
    func idxOtherLabels() throws {
        let dir = TemporaryDirectory()
        for (split, n) in [("train", 12), ("t10k", 6)] {
            let labels = (0..<n).map { UInt8(1 + $0 % 3) }
            let pixels = (0..<(n * 64)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
            dir.write("\(split)-images-idx3-ubyte", idxFile(magic: IDX.imagesMagic, dims: [UInt32(n), 8, 8], body: pixels))
            dir.write("\(split)-labels-idx1-ubyte", idxFile(magic: IDX.labelsMagic, dims: [UInt32(n)], body: labels))
        }
        CLITests.expectOneLineFailure(try CLITests.run(["train", "--data", dir.path]),
                                      mentioning: "--arch tutorial trains on digits 0,1 but the data has no class '0'; pick classes with --classes")
        let r = try CLITests.run(["train", "--data", dir.path, "--classes", "all", "--layers", "conv 2 3, relu, flatten, dense 3", "--epochs", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("data: IDX at \(dir.path) · 3 classes (1,2,3) · 1×8×8 · 12 training images · 6 test images"), "\(r.stdout)")
    }
}
