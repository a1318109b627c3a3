import ConvKit
/// Training saved mid-way, in one safetensors file: the model's weights and layer state (batch
/// norm's running statistics) under their PyTorch names (so `evaluate`, `predict` and PyTorch read
/// it as a model, and a resumed run continues bit for bit), the optimizer's buffers as
/// `optimizer.<name>` tensors, and in `__metadata__` the optimizer's name and counters, the
/// epochs and steps done and the shuffling generator's state, beside whatever the caller adds
/// (the recipe, `Recipe.metadata(seed:)`, so the file alone resumes the run).
///
/// The shuffled order is not stored: each epoch shuffles the previous one with the trainer's
/// generator, so `restore` rebuilds it by replaying the shuffles from the seed, and checks that
/// the replay lands on the saved generator state.
extension Trainer {
    static let checkpointFormat = "1"

    /// The model and everything `restore` needs to continue where training stands now.
    public func checkpoint(of model: Model, metadata extra: [String: String] = [:]) -> SafeTensorsFile {
        var metadata = extra
        metadata["checkpoint"] = Self.checkpointFormat
        metadata["checkpoint.epoch"] = String(completedEpochs)
        metadata["checkpoint.step"] = String(completedSteps)
        metadata["checkpoint.generator"] = String(generator.state)
        metadata["optimizer"] = optimizer.name
        for (key, value) in optimizer.counters { metadata["optimizer.\(key)"] = String(value) }
        let state = optimizer.state.map { (name: "optimizer.\($0.name)", tensor: Tensor(unchecked: [$0.buffer.count], $0.buffer.array)) }
        return model.file(extraTensors: state, extraMetadata: metadata)
    }

    /// Puts the optimizer state, epoch, step count, generator and shuffled order of a checkpoint
    /// into this trainer, whose network already holds the checkpoint's weights (`Model.load`).
    /// `count` is the number of training images, which the order covers. `file` names it in errors.
    /// Throws `ModelFileError` (`.notACheckpoint`, `.optimizerMismatch`, …) and changes nothing
    /// when the checkpoint does not fit this run.
    public func restore(from checkpoint: SafeTensorsFile, count: Int, file: String) throws(ModelFileError) {
        let metadata = checkpoint.metadata
        guard metadata["checkpoint"] == Self.checkpointFormat else { throw .notACheckpoint(file) }
        let found = metadata["optimizer"] ?? "none"
        guard found == optimizer.name else { throw .optimizerMismatch(file, found: found, expected: optimizer.name) }
        func integer<T: FixedWidthInteger>(_ key: String, _: T.Type) throws(ModelFileError) -> T {
            let text = metadata[key] ?? ""
            guard let value = T(text), value >= 0 else { throw .badCheckpointField(file, key: key, value: text) }
            return value
        }
        let epochs = try integer("checkpoint.epoch", Int.self), steps = try integer("checkpoint.step", Int.self)
        let saved = SeededGenerator(seed: try integer("checkpoint.generator", UInt64.self))
        guard epochs <= 1_000_000 else { throw .badCheckpointField(file, key: "checkpoint.epoch", value: String(epochs)) }
        let stepsPerEpoch = (count + batchSize - 1) / batchSize
        guard steps == epochs * stepsPerEpoch else {
            throw .badCheckpointField(file, key: "checkpoint.step", value: "\(steps) (\(epochs) epochs of \(stepsPerEpoch) steps)")
        }

        let buffers = optimizer.state
        let expected = Set(buffers.map { "optimizer.\($0.name)" })
        if let stray = checkpoint.tensors.first(where: { $0.name.hasPrefix("optimizer.") && !expected.contains($0.name) }) {
            throw .unexpectedState(file, tensor: stray.name)
        }
        var values: [(Buffer, [Float])] = []
        for (name, buffer) in buffers {
            guard let tensor = checkpoint["optimizer.\(name)"] else { throw .missingState(file, tensor: "optimizer.\(name)") }
            guard tensor.count == buffer.count else {
                throw .wrongStateSize(file, tensor: "optimizer.\(name)", found: tensor.count, expected: buffer.count)
            }
            values.append((buffer, tensor.scalars))
        }
        var counters: [String: Int] = [:]
        for key in optimizer.counters.keys { counters[key] = try integer("optimizer.\(key)", Int.self) }

        var replayed = initialGenerator
        var replayedOrder = Array(0..<count)
        if reshuffle { for _ in 0..<epochs { replayed.shuffle(&replayedOrder) } }
        guard replayed == saved else { throw .generatorMismatch(file) }

        // Nothing is changed until every check has passed.
        for (buffer, scalars) in values { buffer.copy(from: scalars) }
        optimizer.counters = counters
        generator = replayed
        order = replayedOrder
        completedEpochs = epochs
        completedSteps = steps
    }
}
