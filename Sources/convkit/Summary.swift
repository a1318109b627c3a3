import ArgumentParser
import ConvKit
import ConvKitFiles

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a network's layers, output shapes, parameters and FLOPs per image.")

    @Option(help: "A model file (safetensors).") var model: String?
    @Option(help: "A preset: tutorial, lenet, fast, fashion, cifar or resnet.") var arch: String?
    @Option(help: "Custom layers, e.g. \"conv 8 5, relu, maxpool 2, flatten, dense 10\".") var layers: String?
    @OptionGroup var dataOptions: DataOptions

    func validate() throws {
        guard [model != nil, arch != nil, layers != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --model, --arch and --layers")
        }
        if let arch, Recipe.named(arch) == nil {
            throw ValidationError("unknown --arch '\(arch)' (\(Recipe.all.map(\.name).joined(separator: ", ")))")
        }
    }

    func run() throws {
        let network: Sequential
        let architecture: Architecture
        if let model {
            let loaded = try Model.load(path: model).model
            (network, architecture) = (loaded.network, loaded.info.architecture)
            let digits = loaded.info.digits
            print("\(model): " + (digits.isEmpty ? "classes \(loaded.info.classes.joined(separator: ","))" : "digits \(digits.map(String.init).joined(separator: ","))") + ", loss \(loaded.info.loss)")
        } else {
            let classes = dataOptions.digits?.digits.count ?? Recipe.named(arch ?? "tutorial")!.digits.count
            architecture = layers.map { Architecture(spec: $0) } ?? Recipe.named(arch!)!.architecture(classes)
            network = try architecture.build()
        }
        print("input \(architecture.input.map(String.init).joined(separator: "×")): \(architecture.spec)\n")
        print(network.summary)
        let bytes = network.parameterCount * 4
        print("\nweights: \(bytes) bytes as float32 (\(String(format: "%.1f", Double(bytes) / 1024)) KiB)")
    }
}
