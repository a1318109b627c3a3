import ConvKit

/// A recipe as checkpoint metadata: the `recipe.*` keys beside the trainer's own `checkpoint.*`
/// keys (`Trainer.checkpoint(of:metadata:)`), so a run saved by the library or by `convkit
/// train` resumes with the same settings, from either. The network's layers, loss, classes and
/// input scaling are not here: the model's own metadata holds them (`Model.Description`).
///
///     let file = trainer.checkpoint(of: model, metadata: recipe.metadata(seed: seed))
///     // … later, from the file:
///     let (recipe, seed) = try Recipe.decode(metadata: file.metadata, file: path)
extension Recipe {
    /// The recipe's settings and the run's seed as `recipe.*` metadata, every value as text.
    public func metadata(seed: UInt64) -> [String: String] {
        [
            "recipe.arch": name,
            "recipe.optimizer": optimizer.rawValue,
            "recipe.lr": "\(learningRate)",
            "recipe.momentum": "\(momentum)",
            "recipe.weight_decay": "\(weightDecay)",
            "recipe.batch": String(batchSize),
            "recipe.epochs": String(epochs),
            "recipe.schedule": schedule.text,
            "recipe.beta1": "\(beta1)",
            "recipe.beta2": "\(beta2)",
            "recipe.label_smoothing": "\(labelSmoothing)",
            "recipe.augment": augmentation.description,
            "recipe.reshuffle": String(reshuffle),
            "recipe.per_class": perClass.map(String.init) ?? "all",
            "recipe.test_per_class": testPerClass.map(String.init) ?? "all",
            "recipe.seed": String(seed),
        ]
    }

    /// The recipe and seed that `metadata(seed:)` wrote: the named preset (`recipe.arch`) with
    /// every stored setting put back. Throws `ModelFileError.badCheckpointField` naming `file` and the
    /// key of a field that is missing or out of range. Checkpoints from before Adam's betas,
    /// label smoothing and augmentation lack those keys; they trained with the defaults.
    public static func decode(metadata: [String: String], file: String) throws(ModelFileError) -> (recipe: Recipe, seed: UInt64) {
        let fields = MetadataFields(metadata: metadata, file: file)
        func positive(_ s: String) -> Int? { Int(s).flatMap { $0 > 0 ? $0 : nil } }
        func count(_ s: String) -> Int?? { s == "all" ? .some(nil) : positive(s).map { .some($0) } }
        func unit(_ s: String) -> Float? { Float(s).flatMap { $0 >= 0 && $0 < 1 ? $0 : nil } }
        func nonNegative(_ s: String) -> Float? { Float(s).flatMap { $0 >= 0 && $0.isFinite ? $0 : nil } }

        var recipe = try fields.parsed("recipe.arch") { Recipe.named($0) }
        recipe.optimizer = try fields.parsed("recipe.optimizer") { OptimizerKind(rawValue: $0) }
        recipe.learningRate = try fields.parsed("recipe.lr") { Float($0).flatMap { $0 > 0 && $0.isFinite ? $0 : nil } }
        recipe.momentum = try fields.parsed("recipe.momentum", unit)
        recipe.weightDecay = try fields.parsed("recipe.weight_decay", nonNegative)
        recipe.batchSize = try fields.parsed("recipe.batch", positive)
        recipe.epochs = try fields.parsed("recipe.epochs") { Int($0).flatMap { $0 >= 0 ? $0 : nil } }
        recipe.schedule = try fields.parsed("recipe.schedule") { LearningRateSchedule(text: $0) }
        if let b = try fields.optional("recipe.beta1", unit) { recipe.beta1 = b }
        if let b = try fields.optional("recipe.beta2", unit) { recipe.beta2 = b }
        if let e = try fields.optional("recipe.label_smoothing", unit) { recipe.labelSmoothing = e }
        if let a = try fields.optional("recipe.augment", { try? Augmentation(parsing: $0) }) { recipe.augmentation = a }
        recipe.reshuffle = try fields.parsed("recipe.reshuffle") { Bool($0) }
        recipe.perClass = try fields.parsed("recipe.per_class", count)
        recipe.testPerClass = try fields.parsed("recipe.test_per_class", count)
        let seed = try fields.parsed("recipe.seed") { UInt64($0) }
        return (recipe, seed)
    }
}

/// Typed reading of text metadata: a missing or unparsable value is `ModelFileError.badCheckpointField`.
package struct MetadataFields {
    package let metadata: [String: String]
    package let file: String

    package init(metadata: [String: String], file: String) {
        (self.metadata, self.file) = (metadata, file)
    }

    package func parsed<T>(_ key: String, _ parse: (String) -> T?) throws(ModelFileError) -> T {
        guard let text = metadata[key] else { throw .badCheckpointField(file, key: key, value: "(missing)") }
        guard let value = parse(text) else { throw .badCheckpointField(file, key: key, value: text) }
        return value
    }

    /// nil when the key is absent; throws like `parsed` when present and bad.
    package func optional<T>(_ key: String, _ parse: (String) -> T?) throws(ModelFileError) -> T? {
        metadata[key] == nil ? nil : try parsed(key, parse)
    }
}

extension LearningRateSchedule {
    /// The schedule as `--schedule` and checkpoints write it: `constant`, `cosine`, `onecycle`
    /// or `step:EVERY:FACTOR`.
    public var text: String {
        switch self {
        case .constant: "constant"
        case .cosine: "cosine"
        case .step(let every, let factor): "step:\(every):\(factor)"
        case .oneCycle: "onecycle"
        }
    }

    /// The schedule `text` names, or nil for anything else, including a step schedule whose
    /// `every` is below 1 or whose factor is not positive and finite.
    public init?(text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.first {
        case "constant" where parts.count == 1: self = .constant
        case "cosine" where parts.count == 1: self = .cosine
        case "onecycle" where parts.count == 1: self = .oneCycle
        case "step" where parts.count == 3:
            guard let every = Int(parts[1]), every > 0, let factor = Float(parts[2]), factor > 0, factor.isFinite else { return nil }
            self = .step(every: every, factor: factor)
        default: return nil
        }
    }
}
