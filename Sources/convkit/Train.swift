import ArgumentParser
import ConvKit
import ConvKitFiles
import Foundation

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a network on MNIST or another data set (default: the tutorial's 0-vs-1 experiment on MNIST).")

    @Option(help: "Preset: tutorial (the default), lenet, fast, fashion (Fashion-MNIST), cifar (32×32 colour, needs --data), resnet (a small ResNet for 32×32 colour, needs --data), or custom (the defaults for your own --layers and data).")
    var arch: String?
    @Option(help: "Your own layers, e.g. \"conv 8 5, relu, maxpool 2, flatten, dense 10\": training defaults from --arch, else from custom; the init and loss fit the network unless given.")
    var layers: String?
    @Option(help: "Loss: bce or softmax-ce.") var loss: String?
    @Option(help: "Optimizer: sgd, momentum, nesterov or adam.") var optimizer: String?
    @Option(parsing: .unconditional, help: "Epochs.") var epochs: Int?
    @Option(parsing: .unconditional, help: "Learning rate.") var lr: Float?
    @Option(parsing: .unconditional, help: "Minibatch size.") var batch: Int?
    @Option(help: "Momentum for momentum and nesterov.") var momentum: Float?
    @Option(help: "L2 weight decay.") var weightDecay: Float?
    @Option(help: "Learning-rate schedule: constant, cosine, onecycle, or step:EPOCHS:FACTOR.") var schedule: String?
    @Option(help: "Adam's β1,β2, each in [0, 1) (default 0.9,0.999).") var betas: String?
    @Option(help: "Label smoothing ε in [0, 1) for softmax-ce: targets (1−ε)·one-hot + ε/classes.") var labelSmoothing: Float?
    @Option(help: "Training augmentation, seeded, never at evaluation: none, or shift:K (up to K pixels each way) and/or flip, e.g. shift:2,flip.")
    var augment: String?
    @Option(help: "Weight init: normal, he, glorot, auto or pytorch.") var weightInit: String?
    @Option(help: "Seed for initialisation, shuffling and --val-split.") var seed: UInt64 = 0
    @Option(help: "Input scaling: the recipe's (default), unit (pixel/255), mnist, or measured (each channel's mean and std on the training images).")
    var normalize: String?
    @Option(help: "Training images per class, or all.") var perClass: Count?
    @Option(help: "Test images per class, or all.") var testPerClass: Count?
    @Flag(help: "Keep the selected images in file order.") var noShuffle = false
    @Option(help: "Start from this model file (its architecture is used).") var `init`: String?
    @Option(help: "Save the trained model here (safetensors).") var save: String?
    @Option(help: "Write one line per epoch here as training goes: JSON Lines, or CSV if the name ends in .csv.") var log: String?
    @Option(help: "Save a checkpoint (model, optimizer state, epoch, generator, recipe) here.") var checkpoint: String?
    @Option(help: "Checkpoint every N epochs (and after the last).") var checkpointEvery: Int?
    @Option(help: "Continue from this checkpoint with its recipe; only --epochs, --save, --checkpoint(-every), --data and compute options may be given.")
    var resume: String?
    @Option(help: "Run each batch as N contiguous shares whose gradients are summed in order: one process doing exactly what mpirun -np N does (for comparing).")
    var shares: Int?
    @Flag(help: "Print one JSON object at the end instead of the report.") var json = false
    @Option(help: ArgumentHelp("Write the exact training and test images of this run to DIR as IDX files (train-images.idx, train-labels.idx, test-…), and their digests to --json's data_digest: for running another framework on the same data.", valueName: "dir"))
    var exportData: String?
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number, got \(lr)") }
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1, got \(batch)") }
        if let epochs, epochs < 0 { throw ValidationError("--epochs must be 0 or more, got \(epochs)") }
        if let momentum, !(momentum >= 0 && momentum < 1) { throw ValidationError("--momentum must be in [0, 1), got \(momentum)") }
        if let weightDecay, !(weightDecay >= 0 && weightDecay.isFinite) { throw ValidationError("--weight-decay must be 0 or more") }
        if let betas { _ = try parseBetas(betas) }
        if let labelSmoothing, !(labelSmoothing >= 0 && labelSmoothing < 1) {
            throw ValidationError("--label-smoothing must be in [0, 1), got \(labelSmoothing)")
        }
        if let augment { _ = try parseAugmentation(augment) }
        if let shares, shares < 1 { throw ValidationError("--shares must be at least 1, got \(shares)") }
        if let checkpointEvery, checkpointEvery < 1 { throw ValidationError("--checkpoint-every must be at least 1, got \(checkpointEvery)") }
        if checkpointEvery != nil, checkpoint == nil, resume == nil { throw ValidationError("--checkpoint-every needs --checkpoint FILE") }
        if resume != nil {
            let recipeOptions: [(String, Bool)] = [
                ("--arch", arch != nil), ("--layers", layers != nil), ("--loss", loss != nil), ("--optimizer", optimizer != nil),
                ("--lr", lr != nil), ("--batch", batch != nil), ("--momentum", momentum != nil), ("--weight-decay", weightDecay != nil),
                ("--schedule", schedule != nil), ("--weight-init", weightInit != nil), ("--seed", seed != 0),
                ("--per-class", perClass != nil), ("--test-per-class", testPerClass != nil), ("--no-shuffle", noShuffle),
                ("--init", `init` != nil), ("--digits", dataOptions.digits != nil), ("--betas", betas != nil),
                ("--label-smoothing", labelSmoothing != nil), ("--augment", augment != nil),
                ("--classes", dataOptions.classes != nil), ("--val-split", dataOptions.valSplit != nil), ("--normalize", normalize != nil),
            ]
            if let given = recipeOptions.first(where: \.1) {
                throw ValidationError("--resume takes the recipe from the checkpoint; drop \(given.0)")
            }
        }
        if let normalize, !["unit", "mnist", "measured"].contains(normalize) {
            throw ValidationError("--normalize is unit, mnist or measured, got '\(normalize)'")
        }
        if normalize != nil, `init` != nil { throw ValidationError("--init takes the input scaling from the model; drop --normalize") }
        if let arch, Recipe.named(arch) == nil {
            throw ValidationError("unknown --arch '\(arch)' (\(Recipe.all.map(\.name).joined(separator: ", ")))")
        }
    }

    func run() throws {
        compute.apply()
        // Under mpirun: data-parallel, one share of every batch per process (docs/mpi-design.md).
        let processes = ProcessGroup.launchedSize != nil ? try ProcessGroup.world : nil
        let group = processes.flatMap { $0.size > 1 ? $0 : nil }
        if let group {
            if shares != nil { throw ValidationError("--shares is the one-process stand-in for mpirun; drop it under mpirun") }
            if compute.threads == nil {
                let local = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) } ?? group.size
                Kernels.threads = max(1, ProcessInfo.processInfo.activeProcessorCount / max(local, 1))
            }
        }
        let isMain = group?.isMain ?? true
        let console = Console(quiet: json || !isMain)
        // Your own layers train with the defaults for your own network unless a preset is named.
        var recipe = arch.flatMap(Recipe.named) ?? (layers == nil ? .tutorial : .custom)
        var settings = RunSettings(seed: seed, noShuffle: noShuffle, data: dataOptions.data, save: save,
                                   checkpoint: checkpoint, checkpointEvery: checkpointEvery ?? 1,
                                   processes: group?.size ?? shares ?? 1)
        var resumed: SafeTensorsFile?
        settings.valSplit = dataOptions.valSplit

        // The model, when it comes from a checkpoint or a file; otherwise it is built once the
        // data says what its input and classes are.
        var given: Model?
        if let resume {
            let loaded = try Model.load(path: resume)
            guard loaded.file.metadata["checkpoint"] != nil else { throw ModelFileError.notACheckpoint(resume) }
            let parts = settings.processes
            try settings.read(loaded.file.metadata, into: &recipe, file: resume)
            guard settings.processes == parts else {
                throw ValidationError("\(resume) was trained as \(settings.processes) share(s) of each batch; resume it with mpirun -np \(settings.processes) (or --shares \(settings.processes)), not \(parts)")
            }
            if let epochs { recipe.epochs = epochs }
            if let data = dataOptions.data { settings.data = data }
            if let save { settings.save = save }
            if let checkpoint { settings.checkpoint = checkpoint }
            if let checkpointEvery { settings.checkpointEvery = checkpointEvery }
            (given, resumed) = (loaded.model, loaded.file)
        } else {
            try applyOverrides(to: &recipe)
            // A preset's init and loss are for the preset's own network (the tutorial's N(0, 1)
            // and binary cross-entropy would cripple most others): your layers get what fits them.
            if let layers {
                if weightInit == nil { recipe.weightInit = Recipe.custom.weightInit }
                if loss == nil { recipe.loss = LossKind.suited(to: Architecture(spec: layers)) }
            }
            if let initPath = `init` { given = try Model.load(path: initPath).model }
        }

        // The data: where the checkpoint's came from, or as the options say.
        var dataOptions = self.dataOptions
        (dataOptions.data, dataOptions.valSplit) = (settings.data, settings.valSplit)
        if dataOptions.data == nil { dataOptions.data = try Self.defaultData(for: recipe.name) }
        settings.data = dataOptions.data
        let (seed, noShuffle) = (settings.seed, settings.noShuffle)
        let source = try dataOptions.source()
        // Only the bundled MNIST can stop reading early, and only for classes known before it is read.
        var early: [Int]?
        if source.verifyChecksums, dataOptions.valSplit == nil, dataOptions.classes == nil {
            early = given.map(\.info.digits) ?? dataOptions.digits?.digits ?? recipe.digits
            if early?.isEmpty == true { early = nil }
        }
        var (trainSet, testSet) = try dataOptions.splits(source, seed: seed,
                                                         train: early.map { Selection(labels: $0, perClass: recipe.perClass) },
                                                         test: early.map { Selection(labels: $0, perClass: recipe.testPerClass) })
        // Classes by name: a model's must all be in the data; the options pick from the data;
        // by default IDX data takes the recipe's digits (MNIST's tutorial: 0 and 1) and other data every class.
        let chosen: [DataClass]
        if let given {
            chosen = try given.info.classes.map { name in
                guard let found = trainSet.classes.first(where: { $0.name == name }) else {
                    throw ValidationError("the model's class '\(name)' is not in the data (\(source))")
                }
                return found
            }
            if let picked = try dataOptions.chosenClasses(in: trainSet.classes), picked != chosen {
                throw ValidationError("--digits/--classes \(picked.map(\.name)) differ from the model's \(given.info.classes)")
            }
            guard given.info.architecture.input == trainSet.sampleShape else {
                throw ValidationError("the model takes \(shapeText(given.info.architecture.input)) inputs, the data's images are \(shapeText(trainSet.sampleShape))")
            }
        } else if let picked = try dataOptions.chosenClasses(in: trainSet.classes) {
            chosen = picked
        } else if source.format == .idx, !recipe.digits.isEmpty {
            let names = recipe.digits.map(String.init)
            if let missing = names.first(where: { name in !trainSet.classes.contains { $0.name == name } }) {
                throw ValidationError("--arch \(recipe.name) trains on digits \(names.joined(separator: ",")) but the data has no class '\(missing)'; pick classes with --classes")
            }
            chosen = try dataOptions.pick(names, in: trainSet.classes, flag: "--arch \(recipe.name)", byIndex: false)
        } else {
            chosen = trainSet.classes
        }
        testSet.classes = trainSet.classes
        let trainSelection = Selection(labels: chosen.map { Int($0.label) }, perClass: recipe.perClass)
        let testSelection = Selection(labels: chosen.map { Int($0.label) }, perClass: recipe.testPerClass)
        let trainSubset = try trainSet.select(trainSelection, shuffleSeed: noShuffle ? nil : seed)
        let testSubset = try testSet.select(testSelection)
        let train = try trainSet.labeledImages(trainSubset), test = try testSet.labeledImages(testSubset)
        if isMain { for warning in Self.classWarnings(train: train, test: test, names: chosen.map(\.name)) { writeStandardError("warning: \(warning)\n") } }
        var dataDigest: [String: Any]?
        if let exportData, group?.isMain ?? true {
            dataDigest = try Self.export(train: train, test: test, to: exportData)
        }

        let model: Model
        if let given {
            model = given
        } else {
            var architecture = layers.map { Architecture(spec: $0) } ?? recipe.architecture(chosen.count)
            architecture.input = trainSet.sampleShape
            let measure = normalize == "measured" || (normalize == nil && recipe.measuresNormalization)
            let normalization = measure
                ? try InputNormalization.measured(from: train, channels: trainSet.channels) : recipe.normalization
            do {
                model = try Model(.init(architecture: architecture, loss: recipe.loss, classes: chosen.map(\.name), normalization: normalization))
            } catch {
                throw layers == nil ? error : ValidationError("--layers: \(error.description)")
            }
            var generator = SeededGenerator(seed: seed)
            model.network.initialize(recipe.weightInit, generator: &generator)
        }
        let classes = model.info.classes
        // Every process starts from rank 0's weights (the same seed gives the same, but a file
        // read by one process only, or a different build, must not start a run apart).
        if let group { for p in model.network.parameters + model.network.state { try group.broadcast(p.value) } }

        model.network.variant = compute.kernels
        let optimizer = try recipe.makeOptimizer(parameters: model.network.parameters)
        let loss: any Loss
        if recipe.labelSmoothing > 0 {
            guard model.info.loss == .softmaxCrossEntropy else {
                throw ValidationError("--label-smoothing needs the softmax-ce loss; this model uses \(model.info.loss.rawValue)")
            }
            loss = try SoftmaxCrossEntropy(labelSmoothing: recipe.labelSmoothing)
        } else {
            loss = model.loss
        }
        let trainer = try Trainer(network: model.network, loss: loss, optimizer: optimizer, batchSize: recipe.batchSize,
                              schedule: recipe.schedule, normalization: model.info.normalization,
                              reshuffle: recipe.reshuffle && !noShuffle, seed: seed, processes: group,
                              shares: group == nil ? settings.processes : 1)
        trainer.augmentation = recipe.augmentation
        if let resumed, let resume { try trainer.restore(from: resumed, count: train.count, file: resume) }
        guard trainer.completedEpochs <= recipe.epochs else {
            throw ValidationError("the checkpoint is at epoch \(trainer.completedEpochs), past --epochs \(recipe.epochs)")
        }
        let checkpointMetadata = settings.metadata(recipe)

        if !Kernels.openMP { writeStandardError(Self.noOpenMPNote) }
        console.line("ConvKit \(ConvKit.version) · \(recipe.name) · \(Kernels.threads) thread\(Kernels.threads == 1 ? "" : "s") · \(compute.kernels.rawValue) kernels")
        console.line(model.network.summary)
        console.line()
        if source.verifyChecksums, dataOptions.valSplit == nil, !model.info.digits.isEmpty {
            console.line("data: digits \(classes.joined(separator: ",")) · \(train.count) training images · \(test.count) test images")
        } else {
            let names = classes.joined(separator: ",")
            console.line("data: \(source) · \(classes.count) classes (\(names.count > 120 ? names.prefix(120) + "…" : names)) · \(shapeText(trainSet.sampleShape)) · \(train.count) training images · \(test.count) \(dataOptions.valSplit.map { "held-out (--val-split \($0))" } ?? "test") images")
        }
        console.line("training: \(model.loss.name), \(optimizer.name) lr \(recipe.learningRate), batch \(recipe.batchSize), \(recipe.epochs) epochs, init \(given == nil ? recipe.weightInit.rawValue : "from \(resume ?? `init` ?? "the model")"), seed \(seed)\(trainingExtras(recipe))")
        console.line()

        var reports: [EpochReport] = []
        let logWriter = try log.flatMap { isMain ? $0 : nil }.map { path throws(TrainingLogError) in try TrainingLogWriter(path: path) }
        let width = String(recipe.epochs).count
        if trainer.completedEpochs > 0 { console.line("resumed from \(resume!) after epoch \(trainer.completedEpochs)") }
        // A checkpoint is written only after an epoch whose loss and weights were all finite,
        // so a diverging run leaves the last good one in place.
        try trainer.fit(train, epochs: trainer.completedEpochs..<recipe.epochs, totalEpochs: recipe.epochs, test: test, onProgress: { done, total in
            Console.progress("epoch \(trainer.completedEpochs + 1): \(done)/\(total)")
        }) { report in
            Console.clearProgress()
            reports.append(report)
            try logWriter?.append(report)
            let epoch = String(report.epoch).leftPadded(to: width)
            console.line("epoch \(epoch)/\(recipe.epochs)  loss \(String(format: "%.4f", report.loss))  train \(percent(report.accuracy))  test \(percent(report.testAccuracy ?? 0))  \(String(format: "%.3f s", report.seconds))")
            if isMain, let path = settings.checkpoint, report.epoch % settings.checkpointEvery == 0 || report.epoch == recipe.epochs {
                try trainer.checkpoint(of: model, metadata: checkpointMetadata).write(path: path)
            }
        }

        let evaluation = try trainer.evaluate(test)
        let trainSeconds = reports.reduce(0) { $0 + $1.seconds }
        let samplesPerSecond = trainSeconds > 0 ? Double(train.count * reports.count) / trainSeconds : 0
        if isMain, let save = settings.save { try model.save(to: save) }
        if let processes { try processes.finalize() }
        guard isMain else { return }

        if json {
            print(jsonString([
                "arch": recipe.name, "layers": model.info.architecture.spec, "digits": classes.map(jsonClass), "classes": classes,
                "data": source.description, "seed": seed,
                "threads": Kernels.threads, "kernels": compute.kernels.rawValue,
                "train_images": train.count, "test_images": test.count,
                "test_accuracy": evaluation.accuracy, "test_loss": evaluation.loss,
                "train_seconds": trainSeconds, "samples_per_second": samplesPerSecond,
                "epochs": reports.map { r -> [String: Any] in
                    ["epoch": r.epoch, "loss": r.loss, "accuracy": r.accuracy, "test_accuracy": r.testAccuracy ?? NSNull(),
                     "seconds": r.seconds, "learning_rate": r.learningRate]
                },
                "confusion": evaluation.confusion,
                "recipe": recipeReport(recipe, normalization: model.info.normalization, loss: model.info.loss),
                "data_digest": dataDigest.map { $0 as Any } ?? NSNull(), "export_data": exportData.map(absolute) ?? NSNull(),
            ]))
        } else {
            console.line()
            console.line("trained \(reports.count) epochs in \(String(format: "%.2f", trainSeconds)) s (\(Int(samplesPerSecond.rounded())) samples/s)")
            console.line("test accuracy \(percent(evaluation.accuracy)) (\(evaluation.correct)/\(evaluation.total))")
            console.line()
            console.line(confusionTable(evaluation.confusion, classes: classes))
            if let save = settings.save { console.line("\nsaved \(save)") }
        }
    }

    /// Classes a user would want to hear about before training: one with training images but
    /// no test images (its accuracy cannot be measured: often a stray or corrupt label), and one
    /// with fewer than 1 % of the median class's training images (too few to learn).
    static func classWarnings(train: LabeledImages, test: LabeledImages, names: [String]) -> [String] {
        let trainCounts = train.classCounts, testCounts = test.classCounts
        let median = trainCounts.sorted()[trainCounts.count / 2]
        var warnings: [String] = []
        for (k, name) in names.enumerated() {
            let (n, m) = (trainCounts[k], testCounts[k])
            let untested = n > 0 && m == 0 && test.count > 0, rare = 100 * n < median
            guard untested || rare else { continue }
            warnings.append("class '\(name)' has \(n) training image\(n == 1 ? "" : "s")"
                            + (rare ? " (under 1 % of the median class's \(median))" : "")
                            + (untested ? " and no test images" : " and \(m) test image\(m == 1 ? "" : "s")"))
        }
        return warnings
    }

    /// --export-data: both splits as IDX files in `directory` (made if missing), and their digests.
    static func export(train: LabeledImages, test: LabeledImages, to directory: String) throws -> [String: Any] {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ValidationError("--export-data: cannot make the folder \(directory)")
        }
        var digests: [String: Any] = [:]
        for (name, set) in [("train", train), ("test", test)] {
            try set.writeIDX(directory: directory, prefix: name)
            let d = set.digest
            digests[name] = ["count": d.count, "labels_sha256": d.labels, "samples_sha256": d.samples]
        }
        return digests
    }

    /// Where a recipe for another data set than the bundled MNIST finds its data without --data.
    static func defaultData(for recipe: String) throws -> String? {
        switch recipe {
        case "fashion":
            let debian = "/usr/share/datasets/fashion-mnist"
            guard FileManager.default.fileExists(atPath: debian) else {
                throw ValidationError("--arch fashion reads Fashion-MNIST from \(debian) (apt-get install dataset-fashion-mnist), or pass --data DIR")
            }
            return debian
        case "cifar", "resnet":
            throw ValidationError("--arch \(recipe) needs --data DIR: CIFAR-10 or CIFAR-100 binary files, or an image folder of 32×32 colour images")
        default:
            return nil
        }
    }

    /// Said once per run by a build without OpenMP, which trains on one thread.
    static var noOpenMPNote: String {
        #if os(macOS)
        let install = "brew install libomp"
        #else
        let install = "apt-get install libomp-dev"
        #endif
        return "note: this build has no OpenMP, so training runs on one thread; \(install), then rm -rf .build and build again\n"
    }

    func applyOverrides(to recipe: inout Recipe) throws {
        if let loss {
            guard let kind = LossKind(rawValue: loss) else { throw ValidationError("unknown --loss '\(loss)' (bce, softmax-ce)") }
            recipe.loss = kind
        }
        if let optimizer {
            guard let kind = OptimizerKind(rawValue: optimizer) else {
                throw ValidationError("unknown --optimizer '\(optimizer)' (sgd, momentum, nesterov, adam)")
            }
            recipe.optimizer = kind
        }
        if let epochs { recipe.epochs = epochs }
        if let lr { recipe.learningRate = lr }
        if let batch { recipe.batchSize = batch }
        if let momentum { recipe.momentum = momentum }
        if let weightDecay { recipe.weightDecay = weightDecay }
        if let schedule { recipe.schedule = try parseSchedule(schedule) }
        if let betas {
            guard recipe.optimizer == .adam else { throw ValidationError("--betas is for adam, not \(recipe.optimizer.rawValue)") }
            (recipe.beta1, recipe.beta2) = try parseBetas(betas)
        }
        if let labelSmoothing { recipe.labelSmoothing = labelSmoothing }
        if let augment { recipe.augmentation = try parseAugmentation(augment) }
        if let weightInit {
            guard let scheme = WeightInit(rawValue: weightInit) else {
                throw ValidationError("unknown --weight-init '\(weightInit)' (normal, he, glorot, auto, pytorch)")
            }
            recipe.weightInit = scheme
        }
        if let perClass { recipe.perClass = perClass.value }
        if let testPerClass { recipe.testPerClass = testPerClass.value }
        if normalize == "unit" { recipe.normalization = .unit }
        if normalize == "mnist" { recipe.normalization = .mnist }
    }
}

/// The settings a run has beyond the defaults, for the "training:" line.
/// The recipe in `--json`'s report, under the names of train's options: enough for another
/// framework to run the same recipe (Benchmarks/torch_train.py does).
func recipeReport(_ recipe: Recipe, normalization: InputNormalization, loss: LossKind) -> [String: Any] {
    // As the float prints (0.1, not 0.10000000149), which is what the user typed.
    func decimal(_ x: Float) -> Double { Double("\(x)") ?? Double(x) }
    return [
        "optimizer": recipe.optimizer.rawValue, "lr": decimal(recipe.learningRate), "momentum": decimal(recipe.momentum),
        "betas": "\(recipe.beta1),\(recipe.beta2)", "weight_decay": decimal(recipe.weightDecay), "batch": recipe.batchSize,
        "epochs": recipe.epochs, "schedule": recipe.schedule.text, "label_smoothing": decimal(recipe.labelSmoothing),
        "augment": recipe.augmentation.isIdentity ? "" : "\(recipe.augmentation)", "weight_init": recipe.weightInit.rawValue, "loss": loss.rawValue,
        "normalization": normalization == .mnist ? "mnist" : normalization == .unit ? "unit" : "measured",
    ]
}

func trainingExtras(_ recipe: Recipe) -> String {
    var items: [String] = []
    if recipe.schedule != .constant { items.append("schedule \(recipe.schedule.text)") }
    if recipe.optimizer == .adam, recipe.beta1 != 0.9 || recipe.beta2 != 0.999 { items.append("betas \(recipe.beta1),\(recipe.beta2)") }
    if recipe.labelSmoothing > 0 { items.append("label smoothing \(recipe.labelSmoothing)") }
    if !recipe.augmentation.isIdentity { items.append("augment \(recipe.augmentation)") }
    return items.map { ", " + $0 }.joined()
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
