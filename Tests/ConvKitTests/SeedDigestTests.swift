import Foundation
import Testing
import ConvKit
import ConvKitFiles

/// The same seed gives the same weights, bit for bit, across refactors: each run below trains a
/// few steps from a seed and hashes every parameter, every layer's state and every reported loss.
/// A change of arithmetic that is meant (a new kernel summing in another order) records new
/// digests here and says why in its commit; code that only moves must leave them as they are.
///
/// The digests depend on the vector width the kernels were built with (`Kernels.simdLanes`):
/// a sum along a vector's lanes (a kernel gradient, a dense layer's dot products, batch norm's
/// statistics) adds its terms in another order with 16 lanes than with 8, and even the scalar
/// run shares the bias gradient's sum with the SIMD one. So each run has a digest per width: 16
/// where the CPU has AVX-512, 8 elsewhere; an x86 machine records the 8-lane ones with
/// `CONVKIT_MARCH=x86-64-v3` (docs/testing.md). History: recorded before issue 18's restructuring;
/// re-recorded when narrow planes moved to the channel-last kernels and when their input gradient
/// came to run along the input channels (issue 19). The 16-lane digests were recorded when the
/// kernels went to 16 lanes on AVX-512 (issue 19); the 8-lane ones are still those of before
/// then: with 8 lanes the new layouts choose the old kernels' sums where they fill the lanes best.
/// The runs with batch norm were re-recorded for both widths when its statistics came to be taken
/// plane by plane (each plane's squares about its own mean, moved to the channel's; four running
/// sums a plane), so that a convolution can take them as it writes its output. The two runs whose
/// padded convolutions reach the masked kernel gradient (AVX-512 only, its lanes now the plane's
/// own positions rather than the padded copy's) were re-recorded for 16 lanes; the runs whose
/// dense layers' inputs are not a whole number of vectors, when the last few products came to be
/// added as one more masked vector rather than after the lanes' sum (the tutorial net on 8 lanes
/// too: 3380 inputs); the runs with Adam, for both widths, when it came to take lr/c1 and 1/√c2
/// once per call (one division a value instead of three).
@Suite struct SeedDigestTests {
    /// SHA-256 of the network's parameters and state (little-endian float bits, in layer order)
    /// followed by the losses.
    static func digest(_ network: Sequential, losses: [Float]) -> String {
        var bytes: [UInt8] = []
        for p in network.parameters + network.state {
            for i in 0..<p.count { withUnsafeBytes(of: p.value.pointer[i].bitPattern.littleEndian) { bytes += $0 } }
        }
        for l in losses { withUnsafeBytes(of: l.bitPattern.littleEndian) { bytes += $0 } }
        return SHA256.hexDigest(SHA256.hash(bytes))
    }

    /// Images of `shape` from a seed, with labels that depend on the pixels (so training learns).
    static func data(count: Int, shape: [Int], classes: Int, seed: UInt64) throws -> LabeledImages {
        var g = SeededGenerator(seed: seed)
        let per = shape.reduce(1, *)
        var bytes = [UInt8](repeating: 0, count: count * per), labels: [Int] = []
        for n in 0..<count {
            let label = Int(g.next() % UInt64(classes))
            labels.append(label)
            for i in 0..<per {
                let ink = (i * 7 + label * per / classes) % per < per / (classes + 1)
                bytes[n * per + i] = ink ? UInt8(160 + g.next() % 96) : UInt8(g.next() % 48)
            }
        }
        return try LabeledImages(bytes: bytes, sampleShape: shape, labels: labels, classes: classes)
    }

    struct Run: CustomTestStringConvertible, Sendable {
        var name: String
        var spec: String
        var input: [Int]
        var classes: Int
        var optimizer: String  // "sgd", "momentum", "adam"
        var loss: LossKind
        var batch: Int
        var shares = 1
        var variant: Kernels.Variant = .simd
        var augment = false
        var init_: WeightInit = .pytorch
        /// By vector width.
        var expected: [Int: String]
        var testDescription: String { name }
    }

    /// The digest recorded for this build's vector width.
    static func recorded(_ byLanes: [Int: String]) -> String {
        byLanes[Kernels.simdLanes] ?? "none recorded for \(Kernels.simdLanes)-lane kernels"
    }

    static func train(_ run: Run) throws -> String {
        let network = try Architecture(input: run.input, spec: run.spec).build()
        network.variant = run.variant
        var g = SeededGenerator(seed: 7)
        network.initialize(run.init_, generator: &g)
        let optimizer: Optimizer = switch run.optimizer {
        case "sgd": try SGD(parameters: network.parameters, learningRate: 0.05)
        case "momentum": try Momentum(parameters: network.parameters, learningRate: 0.02, momentum: 0.9, weightDecay: 1e-4)
        default: try Adam(parameters: network.parameters, learningRate: 2e-3)
        }
        let loss: any Loss = run.loss == .binaryCrossEntropy ? BinaryCrossEntropy() : try SoftmaxCrossEntropy(labelSmoothing: 0.1)
        let trainer = try Trainer(network: network, loss: loss, optimizer: optimizer, batchSize: run.batch,
                                  schedule: .cosine, normalization: try InputNormalization(mean: 0.2, std: 0.3),
                                  reshuffle: true, seed: 11, shares: run.shares)
        if run.augment { trainer.augmentation = try Augmentation(maxShift: 2, flip: true) }
        let data = try data(count: 52, shape: run.input, classes: run.classes, seed: 3)
        var losses: [Float] = []
        try trainer.fit(data, epochs: 0..<2) { losses.append(Float($0.loss)) }
        return digest(network, losses: losses)
    }

    static let runs: [Run] = [
        Run(name: "tutorial net, SGD batch 1 (fused update), BCE", spec: Architecture.tutorial(classes: 2).spec,
            input: [1, 28, 28], classes: 2, optimizer: "sgd", loss: .binaryCrossEntropy, batch: 1, init_: .normal,
            expected: [8: "bc38c09ae491b9c0ab9d4f11d15034075b395669c83bb3f4279d73cef4cd2cd6",
                       16: "6210631867f6e6f0e7435e974e10d7432c84d5bdcb8f46de53c48441a98a9d25"]),
        Run(name: "LeNet, momentum, batch 8, scalar kernels", spec: Architecture.lenet(classes: 10).spec,
            input: [1, 28, 28], classes: 10, optimizer: "momentum", loss: .softmaxCrossEntropy, batch: 8, variant: .scalar,
            expected: [8: "da315910b73e1e763f107f9837e0e9e19c8b759d6982658f309e12b1dc8b4bd4",
                       16: "4f905fcefe922d46aadec3ebc13720396ae5d196265a16c784f6ddee8e325bfd"]),
        Run(name: "padded, strided, batch norm, dropout, Adam, augmented",
            spec: "conv 8 3 pad 1, batchnorm, relu, maxpool 2, conv 16 3 pad 1 stride 2, batchnorm, relu, avgpool 2 1, "
                + "conv 16 3 pad same nobias, relu, globalavgpool, flatten, dropout 0.25, dense 10",
            input: [3, 16, 16], classes: 10, optimizer: "adam", loss: .softmaxCrossEntropy, batch: 12, augment: true,
            expected: [8: "b2e5285d3b5c667334fe7ef11bcbb1936c1139ecd4375de35487bf1846e55187",
                       16: "7c3f6bdb25d8ab2348253bfce3fd7c9cf4dd19edc44727a67bc0ac0cbdf9987b"]),
        Run(name: "the same in 3 shares", spec: "conv 8 3 pad 1, batchnorm, relu, maxpool 2, conv 16 3 pad 1 stride 2, batchnorm, "
                + "relu, avgpool 2 1, conv 16 3 pad same nobias, relu, globalavgpool, flatten, dropout 0.25, dense 10",
            input: [3, 16, 16], classes: 10, optimizer: "adam", loss: .softmaxCrossEntropy, batch: 12, shares: 3, augment: true,
            expected: [8: "00c8216e2a8c2c9778a2f90f88aa16bb28f31d81e120b37776e93e3e8ef2ea69",
                       16: "2ca7d9e83b5fdf7f623e5dde609aa6fe4d94d7f92a38d56ae71cb78263a7b0f9"]),
        Run(name: "dense and tanh, SGD batch 5 (fused), batch norm on features",
            spec: "flatten, dense 32, batchnorm, tanh, dense 16, sigmoid, dense 4",
            input: [2, 6, 6], classes: 4, optimizer: "sgd", loss: .softmaxCrossEntropy, batch: 5,
            expected: [8: "713922447ac0c78a10316e4a2430b23d3f48a04c4797159e9009eab561466802",
                       16: "c123c243c9ea8337f86833e29695a149e60dac3222a51fc3e068d7d7a2a4f26c"]),
    ]

    @Test("stored digests of seeded training runs", arguments: runs)
    func storedDigest(_ run: Run) throws {
        let got = try Self.train(run)
        #expect(got == Self.recorded(run.expected), "\(run.name): digest \(got)")
    }

    /// `Sequential.trainingStep`, the tensor-level step, for a few steps with two optimizers in
    /// turn (a cached step must not outlive its optimizer), and its losses.
    @Test("stored digest of trainingStep calls")
    func trainingStepDigest() throws {
        let network = try Architecture(input: [1, 8, 8], spec: "conv 4 3 pad 1, relu, flatten, dropout 0.2, dense 3").build()
        var g = SeededGenerator(seed: 5)
        network.initialize(generator: &g)
        let data = try Self.data(count: 6, shape: [1, 8, 8], classes: 3, seed: 9)
        guard case .bytes(let bytes) = data.samples else { Issue.record("8-bit samples expected"); return }
        let x = try Tensor(shape: [6, 1, 8, 8], scalars: bytes.map { Float($0) / 255 })
        let sgd = try SGD(parameters: network.parameters, learningRate: 0.1)
        let adam = try Adam(parameters: network.parameters, learningRate: 1e-2)
        var losses: [Float] = []
        for i in 0..<6 {
            losses.append(try network.trainingStep(inputs: x, labels: data.labels, loss: SoftmaxCrossEntropy(),
                                                   optimizer: i % 3 == 2 ? adam : sgd))
        }
        let got = Self.digest(network, losses: losses)
        let expected = [8: "5c9ef5c5395c2b8875e0ac308d2b8fad5427c2f1bd9da3c9053a28374044cbd0",
                        16: "4c214c2e376a4af76fafbb204982247d857e1e272bff77246c04658862b8414c"]
        #expect(got == Self.recorded(expected), "digest \(got)")
    }

    /// The CLI's own run, `convkit train` to a saved model, hashed from the file it writes.
    @Test("stored digest of a convkit train run")
    func cliDigest() throws {
        let dir = TemporaryDirectory()
        let data = CLITests.tinyData(in: dir)
        let model = dir.path + "/m.safetensors"
        let r = try CLITests.run(CLITests.small(data, ["--layers", "conv 6 5 pad 2, batchnorm, relu, maxpool 2, flatten, dense 3",
                                                        "--digits", "0,1,2", "--epochs", "2", "--batch", "10", "--seed", "4",
                                                        "--save", model]))
        #expect(r.status == 0, "\(r.stderr)")
        let loaded = try Model.load(path: model).model
        let got = Self.digest(loaded.network, losses: [])
        let expected = [8: "24eb9719c2238a0ff2bf1042bd8f136d9c10158db26ddc2b4da59c4a110d03ba",
                        16: "ddec32e6039272d31743bd60c47a9da56e80ab1d574cd2560fb320ef1e056ece"]
        #expect(got == Self.recorded(expected), "digest \(got)")
    }
}
