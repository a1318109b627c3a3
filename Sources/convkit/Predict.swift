import ArgumentParser
import ConvKit
import ConvKitBenchmark
import ConvKitFiles
import ConvKitVisualization

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Classify one image with a saved model.")

    @Option(help: "Model file (safetensors).") var model: String
    @Option(help: "A 28×28 8-bit grey PGM or PNG.") var image: String?
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
        let input = loaded.info.architecture.input
        guard input.count == 3, input[0] == 1 else { throw ValidationError("the model's input \(input) is not a grey image") }
        let pixels: [UInt8]
        var label: Int?
        if let image {
            pixels = try GreyImage.read(path: image, width: input[2], height: input[1]).pixels
        } else {
            let testSet = try dataOptions.load(.test)
            guard index! < testSet.count else { throw ValidationError("--index \(index!) is past the \(testSet.count) test images") }
            guard testSet.rows == input[1], testSet.cols == input[2] else {
                throw ValidationError("test images are \(testSet.rows)×\(testSet.cols), the model takes \(input[1])×\(input[2])")
            }
            pixels = Array(testSet.image(index!))
            label = Int(testSet.labels[index!])
        }
        let outputs = try loaded.outputs(pixels: pixels)
        let probabilities = loaded.loss.probabilities(outputs)
        let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
        let digit = loaded.info.digits[best]
        if json {
            print(jsonString(["class": digit, "outputs": outputs, "probabilities": probabilities]))
            return
        }
        print("predicted \(digit)" + (label.map { $0 == digit ? " (label \($0): correct)" : " (label \($0): wrong)" } ?? ""))
        let ranked = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(5)
        for k in ranked {
            // Block characters on a terminal; ASCII when piped, where a file or log may not be UTF-8 aware.
            let bar = String(repeating: Console.stdoutIsTerminal ? "█" : "#", count: Int((probabilities[k] * 40).rounded()))
            print("  \(loaded.info.digits[k])  \(String(format: "%6.2f%%", 100 * probabilities[k]))  \(bar)")
        }
        print("outputs: [" + outputs.map { String(format: "%.6g", $0) }.joined(separator: ", ") + "]")
    }
}
