import ArgumentParser
import ConvKit
import ConvKitBenchmark
import ConvKitFiles
import ConvKitVisualization

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Test a saved model on MNIST's test images.")

    @Option(help: "Model file (safetensors) written by convkit train --save.") var model: String
    @Option(help: "Test images per digit, or all.") var testPerClass: Count = Count(argument: "all")!
    @Flag(help: "Print one JSON object.") var json = false
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        compute.apply()
        let loaded = try Model.load(path: model).model
        let digits = dataOptions.digits?.digits ?? loaded.info.digits
        guard digits == loaded.info.digits else {
            throw ValidationError("the model classifies digits \(loaded.info.digits), not \(digits)")
        }
        let testSet = try dataOptions.load(.test)
        let subset = try testSet.select(Selection(digits: digits, perClass: testPerClass.value))
        let evaluation = try loaded.network.evaluate(testSet.labeledImages(subset), loss: loaded.loss,
                                                 normalization: loaded.info.normalization)
        if json {
            print(jsonString(["test_accuracy": evaluation.accuracy, "correct": evaluation.correct, "total": evaluation.total,
                              "test_loss": evaluation.loss, "digits": digits, "confusion": evaluation.confusion]))
        } else {
            print("\(model): \(loaded.info.architecture.spec)")
            print("test accuracy \(percent(evaluation.accuracy)) (\(evaluation.correct)/\(evaluation.total)), loss \(String(format: "%.4f", evaluation.loss))\n")
            print(confusionTable(evaluation.confusion, digits: digits))
        }
    }
}
