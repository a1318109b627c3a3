import ArgumentParser
import ConvKit
import ConvKitBenchmark
import ConvKitFiles
import ConvKitVisualization
import Foundation

/// What a `train` run needs beyond the model to be continued by `--resume` with no other flags:
/// the recipe (as `recipe.*` checkpoint metadata) and where data comes from and results go
/// (`run.*`). The model's own metadata already holds its layers, loss, classes and input scaling.
struct RunSettings {
    var seed: UInt64
    var noShuffle: Bool
    var data: String?
    var save: String?
    var checkpoint: String?
    var checkpointEvery: Int
    /// Shares of every batch: MPI processes, or --shares in one process. A checkpoint resumes only with as many.
    var processes = 1
    /// --val-split: the fraction of each class held out of the training split to test on.
    var valSplit: Double?

    func metadata(_ recipe: Recipe) -> [String: String] {
        var m: [String: String] = [
            "recipe.arch": recipe.name,
            "recipe.optimizer": recipe.optimizer.rawValue,
            "recipe.lr": "\(recipe.learningRate)",
            "recipe.momentum": "\(recipe.momentum)",
            "recipe.weight_decay": "\(recipe.weightDecay)",
            "recipe.batch": String(recipe.batchSize),
            "recipe.epochs": String(recipe.epochs),
            "recipe.schedule": scheduleText(recipe.schedule),
            "recipe.beta1": "\(recipe.beta1)",
            "recipe.beta2": "\(recipe.beta2)",
            "recipe.label_smoothing": "\(recipe.labelSmoothing)",
            "recipe.augment": recipe.augmentation.description,
            "recipe.reshuffle": String(recipe.reshuffle),
            "recipe.per_class": recipe.perClass.map(String.init) ?? "all",
            "recipe.test_per_class": recipe.testPerClass.map(String.init) ?? "all",
            "recipe.seed": String(seed),
            "recipe.no_shuffle": String(noShuffle),
            "run.checkpoint_every": String(checkpointEvery),
        ]
        m["run.processes"] = String(processes)
        // Absolute, so --resume works from any directory.
        m["run.data"] = data.map(absolute)
        m["run.val_split"] = valSplit.map { "\($0)" }
        m["run.save"] = save.map(absolute)
        m["run.checkpoint"] = checkpoint.map(absolute)
        return m
    }

    /// Replaces the recipe and settings with a checkpoint's; every field must be there and valid.
    mutating func read(_ metadata: [String: String], into recipe: inout Recipe, file: String) throws {
        func field(_ key: String) throws -> String {
            guard let value = metadata[key] else { throw ModelFileError.badCheckpointField(file, key: key, value: "(missing)") }
            return value
        }
        func parsed<T>(_ key: String, _ parse: (String) -> T?) throws -> T {
            let text = try field(key)
            guard let value = parse(text) else { throw ModelFileError.badCheckpointField(file, key: key, value: text) }
            return value
        }
        func positive(_ s: String) -> Int? { Int(s).flatMap { $0 > 0 ? $0 : nil } }
        func count(_ s: String) -> Int?? { s == "all" ? .some(nil) : positive(s).map { .some($0) } }

        recipe = try parsed("recipe.arch") { Recipe.named($0) }
        recipe.optimizer = try parsed("recipe.optimizer") { OptimizerKind(rawValue: $0) }
        recipe.learningRate = try parsed("recipe.lr") { Float($0).flatMap { $0 > 0 && $0.isFinite ? $0 : nil } }
        recipe.momentum = try parsed("recipe.momentum") { Float($0).flatMap { $0 >= 0 && $0 < 1 ? $0 : nil } }
        recipe.weightDecay = try parsed("recipe.weight_decay") { Float($0).flatMap { $0 >= 0 && $0.isFinite ? $0 : nil } }
        recipe.batchSize = try parsed("recipe.batch", positive)
        recipe.epochs = try parsed("recipe.epochs") { Int($0).flatMap { $0 >= 0 ? $0 : nil } }
        recipe.schedule = try parsed("recipe.schedule") { try? parseSchedule($0) }
        // Checkpoints from before betas, smoothing and augmentation have none of these fields:
        // they trained with the defaults.
        func optional<T>(_ key: String, _ parse: (String) -> T?) throws -> T? {
            metadata[key] == nil ? nil : try parsed(key, parse)
        }
        func beta(_ s: String) -> Float? { Float(s).flatMap { $0 >= 0 && $0 < 1 ? $0 : nil } }
        if let b = try optional("recipe.beta1", beta) { recipe.beta1 = b }
        if let b = try optional("recipe.beta2", beta) { recipe.beta2 = b }
        if let e = try optional("recipe.label_smoothing", { Float($0).flatMap { $0 >= 0 && $0 < 1 ? $0 : nil } }) { recipe.labelSmoothing = e }
        if let a = try optional("recipe.augment", { try? Augmentation(parsing: $0) }) { recipe.augmentation = a }
        recipe.reshuffle = try parsed("recipe.reshuffle") { Bool($0) }
        recipe.perClass = try parsed("recipe.per_class", count)
        recipe.testPerClass = try parsed("recipe.test_per_class", count)
        seed = try parsed("recipe.seed") { UInt64($0) }
        noShuffle = try parsed("recipe.no_shuffle") { Bool($0) }
        checkpointEvery = try parsed("run.checkpoint_every", positive)
        // Checkpoints from before data-parallel training have no field: they were one process.
        processes = metadata["run.processes"] == nil ? 1 : try parsed("run.processes", positive)
        data = metadata["run.data"]
        valSplit = metadata["run.val_split"] == nil ? nil : try parsed("run.val_split") { Double($0).flatMap { $0 > 0 && $0 < 1 ? $0 : nil } }
        save = metadata["run.save"]
        checkpoint = metadata["run.checkpoint"]
    }
}

func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

func scheduleText(_ schedule: LearningRateSchedule) -> String {
    switch schedule {
    case .constant: "constant"
    case .cosine: "cosine"
    case .step(let every, let factor): "step:\(every):\(factor)"
    case .oneCycle: "onecycle"
    }
}

func parseSchedule(_ text: String) throws -> LearningRateSchedule {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    switch parts.first {
    case "constant" where parts.count == 1: return .constant
    case "cosine" where parts.count == 1: return .cosine
    case "onecycle" where parts.count == 1: return .oneCycle
    case "step" where parts.count == 3:
        if let every = Int(parts[1]), every > 0, let factor = Float(parts[2]), factor > 0, factor.isFinite {
            return .step(every: every, factor: factor)
        }
    default: break
    }
    throw ValidationError("--schedule is constant, cosine, onecycle or step:EPOCHS:FACTOR, got '\(text)'")
}

/// "B1,B2", each in [0, 1): Adam's betas.
func parseBetas(_ text: String) throws -> (Float, Float) {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Float($0) }
    guard parts.count == 2, let b1 = parts[0], let b2 = parts[1], b1 >= 0 && b1 < 1, b2 >= 0 && b2 < 1 else {
        throw ValidationError("--betas is two numbers in [0, 1) as B1,B2 (e.g. 0.9,0.999), got '\(text)'")
    }
    return (b1, b2)
}

func parseAugmentation(_ text: String) throws -> Augmentation {
    do { return try Augmentation(parsing: text) } catch { throw ValidationError("--augment: \(error.description)") }
}
