import Foundation
import Testing
@testable import ConvKit
import ConvKitFiles
import ConvKitVisualization

/// Label smoothing, augmentation, the one-cycle schedule and Adam's betas (issues 11 and 12):
/// each against an independent reference, and a run using all four resumed bit for bit.
@Suite("Label smoothing, augmentation, one-cycle, Adam's betas")
struct TrainingFeaturesTests {
    static func fixture() throws -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/training_features.json")
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    static func random(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { _ in (g.nextUnitFloat() * 2 - 1) * scale }
    }

    static func oneHot(_ labels: [Int], classes: Int) -> [Float] {
        var t = [Float](repeating: 0, count: labels.count * classes)
        for (n, label) in labels.enumerated() { t[n * classes + label] = 1 }
        return t
    }

    /// Deliberately naive float64 cross-entropy against smoothed targets, straight from the
    /// definition: y' = (1−ε)·y + ε/K, E = −(1/N) Σ_n Σ_k y'_k log softmax(z_n)_k,
    /// ∂E/∂z = (softmax(z) − y')/N.
    static func reference(logits: [Float], targets: [Float], batch: Int, classes: Int, epsilon: Double) -> (Double, [Double]) {
        var loss = 0.0, gradient = [Double](repeating: 0, count: logits.count)
        for n in 0..<batch {
            let z = (0..<classes).map { Double(logits[n * classes + $0]) }
            let e = z.map { Foundation.exp($0) }, sum = e.reduce(0, +)
            for k in 0..<classes {
                let y = (1 - epsilon) * Double(targets[n * classes + k]) + epsilon / Double(classes)
                loss -= y * Foundation.log(e[k] / sum)
                gradient[n * classes + k] = (e[k] / sum - y) / Double(batch)
            }
        }
        return (loss / Double(batch), gradient)
    }

    static func evaluate(_ loss: some Loss, _ logits: [Float], _ targets: [Float], batch: Int, classes: Int) -> (Float, [Float]) {
        var gradient = [Float](repeating: .nan, count: logits.count)
        let value = loss.loss(unsafeOutputs: logits, targets: targets, gradient: &gradient, batch: batch, classes: classes)
        return (value, gradient)
    }

    // MARK: label smoothing

    @Test("smoothed loss and gradient match a float64 reference", arguments: [0.0, 0.1, 0.3, 0.9] as [Float])
    func smoothingMatchesReference(_ epsilon: Float) throws {
        let (batch, classes) = (6, 7)
        let logits = Self.random(batch * classes, seed: 5, scale: 4), labels = [0, 6, 3, 3, 1, 5]
        let targets = Self.oneHot(labels, classes: classes)
        let (value, gradient) = Self.evaluate(try SoftmaxCrossEntropy(labelSmoothing: epsilon), logits, targets, batch: batch, classes: classes)
        let (expected, expectedGradient) = Self.reference(logits: logits, targets: targets, batch: batch, classes: classes,
                                                          epsilon: Double(epsilon))
        #expect(abs(Double(value) - expected) <= 1e-5 * max(1, abs(expected)), "loss \(value) vs \(expected)")
        let worst = zip(gradient, expectedGradient).map { abs(Double($0) - $1) }.max()!
        #expect(worst < 1e-6, "largest gradient difference \(worst)")
    }

    @Test("the gradient is the loss's slope (central differences in float64 on the reference)")
    func smoothingGradientIsTheSlope() throws {
        let (batch, classes) = (3, 5), epsilon = 0.2
        let logits = Self.random(batch * classes, seed: 8, scale: 2), targets = Self.oneHot([4, 0, 2], classes: classes)
        let (_, gradient) = Self.evaluate(try SoftmaxCrossEntropy(labelSmoothing: Float(epsilon)), logits, targets, batch: batch, classes: classes)
        // The float32 loss itself, differenced with a step large against its rounding.
        let loss = try SoftmaxCrossEntropy(labelSmoothing: Float(epsilon))
        for i in 0..<logits.count {
            let h: Float = 1e-2
            var up = logits, down = logits
            up[i] += h
            down[i] -= h
            let slope = (Self.evaluate(loss, up, targets, batch: batch, classes: classes).0
                - Self.evaluate(loss, down, targets, batch: batch, classes: classes).0) / (2 * h)
            #expect(abs(slope - gradient[i]) < 2e-3, "logit \(i): slope \(slope), gradient \(gradient[i])")
        }
    }

    @Test("PyTorch's CrossEntropyLoss(label_smoothing:) gives the same loss and gradient")
    func smoothingMatchesPyTorch() throws {
        let cases = try #require(try Self.fixture()["label_smoothing"] as? [[String: Any]])
        #expect(cases.count == 3)
        let logits = NetworkTests.pattern(20, 11).map { $0 * 3 }
        for c in cases {
            let epsilon = Float(try #require(c["epsilon"] as? Double)), labels = try #require(c["labels"] as? [Int])
            let (value, gradient) = Self.evaluate(try SoftmaxCrossEntropy(labelSmoothing: epsilon), logits,
                                                  Self.oneHot(labels, classes: 5), batch: 4, classes: 5)
            let expected = try #require(c["loss"] as? Double), expectedGradient = try #require(c["gradient"] as? [Double])
            #expect(abs(Double(value) - expected) < 1e-5, "ε \(epsilon): \(value) vs \(expected)")
            let worst = zip(gradient, expectedGradient).map { abs(Double($0) - $1) }.max()!
            #expect(worst < 1e-6, "ε \(epsilon): largest gradient difference \(worst)")
        }
    }

    @Test("ε = 0 is the plain loss bit for bit; ε > 0 is not")
    func zeroSmoothingIsPlain() throws {
        let (batch, classes) = (5, 10)
        let logits = Self.random(batch * classes, seed: 3, scale: 6), targets = Self.oneHot([9, 0, 4, 4, 7], classes: classes)
        let plain = Self.evaluate(SoftmaxCrossEntropy(), logits, targets, batch: batch, classes: classes)
        let zero = Self.evaluate(try SoftmaxCrossEntropy(labelSmoothing: 0), logits, targets, batch: batch, classes: classes)
        let some = Self.evaluate(try SoftmaxCrossEntropy(labelSmoothing: 0.1), logits, targets, batch: batch, classes: classes)
        #expect(plain.0.bitPattern == zero.0.bitPattern)
        #expect(plain.1.map(\.bitPattern) == zero.1.map(\.bitPattern))
        #expect(some.0 != plain.0 && some.1 != plain.1)
        #expect(SoftmaxCrossEntropy() == (try SoftmaxCrossEntropy(labelSmoothing: 0)))
        #expect(try SoftmaxCrossEntropy.softmaxCrossEntropy(labelSmoothing: 0.1).labelSmoothing == 0.1)
    }

    @Test("smoothing outside [0, 1) is a typed error", arguments: [-0.01, 1, 1.5, .nan, .infinity] as [Float])
    func badSmoothing(_ epsilon: Float) {
        #expect(throws: LossError.self) { try SoftmaxCrossEntropy(labelSmoothing: epsilon) }
    }

    @Test("correct counts still work when targets are smoothed (no entry is 1)")
    func countingSmoothedTargets() {
        // Outputs pick classes 2, 0, 1; the truths are 2, 1, 1.
        let outputs: [Float] = [0, 1, 5, 3, 1, 0, 0, 4, 1]
        let oneHot = Self.oneHot([2, 1, 1], classes: 3)
        let smoothed = oneHot.map { 0.9 * $0 + 0.1 / 3 }
        #expect(countCorrect(outputs, targets: oneHot, batch: 3, classes: 3) == 2)
        #expect(countCorrect(outputs, targets: smoothed, batch: 3, classes: 3) == 2)
        #expect(countCorrect(outputs, targets: [Float](repeating: 0, count: 9), batch: 3, classes: 3) == 0)
    }

    @Test("Sequential.trainingStep uses the loss it is given, even after a step with another smoothing")
    func trainingStepTakesTheNewLoss() throws {
        func run(_ losses: [SoftmaxCrossEntropy]) throws -> [Float] {
            let net = try Architecture(input: [4], spec: "dense 3").build()
            var g = SeededGenerator(seed: 1)
            net.initialize(.auto, generator: &g)
            let optimizer = try SGD(parameters: net.parameters, learningRate: 0.1)
            let x = try Tensor(shape: [2, 4], scalars: Self.random(8, seed: 2))
            return try losses.map { try net.trainingStep(inputs: x, labels: [0, 2], loss: $0, optimizer: optimizer) }
        }
        let smooth = try SoftmaxCrossEntropy(labelSmoothing: 0.5)
        let mixed = try run([SoftmaxCrossEntropy(), smooth]), same = try run([SoftmaxCrossEntropy(), SoftmaxCrossEntropy()])
        #expect(mixed[0] == same[0])
        #expect(mixed[1] != same[1], "the second step reused the first loss")
    }

    // MARK: augmentation

    /// A sample whose every value says where it came from: channel·1000 + y·100 + x + 1.
    static func labelledSample(channels: Int, height: Int, width: Int) -> [Float] {
        var v: [Float] = []
        for c in 0..<channels { for y in 0..<height { for x in 0..<width { v.append(Float(c * 1000 + y * 100 + x + 1)) } } }
        return v
    }

    @Test("a shift moves the content by exactly (dy, dx) and zeroes what it vacates",
          arguments: [(0, 0), (2, 1), (-1, 3), (3, -2), (-2, -2), (0, 4), (-4, 0), (9, 0)])
    func shiftMovesContent(_ move: (Int, Int)) {
        let (c, h, w) = (2, 5, 6), (dy, dx) = move
        let original = Self.labelledSample(channels: c, height: h, width: w)
        var moved = original
        Augmentation.Transform(dy: dy, dx: dx, flip: false).apply(to: &moved, channels: c, height: h, width: w)
        for k in 0..<c {
            for y in 0..<h {
                for x in 0..<w {
                    let (sy, sx) = (y - dy, x - dx)
                    let inside = (0..<h).contains(sy) && (0..<w).contains(sx)
                    #expect(moved[(k * h + y) * w + x] == (inside ? original[(k * h + sy) * w + sx] : 0), "(\(k), \(y), \(x))")
                }
            }
        }
    }

    @Test("flip mirrors each row; flip∘flip is the identity (odd and even widths)", arguments: [5, 6])
    func flipTwiceIsIdentity(_ width: Int) {
        let (c, h) = (3, 4)
        let original = Self.labelledSample(channels: c, height: h, width: width)
        var once = original
        let flip = Augmentation.Transform(dy: 0, dx: 0, flip: true)
        flip.apply(to: &once, channels: c, height: h, width: width)
        #expect(once != original)
        for k in 0..<c {
            for y in 0..<h { for x in 0..<width { #expect(once[(k * h + y) * width + x] == original[(k * h + y) * width + width - 1 - x]) } }
        }
        var twice = once
        flip.apply(to: &twice, channels: c, height: h, width: width)
        #expect(twice == original)
    }

    @Test("transforms depend only on (seed, epoch, position): repeatable, varied, within ±k")
    func transformsAreKeyed() throws {
        let a = try Augmentation(maxShift: 2, flip: true)
        let first = (0..<500).map { a.transform(seed: 7, epoch: 3, position: $0) }
        #expect(first == (0..<500).map { a.transform(seed: 7, epoch: 3, position: $0) })
        #expect(first != (0..<500).map { a.transform(seed: 7, epoch: 4, position: $0) })
        #expect(first != (0..<500).map { a.transform(seed: 8, epoch: 3, position: $0) })
        // Neighbouring positions differ (25 shifts × 2 flips: a repeat is possible, all equal is not).
        #expect(Set(first.map { "\($0.dy),\($0.dx),\($0.flip)" }).count == 50, "every transform appears in 500 draws")
        #expect(first.allSatisfy { abs($0.dy) <= 2 && abs($0.dx) <= 2 })
        let flips = first.filter(\.flip).count
        #expect(flips > 200 && flips < 300, "\(flips) flips of 500")
        // Flipping on or off does not move anyone's shift; no augmentation draws nothing.
        let shiftOnly = try Augmentation(maxShift: 2)
        #expect((0..<500).map { shiftOnly.transform(seed: 7, epoch: 3, position: $0) }
            == first.map { Augmentation.Transform(dy: $0.dy, dx: $0.dx, flip: false) })
        #expect(Augmentation.none.transform(seed: 7, epoch: 3, position: 9) == .init(dy: 0, dx: 0, flip: false))
    }

    @Test("a batch augmented whole equals it augmented in two shares at their positions")
    func sharesSeeTheSameTransforms() throws {
        let a = try Augmentation(maxShift: 3, flip: true), (n, c, h, w) = (7, 1, 6, 6)
        let batch = Self.random(n * c * h * w, seed: 4)
        var whole = batch, split = batch
        a.apply(to: &whole, count: n, channels: c, height: h, width: w, seed: 1, epoch: 2, firstPosition: 10)
        split.withUnsafeMutableBufferPointer { p in
            a.apply(to: p.baseAddress!, count: 3, channels: c, height: h, width: w, seed: 1, epoch: 2, firstPosition: 10)
            a.apply(to: p.baseAddress! + 3 * c * h * w, count: 4, channels: c, height: h, width: w, seed: 1, epoch: 2, firstPosition: 13)
        }
        #expect(whole.map(\.bitPattern) == split.map(\.bitPattern))
        #expect(whole != batch)
        let tensor = try a.applied(to: try Tensor(shape: [n, c, h, w], scalars: batch), seed: 1, epoch: 2, firstPosition: 10)
        #expect(tensor.scalars == whole)
        #expect(throws: AugmentationError.notAnImage([36])) { try a.applied(to: try Tensor(shape: [n, 36], scalars: batch), seed: 1, epoch: 0) }
    }

    @Test("the trainer keys each sample by its position in the epoch: 2 shares agree with the whole batch to rounding")
    func trainerPositionsAcrossShares() throws {
        let data = try CheckpointTests.images()
        func weights(shares: Int, augmentation: Augmentation) throws -> [Float] {
            let (model, trainer) = try Self.everything(shares: shares)
            trainer.augmentation = augmentation
            try trainer.fit(data, epochs: 0..<2) { _ in }
            return model.network.parameters.flatMap(\.value.array)
        }
        func largestDifference(_ a: [Float], _ b: [Float]) -> Float {
            zip(a, b).map { abs($0 - $1) / max(abs($1), 1e-2) }.max()!
        }
        let augmentation = try Augmentation(maxShift: 2, flip: true)
        let whole = try weights(shares: 1, augmentation: augmentation), split = try weights(shares: 2, augmentation: augmentation)
        // Shares only change the order gradients are summed in; a second share transformed as if
        // it started the batch would train on other images, like no augmentation at all does.
        #expect(largestDifference(split, whole) < 1e-3)
        #expect(largestDifference(try weights(shares: 1, augmentation: .none), whole) > 1e-2)
    }

    @Test("parsing and printing round-trip; bad text and shifts are typed errors")
    func augmentationText() throws {
        for text in ["none", "shift:2", "flip", "shift:2,flip"] { #expect(try Augmentation(parsing: text).description == text) }
        #expect(try Augmentation(parsing: "flip,shift:3") == Augmentation(maxShift: 3, flip: true))
        for bad in ["", "shift", "shift:0", "shift:-1", "shift:x", "flip,flip", "shift:1,shift:2", "flip,", "rotate", "none,flip"] {
            #expect(throws: AugmentationError.badSpec(bad)) { try Augmentation(parsing: bad) }
        }
        #expect(throws: AugmentationError.badShift(-1)) { try Augmentation(maxShift: -1) }
        #expect(throws: AugmentationError.badShift(Augmentation.shiftLimit + 1)) { try Augmentation(maxShift: Augmentation.shiftLimit + 1) }
    }

    @Test("the trainer augments training batches (weights change) but never evaluation")
    func trainerAugmentsOnlyTraining() throws {
        let data = try CheckpointTests.images()
        func train(_ augmentation: Augmentation) throws -> (Model, Trainer) {
            let setup = CheckpointTests.Setup(optimizer: "sgd", schedule: .constant, reshuffle: true, batch: 5)
            let (model, trainer) = try CheckpointTests.trainer(setup)
            trainer.augmentation = augmentation
            try trainer.fit(data, epochs: 0..<2) { _ in }
            return (model, trainer)
        }
        let (plain, _) = try train(.none), (augmented, trainer) = try train(try Augmentation(maxShift: 2, flip: true))
        #expect(CheckpointTests.weights(plain) != CheckpointTests.weights(augmented))
        // Evaluation with the augmenting trainer is the network's own, unaugmented evaluation.
        let viaTrainer = try trainer.evaluate(data), direct = try augmented.network.evaluate(data, loss: augmented.loss, batchSize: 256)
        #expect(viaTrainer.loss == direct.loss && viaTrainer.confusion == direct.confusion)
        // A network taking flat vectors has no rows to shift.
        let flat = try Model(Model.Description(architecture: Architecture(input: [64], spec: "dense 2"), loss: .softmaxCrossEntropy,
                                               digits: [0, 1], normalization: .unit))
        let flatTrainer = try Trainer(network: flat.network, loss: flat.loss, optimizer: try SGD(parameters: flat.network.parameters, learningRate: 0.1),
                                      batchSize: 4)
        flatTrainer.augmentation = try Augmentation(maxShift: 1)
        let flatData = try LabeledImages(floats: Self.random(8 * 64, seed: 1), sampleShape: [64], labels: [0, 1, 0, 1, 0, 1, 0, 1])
        #expect(throws: AugmentationError.notAnImage([64])) { try flatTrainer.fit(flatData, epochs: 0..<1) { _ in } }
    }

    @Test("show draws the stored and augmented images as two sections of tiles")
    func augmentedMosaic() throws {
        let samples = try Tensor(shape: [3, 1, 5, 5], scalars: (0..<75).map { Float($0 % 7) })
        let mosaic = try KernelImage.augmented(samples, by: try Augmentation(maxShift: 1, flip: true), seed: 0, epoch: 0)
        #expect(mosaic.sections.count == 2 && mosaic.placements.count == 6)
        #expect(mosaic.sections[0].tiles.map(\.values) == (0..<3).map { Array(samples.scalars[($0 * 25)..<($0 * 25 + 25)]) })
        #expect(mosaic.sections[1].tiles.map(\.values) != mosaic.sections[0].tiles.map(\.values))
    }

    // MARK: one-cycle

    @Test("one-cycle follows PyTorch's OneCycleLR step by step")
    func oneCycleMatchesPyTorch() throws {
        let cases = try #require(try Self.fixture()["one_cycle"] as? [[String: Any]])
        #expect(cases.count == 3)
        for c in cases {
            let base = Float(try #require(c["base"] as? Double)), total = try #require(c["total_steps"] as? Int)
            let rates = try #require(c["rates"] as? [Double])
            #expect(rates.count == total)
            for (step, expected) in rates.enumerated() {
                let rate = LearningRateSchedule.oneCycle.rate(base: base, epoch: 0, step: step, totalSteps: total)
                #expect(abs(Double(rate) - expected) <= 1e-6 * expected, "T \(total) step \(step): \(rate) vs \(expected)")
            }
        }
    }

    @Test("one-cycle's key points: base/25 at the start, base at 30 %, base/25e4 at the end")
    func oneCycleShape() {
        let base: Float = 0.01, total = 100
        func rate(_ step: Int) -> Float { LearningRateSchedule.oneCycle.rate(base: base, epoch: 0, step: step, totalSteps: total) }
        #expect(abs(rate(0) - base / 25) < 1e-9)
        #expect(abs(rate(29) - base) < 1e-9)
        #expect(abs(rate(99) - base / 25 / 1e4) < 1e-12)
        // Halfway up (step 14.5) the cosine is at the mean of its ends; rising, then falling.
        #expect(abs((rate(14) + rate(15)) / 2 - (base / 25 + base) / 2) < 1e-4)
        #expect((1..<30).allSatisfy { rate($0) > rate($0 - 1) })
        #expect((30..<100).allSatisfy { rate($0) < rate($0 - 1) })
    }

    // MARK: Adam's betas and the whole recipe

    @Test("the recipe's betas reach Adam and change its steps")
    func betasReachAdam() throws {
        var recipe = Recipe.lenet
        (recipe.beta1, recipe.beta2) = (0.7, 0.9)
        let p = [try Parameter(name: "weight", shape: [3])]
        let adam = try #require(try recipe.makeOptimizer(parameters: p) as? Adam)
        #expect(adam.beta1 == 0.7 && adam.beta2 == 0.9 && adam.epsilon == 1e-8)
        // Two steps with gradients 1 then −1: (m, v) after the second step depend on the betas.
        func run(_ beta1: Float, _ beta2: Float) throws -> Float {
            let q = try Parameter(name: "weight", shape: [1])
            let a = try Adam(parameters: [q], learningRate: 0.1, beta1: beta1, beta2: beta2)
            for g: Float in [1, -1] { q.gradient.pointer[0] = g; a.step() }
            return q.value.pointer[0]
        }
        // By hand: m1 = (1−β1), v1 = (1−β2), step 1 moves by −lr·1; m2 = β1(1−β1) − (1−β1), v2 = (1−β2)(β2+1).
        func expected(_ b1: Double, _ b2: Double) -> Double {
            let m2 = b1 * (1 - b1) - (1 - b1), v2 = (1 - b2) * b2 + (1 - b2)
            let mHat = m2 / (1 - b1 * b1), vHat = v2 / (1 - b2 * b2)
            return -0.1 - 0.1 * mHat / (vHat.squareRoot() + 1e-8)
        }
        #expect(abs(Double(try run(0.7, 0.9)) - expected(0.7, 0.9)) < 1e-5)
        #expect(abs(Double(try run(0.9, 0.999)) - expected(0.9, 0.999)) < 1e-5)
        #expect(try run(0.7, 0.9) != run(0.9, 0.999))
    }

    /// Smoothing, shift-and-flip augmentation, one-cycle and Adam (0.7, 0.9) together.
    static func everything(file: SafeTensorsFile? = nil, shares: Int = 1) throws -> (Model, Trainer) {
        let model: Model
        if let file {
            model = try Model(file: file, path: "checkpoint")
        } else {
            model = try Model(CheckpointTests.description)
            var g = SeededGenerator(seed: 7)
            model.network.initialize(.auto, generator: &g)
        }
        let adam = try Adam(parameters: model.network.parameters, learningRate: 0.01, beta1: 0.7, beta2: 0.9)
        let trainer = try Trainer(network: model.network, loss: try SoftmaxCrossEntropy(labelSmoothing: 0.1), optimizer: adam,
                                  batchSize: 5, schedule: .oneCycle, reshuffle: true, seed: 3, shares: shares)
        trainer.augmentation = try Augmentation(maxShift: 2, flip: true)
        return (model, trainer)
    }

    @Test("smoothing + augmentation + one-cycle + betas: stopped after epoch 2 of 5 and resumed equals uninterrupted",
          arguments: [1, 2])
    func resumeIsExact(_ shares: Int) throws {
        let data = try CheckpointTests.images(), epochs = 5
        let (full, fullTrainer) = try Self.everything(shares: shares)
        try fullTrainer.fit(data, epochs: 0..<epochs) { _ in }

        let (first, firstTrainer) = try Self.everything(shares: shares)
        try firstTrainer.fit(data, epochs: 0..<2, totalEpochs: epochs) { _ in }
        let file = try SafeTensorsFile.decode(bytes: try firstTrainer.checkpoint(of: first).encode(), file: "checkpoint")
        let (resumed, resumedTrainer) = try Self.everything(file: file, shares: shares)
        try resumedTrainer.restore(from: file, count: data.count, file: "checkpoint")
        try resumedTrainer.fit(data, epochs: resumedTrainer.completedEpochs..<epochs, totalEpochs: epochs) { _ in }
        #expect(CheckpointTests.weights(resumed) == CheckpointTests.weights(full))

        // And the features did something: without them the weights differ.
        let (plain, plainTrainer) = try CheckpointTests.trainer(.init(optimizer: "adam", schedule: .oneCycle, reshuffle: true, batch: 5))
        try plainTrainer.fit(data, epochs: 0..<epochs) { _ in }
        #expect(CheckpointTests.weights(plain) != CheckpointTests.weights(full))
    }
}
