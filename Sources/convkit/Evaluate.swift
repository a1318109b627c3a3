import ArgumentParser
import ConvKit
import ConvKitFiles

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Test a saved model on a data set's test images (default: the bundled MNIST).")

    @Option(help: "Model file (safetensors) written by convkit train --save.") var model: String
    @Option(help: "Test images per class, or all.") var testPerClass: Count = Count(argument: "all")!
    @Option(help: "Seed that chose the --val-split images (train's --seed).") var seed: UInt64 = 0
    @Flag(help: "Print one JSON object.") var json = false
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        compute.apply()
        let loaded = try Model.load(path: model).model
        let source = try dataOptions.source()
        let testSet = try dataOptions.testSet(source, seed: seed)
        let classes = try modelClasses(loaded, in: testSet, source: source, dataOptions: dataOptions)
        let subset = try testSet.select(Selection(labels: classes.map { Int($0.label) }, perClass: testPerClass.value))
        let evaluation = try loaded.network.evaluate(testSet.labeledImages(subset), loss: loaded.loss,
                                                 normalization: loaded.info.normalization)
        let names = loaded.info.classes
        if json {
            print(jsonString(["test_accuracy": evaluation.accuracy, "correct": evaluation.correct, "total": evaluation.total,
                              "test_loss": evaluation.loss, "digits": names.map(jsonClass), "classes": names,
                              "confusion": evaluation.confusion]))
        } else {
            print("\(model): \(loaded.info.architecture.spec)")
            print("test accuracy \(percent(evaluation.accuracy)) (\(evaluation.correct)/\(evaluation.total)), loss \(String(format: "%.4f", evaluation.loss))\n")
            print(confusionTable(evaluation.confusion, classes: names))
        }
    }
}

/// The data's classes for the model's, by name, after checking that the data's images are the
/// model's input and that --digits/--classes, if given, pick exactly the model's classes.
func modelClasses(_ model: Model, in data: Dataset, source: DataSource, dataOptions: DataOptions) throws -> [DataClass] {
    guard model.info.architecture.input == data.sampleShape else {
        throw ValidationError("the model takes \(shapeText(model.info.architecture.input)) inputs, the images of \(source) are \(shapeText(data.sampleShape))")
    }
    if let picked = try dataOptions.chosenClasses(in: data.classes), picked.map(\.name) != model.info.classes {
        throw ValidationError("the model classifies \(model.info.classes.joined(separator: ",")), not \(picked.map(\.name).joined(separator: ","))")
    }
    return try model.info.classes.map { name in
        guard let found = data.classes.first(where: { $0.name == name }) else {
            throw ValidationError("the model's class '\(name)' is not in the data (\(source))")
        }
        return found
    }
}
