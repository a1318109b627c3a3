import ArgumentParser
import ConvKit
import ConvKitFiles

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Classify one image with a saved model.")

    @Option(help: "Model file (safetensors).") var model: String
    @Option(help: "An 8-bit PNG, JPEG, PGM or PPM of the model's input size (28×28 for MNIST); colour for colour models.") var image: String?
    @Option(help: "Use the N-th image (from 0) of the test file instead.") var index: Int?
    @Flag(help: "Print {\"class\": …, \"outputs\": […]}.") var json = false
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard (image == nil) != (index == nil) else { throw ValidationError("give exactly one of --image and --index") }
        if let index, index < 0 { throw ValidationError("--index must be 0 or more, got \(index)") }
    }

    func run() throws {
        compute.apply()
        let loaded = try Model.load(path: model).model
        let pixels: [UInt8]
        var label: String?
        if let image {
            pixels = try imagePixels(image, for: loaded)
        } else {
            let source = try dataOptions.source()
            let testSet = try dataOptions.testSet(source)
            guard index! < testSet.count else { throw ValidationError("--index \(index!) is past the \(testSet.count) test images") }
            guard testSet.sampleShape == loaded.info.architecture.input else {
                throw ValidationError("test images are \(shapeText(testSet.sampleShape)), the model takes \(shapeText(loaded.info.architecture.input))")
            }
            pixels = Array(testSet.image(index!))
            let value = testSet.labels[index!]
            label = testSet.classes.first { $0.label == value }?.name ?? String(value)
        }
        let outputs = try loaded.outputs(pixels: pixels)
        let probabilities = loaded.loss.probabilities(outputs)
        let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
        let predicted = loaded.info.classes[best]
        if json {
            print(jsonString(["class": jsonClass(predicted), "outputs": outputs, "probabilities": probabilities]))
            return
        }
        print("predicted \(predicted)" + (label.map { $0 == predicted ? " (label \($0): correct)" : " (label \($0): wrong)" } ?? ""))
        let ranked = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(5)
        let width = ranked.map { loaded.info.classes[$0].count }.max() ?? 1
        for k in ranked {
            // Block characters on a terminal; ASCII when piped, where a file or log may not be UTF-8 aware.
            let bar = String(repeating: Console.stdoutIsTerminal ? "█" : "#", count: bars(probabilities[k]))
            print("  \(loaded.info.classes[k].leftPadded(to: width))  \(String(format: "%6.2f%%", 100 * probabilities[k]))  \(bar)")
        }
        print("outputs: [" + outputs.map { String(format: "%.6g", $0) }.joined(separator: ", ") + "]")
    }
}

/// 40 for probability 1; a BCE model whose last layer is not a sigmoid gives "probabilities" outside
/// 0–1 (or NaN), which must not make the bar negative or absurd.
func bars(_ p: Float) -> Int { p.isFinite ? Int((min(max(p, 0), 1) * 40).rounded()) : 0 }

/// An image file as the model's input pixels: PNG, JPEG, PGM or PPM of the model's height and width,
/// colour turned grey for a grey model and grey repeated for a colour one (alpha dropped).
func imagePixels(_ path: String, for model: Model) throws -> [UInt8] {
    let input = model.info.architecture.input
    guard input.count == 3, input[0] == 1 || input[0] == 3 else {
        throw ValidationError("the model's input \(shapeText(input)) is not a grey or RGB image")
    }
    // Grey models read as they always have (alpha composited over black, MNIST's background).
    if input[0] == 1 { return try GreyImage.read(path: path, width: input[2], height: input[1]).pixels }
    let image = try RasterImage.read(path: path)
    guard image.width == input[2], image.height == input[1] else {
        throw ImageError.wrongSize(path, width: image.width, height: image.height, expectedWidth: input[2], expectedHeight: input[1])
    }
    return image.converted(toChannels: input[0]).pixels
}
