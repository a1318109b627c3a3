import ArgumentParser
import ConvKit
import ConvKitBenchmark
import ConvKitFiles
import ConvKitVisualization
import Foundation

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a model's convolution kernels, or its feature maps for one image, as a PNG.",
        discussion: """
        Without --image or --index: every conv layer's kernels, a row per input channel and a column per filter.
        With one of them: the input and every conv layer's output for that image. Each tile is scaled
        to its own range, black for its minimum and white for its maximum.
        """)

    @Option(help: "Model file (safetensors).") var model: String
    @Option(help: "Show feature maps for this PNG, PGM or PPM of the model's input size.") var image: String?
    @Option(help: "Show feature maps for the N-th image (from 0) of the test file.") var index: Int?
    @Option(help: "Where to write the PNG (default: kernels.png, or maps.png for feature maps).") var out: String?
    @Flag(help: "Also show each conv layer's output after the activation that follows it.") var activated = false
    @Flag(help: "Leave out the section labels.") var noLabels = false
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        if image != nil, index != nil { throw ValidationError("give at most one of --image and --index") }
        if let index, index < 0 { throw ValidationError("--index must be 0 or more, got \(index)") }
    }

    func run() throws {
        compute.apply()
        let loaded = try Model.load(path: model).model
        let mosaic: Mosaic
        let path: String
        if image == nil && index == nil {
            mosaic = try KernelImage.kernels(of: loaded.network, labels: !noLabels)
            path = out ?? "kernels.png"
        } else {
            let pixels = try inputPixels(loaded)
            let input = try loaded.input(pixels: pixels).reshaped(loaded.info.architecture.input)
            mosaic = try KernelImage.featureMaps(of: loaded.network, input: input, activated: activated, labels: !noLabels)
            path = out ?? "maps.png"
        }
        guard FileManager.default.createFile(atPath: path, contents: Data(mosaic.png)) else {
            throw ValidationError("cannot write \(path)")
        }
        print("wrote \(path) (\(mosaic.width)×\(mosaic.height), \(mosaic.placements.count) tiles)")
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
