import Testing
@testable import ConvKit
import ConvKitFiles

/// Resume and repeatability at the library level: a run stopped after epoch k and continued from
/// its checkpoint ends bit-identical to one that never stopped; restore refuses inconsistent files.
@Suite struct CheckpointTests {
    /// 24 square images in two classes: class 1 has a bright bar, both have seeded noise.
    static func images(count: Int = 24, side: Int = 8) throws -> LabeledImages {
        var g = SeededGenerator(seed: 99)
        var pixels: [UInt8] = []
        for i in 0..<count {
            for r in 0..<side {
                for c in 0..<side { pixels.append(i % 2 == 1 && c == 3 ? 250 : UInt8(g.next() % 90) + UInt8(r + c)) }
            }
        }
        return try LabeledImages(bytes: pixels, sampleShape: [1, side, side], indices: Array(0..<count), labels: (0..<count).map { $0 % 2 }, classes: 2)
    }

    struct Setup {
        var optimizer: String
        var schedule: LearningRateSchedule
        var reshuffle: Bool
        var batch: Int
    }

    static let description = Model.Description(
        architecture: Architecture(input: [1, 8, 8], spec: "conv 3 3, relu, maxpool 2, flatten, dense 2"),
        loss: .softmaxCrossEntropy, digits: [0, 1], normalization: .unit)

    /// A freshly initialised model, or the one `file` holds, with a trainer for `setup`.
    static func trainer(_ setup: Setup, file: SafeTensorsFile? = nil, description: Model.Description = description) throws -> (Model, Trainer) {
        let model: Model
        if let file {
            model = try Model(file: file, path: "checkpoint")
        } else {
            model = try Model(description)
            var g = SeededGenerator(seed: 7)
            model.network.initialize(.auto, generator: &g)
        }
        let p = model.network.parameters
        let optimizer: Optimizer = switch setup.optimizer {
        case "adam": try Adam(parameters: p, learningRate: 0.01)
        case "momentum": try Momentum(parameters: p, learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4)
        case "nesterov": try Momentum(parameters: p, learningRate: 0.05, nesterov: true)
        default: try SGD(parameters: p, learningRate: 0.1)
        }
        let trainer = try Trainer(network: model.network, loss: model.loss, optimizer: optimizer, batchSize: setup.batch,
                              schedule: setup.schedule, reshuffle: setup.reshuffle, seed: 3)
        return (model, trainer)
    }

    /// A run of `epochs` epochs straight, and the same run stopped after epoch 2, checkpointed
    /// through the file's bytes and resumed, each `shares` shares of a batch: (straight, resumed).
    static func straightAndResumed(_ setup: Setup, description: Model.Description, shares: Int,
                                   epochs: Int) throws -> (full: Model, resumed: Model) {
        let data = try images()
        func trainer(_ file: SafeTensorsFile? = nil) throws -> (Model, Trainer) {
            let (m, t) = try Self.trainer(setup, file: file, description: description)
            return (m, try Trainer(network: m.network, loss: m.loss, optimizer: t.optimizer, batchSize: setup.batch,
                                   schedule: setup.schedule, reshuffle: setup.reshuffle, seed: 3, shares: shares))
        }
        let (full, fullTrainer) = try trainer()
        try fullTrainer.fit(data, epochs: 0..<epochs) { _ in }
        let (first, firstTrainer) = try trainer()
        try firstTrainer.fit(data, epochs: 0..<2, totalEpochs: epochs) { _ in }
        let file = try SafeTensorsFile.decode(bytes: try firstTrainer.checkpoint(of: first).encode(), file: "checkpoint")
        let (resumed, resumedTrainer) = try trainer(file)
        try resumedTrainer.restore(from: file, count: data.count, file: "checkpoint")
        try resumedTrainer.fit(data, epochs: 2..<epochs, totalEpochs: epochs) { _ in }
        return (full, resumed)
    }

    /// Every parameter and state value's bits, in order.
    static func bits(_ model: Model) -> [[UInt32]] {
        (model.network.parameters + model.network.state).map { $0.value.array.map(\.bitPattern) }
    }

    static func weights(_ model: Model) -> [[UInt32]] {
        model.network.parameters.map { $0.value.array.map(\.bitPattern) }
    }

    static let setups = [
        Setup(optimizer: "sgd", schedule: .constant, reshuffle: false, batch: 1),
        Setup(optimizer: "momentum", schedule: .step(every: 2, factor: 0.5), reshuffle: true, batch: 5),
        Setup(optimizer: "nesterov", schedule: .cosine, reshuffle: true, batch: 24),
        Setup(optimizer: "adam", schedule: .cosine, reshuffle: true, batch: 7),
    ]

    @Test("stopped after epoch 2 of 5 and resumed equals uninterrupted", arguments: setups.indices)
    func resumeIsExact(_ index: Int) throws {
        let setup = Self.setups[index], data = try Self.images(), epochs = 5
        let (full, fullTrainer) = try Self.trainer(setup)
        try fullTrainer.fit(data, epochs: 0..<epochs) { _ in }

        let (first, firstTrainer) = try Self.trainer(setup)
        try firstTrainer.fit(data, epochs: 0..<2, totalEpochs: epochs) { _ in }
        // Through the bytes, as a file on disk would be.
        let bytes = try firstTrainer.checkpoint(of: first, metadata: ["note": "test"]).encode()
        let file = try SafeTensorsFile.decode(bytes: bytes, file: "checkpoint")
        #expect(file.metadata["checkpoint.epoch"] == "2")

        let (resumed, resumedTrainer) = try Self.trainer(setup, file: file)
        try resumedTrainer.restore(from: file, count: data.count, file: "checkpoint")
        #expect(resumedTrainer.completedEpochs == 2 && resumedTrainer.generator == firstTrainer.generator)
        try resumedTrainer.fit(data, epochs: resumedTrainer.completedEpochs..<epochs, totalEpochs: epochs) { _ in }
        #expect(Self.weights(resumed) == Self.weights(full), "\(setup.optimizer)")
        #expect(resumedTrainer.completedSteps == fullTrainer.completedSteps)
    }

    @Test("the same seed gives the same weights on 1 and 2 threads")
    func threadsDoNotChangeResults() throws {
        // LeNet on 28×28 images in batches of 24: well above the size where the kernels start
        // using threads (8×8 images would stay on one thread and prove nothing).
        let lenet = Model.Description(architecture: .lenet(classes: 2), loss: .softmaxCrossEntropy, digits: [0, 1], normalization: .mnist)
        let setup = Setup(optimizer: "adam", schedule: .constant, reshuffle: true, batch: 24)
        var results: [[[UInt32]]] = []
        let before = Kernels.threads
        defer { Kernels.threads = before }
        for threads in [1, 2, 1] {
            Kernels.threads = threads
            let (model, trainer) = try Self.trainer(setup, description: lenet)
            try trainer.fit(try Self.images(count: 48, side: 28), epochs: 0..<2) { _ in }
            results.append(Self.weights(model))
        }
        #expect(results[0] == results[1] && results[1] == results[2])
    }

    // MARK: the recipe beside the checkpoint

    @Test("every preset's recipe survives its checkpoint metadata", arguments: Recipe.all.map(\.name))
    func recipeRoundTrip(_ name: String) throws {
        var recipe = try #require(Recipe.named(name))
        recipe.learningRate *= 0.5
        recipe.schedule = .step(every: 3, factor: 0.25)
        recipe.beta1 = 0.8
        recipe.labelSmoothing = 0.05
        recipe.augmentation = try Augmentation(maxShift: 1, flip: true)
        recipe.perClass = 17
        let metadata = recipe.metadata(seed: 42)
        let (decoded, seed) = try Recipe.decode(metadata: metadata, file: "c")
        #expect(seed == 42 && decoded.name == name)
        #expect(decoded.metadata(seed: seed) == metadata)
        #expect(decoded.schedule == .step(every: 3, factor: 0.25) && decoded.perClass == 17 && decoded.testPerClass == recipe.testPerClass)
    }

    @Test("a missing or bad recipe field names its key")
    func recipeFieldsAreChecked() throws {
        let metadata = Recipe.lenet.metadata(seed: 1)
        for (key, value) in [("recipe.lr", nil), ("recipe.lr", "-1"), ("recipe.schedule", "step:0:2"), ("recipe.arch", "resnet9000"),
                             ("recipe.batch", "0"), ("recipe.seed", "x")] as [(String, String?)] {
            var bad = metadata
            bad[key] = value
            #expect(throws: ModelFileError.badCheckpointField("c", key: key, value: value ?? "(missing)")) {
                _ = try Recipe.decode(metadata: bad, file: "c")
            }
        }
        // Older checkpoints have no betas, smoothing or augmentation: the defaults.
        var old = metadata
        for key in ["recipe.beta1", "recipe.beta2", "recipe.label_smoothing", "recipe.augment"] { old[key] = nil }
        let (recipe, _) = try Recipe.decode(metadata: old, file: "c")
        #expect(recipe.beta1 == Recipe.lenet.beta1 && recipe.augmentation == .none)
    }

    /// What a library user does without the CLI: train from a recipe, save a checkpoint file
    /// with the recipe in it, and later rebuild everything from that file alone.
    @Test("a run saved and resumed through the library alone equals one that never stopped")
    func libraryResumeFromRecipe() throws {
        var recipe = Recipe.custom
        (recipe.batchSize, recipe.epochs, recipe.schedule, recipe.learningRate) = (6, 4, .cosine, 3e-3)
        let data = try Self.images()
        func start(_ recipe: Recipe, seed: UInt64, file: SafeTensorsFile?) throws -> (Model, Trainer) {
            let model = try file.map { try Model(file: $0, path: "c") } ?? Model(Self.description)
            if file == nil {
                var g = SeededGenerator(seed: seed)
                model.network.initialize(recipe.weightInit, generator: &g)
            }
            let trainer = try Trainer(network: model.network, loss: model.loss,
                                      optimizer: recipe.makeOptimizer(parameters: model.network.parameters),
                                      batchSize: recipe.batchSize, schedule: recipe.schedule, reshuffle: recipe.reshuffle, seed: seed)
            return (model, trainer)
        }
        let (full, fullTrainer) = try start(recipe, seed: 9, file: nil)
        try fullTrainer.fit(data, epochs: 0..<recipe.epochs) { _ in }

        let (first, firstTrainer) = try start(recipe, seed: 9, file: nil)
        try firstTrainer.fit(data, epochs: 0..<2, totalEpochs: recipe.epochs) { _ in }
        let dir = TemporaryDirectory()
        let path = dir.path + "/run.safetensors"
        try firstTrainer.checkpoint(of: first, metadata: recipe.metadata(seed: 9)).write(path: path)

        let file = try SafeTensorsFile.read(path: path)
        let (saved, seed) = try Recipe.decode(metadata: file.metadata, file: path)
        let (resumed, resumedTrainer) = try start(saved, seed: seed, file: file)
        try resumedTrainer.restore(from: file, count: data.count, file: path)
        try resumedTrainer.fit(data, epochs: resumedTrainer.completedEpochs..<saved.epochs, totalEpochs: saved.epochs) { _ in }
        #expect(Self.weights(resumed) == Self.weights(full))
    }

    // MARK: restore refuses what does not fit

    func checkpointFile(_ setup: Setup = setups[3]) throws -> SafeTensorsFile {
        let (model, trainer) = try Self.trainer(setup)
        try trainer.fit(try Self.images(), epochs: 0..<1) { _ in }
        return trainer.checkpoint(of: model)
    }

    func restore(_ file: SafeTensorsFile, _ setup: Setup = setups[3]) throws {
        let (_, trainer) = try Self.trainer(setup, file: file)
        try trainer.restore(from: file, count: 24, file: "c.safetensors")
    }

    @Test func aPlainModelIsNotACheckpoint() throws {
        let (model, _) = try Self.trainer(Self.setups[0])
        #expect(throws: ModelFileError.notACheckpoint("c.safetensors")) { try restore(model.file()) }
    }

    @Test func optimizerMustMatch() throws {
        let file = try checkpointFile()
        #expect(throws: ModelFileError.optimizerMismatch("c.safetensors", found: "adam", expected: "momentum")) {
            try restore(file, Self.setups[1])
        }
    }

    @Test func optimizerStateMustBeComplete() throws {
        var file = try checkpointFile()
        file.tensors.removeAll { $0.name == "optimizer.v.1" }
        #expect(throws: ModelFileError.missingState("c.safetensors", tensor: "optimizer.v.1")) { try restore(file) }
    }

    @Test func optimizerStateMustHaveTheRightSize() throws {
        var file = try checkpointFile()
        let i = file.tensors.firstIndex { $0.name == "optimizer.m.0" }!
        file.tensors[i].tensor = try Tensor(zeros: [3])
        #expect(throws: ModelFileError.wrongStateSize("c.safetensors", tensor: "optimizer.m.0", found: 3, expected: 27)) {
            try restore(file)
        }
    }

    @Test func strayOptimizerTensorsAreRefused() throws {
        var file = try checkpointFile()
        file.tensors.append((name: "optimizer.velocity.0", tensor: try Tensor(zeros: [1])))
        #expect(throws: ModelFileError.unexpectedState("c.safetensors", tensor: "optimizer.velocity.0")) { try restore(file) }
    }

    @Test func countersAndPositionMustBeNumbers() throws {
        var file = try checkpointFile()
        file.metadata["optimizer.step"] = "many"
        #expect(throws: ModelFileError.badCheckpointField("c.safetensors", key: "optimizer.step", value: "many")) { try restore(file) }
        file = try checkpointFile()
        file.metadata["checkpoint.epoch"] = "-1"
        #expect(throws: ModelFileError.badCheckpointField("c.safetensors", key: "checkpoint.epoch", value: "-1")) { try restore(file) }
        file = try checkpointFile()
        file.metadata["checkpoint.step"] = "3"
        #expect(throws: ModelFileError.self) { try restore(file) }
    }

    @Test func anEditedGeneratorStateIsDetected() throws {
        var file = try checkpointFile()
        file.metadata["checkpoint.generator"] = "12345"
        #expect(throws: ModelFileError.generatorMismatch("c.safetensors")) { try restore(file) }
    }

    @Test func aCheckpointStillLoadsAsAModel() throws {
        let file = try checkpointFile()
        #expect(file.tensors.contains { $0.name.hasPrefix("optimizer.") })
        let model = try Model(file: file, path: "c.safetensors")
        #expect(model.info == Self.description)
    }
}
