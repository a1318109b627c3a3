import ArgumentParser
import ConvKit
import ConvKitFiles
import ConvKitVisualization
import Foundation

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a model's convolution kernels, its feature maps for one image, or augmented training images, as a PNG.",
        discussion: """
        Without --image or --index: every conv layer's kernels, a row per input channel and a column per filter.
        With one of them: the input and every conv layer's output for that image. Each tile is scaled
        to its own range, black for its minimum and white for its maximum.
        With --augment (no model): the first --count training images as stored and as `train --augment`
        changes them at positions 0..<count of --epoch with --seed (pixels on the 0–1 scale, so shifted-in pixels are black).
        """)

    @Option(help: "Model file (safetensors); needed unless --augment.") var model: String?
    @Option(help: "Show feature maps for this PNG, JPEG, PGM or PPM of the model's input size.") var image: String?
    @Option(help: "Show feature maps for the N-th image (from 0) of the test file.") var index: Int?
    @Option(help: "Where to write the PNG (default: kernels.png, maps.png for feature maps, augment.png with --augment).") var out: String?
    @Flag(help: "Also show each conv layer's output after the activation that follows it.") var activated = false
    @Flag(help: "Leave out the section labels.") var noLabels = false
    @Option(help: "Draw training images augmented as train --augment does, e.g. shift:2,flip.") var augment: String?
    @Option(help: "With --augment: how many images (1–256).") var count: Int = 16
    @Option(help: "With --augment: the epoch (from 0) whose transforms to draw.") var epoch: Int = 0
    @Option(help: "With --augment: the training run's seed.") var seed: UInt64 = 0
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        if let augment {
            _ = try parseAugmentation(augment)
            if model != nil || image != nil || index != nil || activated {
                throw ValidationError("--augment draws training images; drop --model, --image, --index and --activated")
            }
            if !(1...256).contains(count) { throw ValidationError("--count must be in 1...256, got \(count)") }
            if epoch < 0 { throw ValidationError("--epoch must be 0 or more, got \(epoch)") }
            return
        }
        if model == nil { throw ValidationError("give --model (or --augment to draw augmented training images)") }
        if image != nil, index != nil { throw ValidationError("give at most one of --image and --index") }
        if let index, index < 0 { throw ValidationError("--index must be 0 or more, got \(index)") }
    }

    func run() throws {
        compute.apply()
        let mosaic: Mosaic
        let path: String
        if let augment {
            mosaic = try augmentedImages(try parseAugmentation(augment))
            path = out ?? "augment.png"
            try write(mosaic, to: path)
            return
        }
        let loaded = try Model.load(path: model!).model
        if image == nil && index == nil {
            mosaic = try KernelImage.kernels(of: loaded.network, labels: !noLabels)
            path = out ?? "kernels.png"
        } else {
            let pixels = try inputPixels(loaded)
            let input = try loaded.input(pixels: pixels).reshaped(loaded.info.architecture.input)
            mosaic = try KernelImage.featureMaps(of: loaded.network, input: input, activated: activated, labels: !noLabels)
            path = out ?? "maps.png"
        }
        try write(mosaic, to: path)
    }

    func write(_ mosaic: Mosaic, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(mosaic.png)) else {
            throw ValidationError("cannot write \(path)")
        }
        print("wrote \(path) (\(mosaic.width)×\(mosaic.height), \(mosaic.placements.count) tiles)")
    }

    /// The first `count` training images (of --digits or --classes, if given), as stored and augmented.
    func augmentedImages(_ augmentation: Augmentation) throws -> Mosaic {
        let source = try dataOptions.source()
        let all = try source.load(.train)
        let labels = (try dataOptions.chosenClasses(in: all.classes) ?? all.classes).map { Int($0.label) }
        let selection = Selection(labels: labels, perClass: count)
        let picked = try all.select(selection).indices.sorted().prefix(count)
        let pixels = picked.flatMap { all.image($0) }.map { Float($0) / 255 }
        let samples = try Tensor(shape: [picked.count] + all.sampleShape, scalars: pixels)
        return try KernelImage.augmented(samples, by: augmentation, seed: seed, epoch: epoch, labels: !noLabels)
    }

    func inputPixels(_ loaded: Model) throws -> [UInt8] {
        if let image { return try imagePixels(image, for: loaded) }
        let source = try dataOptions.source()
        let testSet = try dataOptions.testSet(source)
        guard index! < testSet.count else { throw ValidationError("--index \(index!) is past the \(testSet.count) test images") }
        guard testSet.sampleShape == loaded.info.architecture.input else {
            throw ValidationError("test images are \(shapeText(testSet.sampleShape)), the model takes \(shapeText(loaded.info.architecture.input))")
        }
        let value = testSet.labels[index!]
        print("test image \(index!): label \(testSet.classes.first { $0.label == value }?.name ?? String(value))")
        return Array(testSet.image(index!))
    }
}
