import Testing
import ConvKit

/// Batch norm, ReLU and max pooling that follow one another run fused (`LayerChain`,
/// `FusedPasses`); unfused, each layer runs its own kernel. The two must train to the same
/// weights, state and losses, bit for bit, and infer the same outputs.
@Suite("Fused layers train as the separate ones")
struct FusionTests {
    /// Every pattern that fuses: batch norm, ReLU and max pooling (after a convolution, with each
    /// kind of bias), ReLU and max pooling, batch norm and ReLU after a dense layer, and inside
    /// residual blocks.
    static let specs = [
        "conv 8 3 pad 1, batchnorm, relu, maxpool 2, conv 16 3 pad 1, relu, maxpool 2, flatten, dense 16, batchnorm, relu, dense 5",
        "conv 8 3 pad 1, batchnorm, relu, residual(conv 8 3 pad 1, batchnorm, relu, conv 8 3 pad 1, batchnorm), relu, "
            + "residual(conv 16 3 pad 1 stride 2, batchnorm, relu, conv 16 3 pad 1, batchnorm), relu, globalavgpool, flatten, dense 5",
        // Convolutions without a bias and with one per position before batch norm: the statistics
        // fused, the bias gradient (untied) the convolution's own.
        "conv 8 3 pad 1 nobias, batchnorm, relu, maxpool 2, conv 8 3 untied, batchnorm, relu, flatten, dense 5",
    ]

    static func train(_ spec: String, fusing: Bool, optimizer kind: String, shares: Int) throws -> (Sequential, [Float]) {
        let network = try Architecture(input: [3, 12, 12], spec: spec).build()
        network.fusesLayers = fusing
        var g = SeededGenerator(seed: 13)
        network.initialize(.pytorch, generator: &g)
        let optimizer: Optimizer = kind == "sgd" ? try SGD(parameters: network.parameters, learningRate: 0.05)
            : try Adam(parameters: network.parameters, learningRate: 3e-3)
        let trainer = try Trainer(network: network, loss: try SoftmaxCrossEntropy(labelSmoothing: 0.1), optimizer: optimizer,
                                  batchSize: 10, schedule: .cosine, normalization: try InputNormalization(mean: 0.3, std: 0.3),
                                  reshuffle: true, seed: 5, shares: shares)
        let data = try SeedDigestTests.data(count: 40, shape: [3, 12, 12], classes: 5, seed: 8)
        var losses: [Float] = []
        try trainer.fit(data, epochs: 0..<2) { losses.append(Float($0.loss)) }
        return (network, losses)
    }

    @Test("fused and separate give the same bits", arguments: specs, ["sgd", "adam"])
    func sameBits(spec: String, optimizer: String) throws {
        for shares in [1, 2] {
            let (fused, fusedLosses) = try Self.train(spec, fusing: true, optimizer: optimizer, shares: shares)
            let (separate, separateLosses) = try Self.train(spec, fusing: false, optimizer: optimizer, shares: shares)
            #expect(fused.chain.steps.count < separate.chain.steps.count, "something fused")
            // The first convolution gives the fused step after it its statistics (and takes its bias
            // gradient from it where the bias is one per channel).
            #expect(fused.chain.steps.first?.runner is ConvolutionBeforeNorm)
            #expect(fusedLosses == separateLosses, "losses, \(shares) shares")
            for (a, b) in zip(fused.parameters + fused.state, separate.parameters + separate.state) {
                #expect(a.value.array == b.value.array, "\(a.name), \(shares) shares")
            }
            // Inference, through the fused steps' own path, against the separate layers'.
            var g = SeededGenerator(seed: 3)
            let x = try Tensor(shape: [4, 3, 12, 12], scalars: (0..<(4 * 3 * 144)).map { _ in Float(g.next() % 1000) / 1000 })
            #expect(try fused.forward(x) == separate.forward(x))
        }
    }
}
