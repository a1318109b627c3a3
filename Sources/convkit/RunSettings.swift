import ArgumentParser
import ConvKit
import ConvKitFiles
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

    /// The recipe (`Recipe.metadata(seed:)`, the library's codec) and the run's own fields.
    func metadata(_ recipe: Recipe) -> [String: String] {
        var m = recipe.metadata(seed: seed)
        m["recipe.no_shuffle"] = String(noShuffle)
        m["run.checkpoint_every"] = String(checkpointEvery)
        m["run.processes"] = String(processes)
        // Absolute, so --resume works from any directory.
        m["run.data"] = data.map(absolute)
        m["run.val_split"] = valSplit.map { "\($0)" }
        m["run.save"] = save.map(absolute)
        m["run.checkpoint"] = checkpoint.map(absolute)
        return m
    }

    /// Replaces the recipe and settings with a checkpoint's; every field must be there and valid.
    mutating func read(_ metadata: [String: String], into recipe: inout Recipe, file: String) throws(ModelFileError) {
        (recipe, seed) = try Recipe.decode(metadata: metadata, file: file)
        let fields = MetadataFields(metadata: metadata, file: file)
        func positive(_ s: String) -> Int? { Int(s).flatMap { $0 > 0 ? $0 : nil } }
        noShuffle = try fields.parsed("recipe.no_shuffle") { Bool($0) }
        checkpointEvery = try fields.parsed("run.checkpoint_every", positive)
        // Checkpoints from before data-parallel training have no field: they were one process.
        processes = try fields.optional("run.processes", positive) ?? 1
        data = metadata["run.data"]
        valSplit = try fields.optional("run.val_split") { Double($0).flatMap { $0 > 0 && $0 < 1 ? $0 : nil } }
        save = metadata["run.save"]
        checkpoint = metadata["run.checkpoint"]
    }
}

func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

func parseSchedule(_ text: String) throws -> LearningRateSchedule {
    guard let schedule = LearningRateSchedule(text: text) else {
        throw ValidationError("--schedule is constant, cosine, onecycle or step:EPOCHS:FACTOR, got '\(text)'")
    }
    return schedule
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
