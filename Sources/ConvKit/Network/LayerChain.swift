import CKernels

/// Layers in order as they run, the network's and a residual block's branches alike: one at a
/// time, except that batch norm, ReLU and max pooling that follow one another run as one step of
/// fused passes (`FusedPasses`). After a convolution those three are bound by memory, not
/// arithmetic, and fused they move a batch's activations once instead of two or three times. The
/// results are the same, bit for bit; what a fused step leaves out is the output of the layers
/// inside it, which nothing reads (each layer's backward pass needs only its own input, output and
/// output gradient, and a fused step's backward pass rebuilds what it needs of them).
///
/// A convolution right before such a step, with batch norm first, runs as `ConvolutionBeforeNorm`:
/// it takes each output plane's part of the batch norm's statistics while the plane is in cache,
/// and the step's backward pass sums the gradient it hands the convolution, channel by channel,
/// likewise, which is the convolution's bias gradient; separately each would read the
/// convolution's output or its gradient back from memory. The numbers are the same.
package struct LayerChain {
    /// Layers `first ... last`, run by `runner`: the layer itself, or `FusedPasses` over several.
    package struct Step {
        package let first: Int
        package let last: Int
        package let runner: any BatchLayer
    }

    package let steps: [Step]

    /// The steps of `layers`; `fusing` false runs every layer on its own (for tests).
    package init(_ layers: [any BatchLayer], fusing: Bool = true) {
        var steps: [Step] = []
        var i = 0
        while i < layers.count {
            if fusing, let (fused, count) = FusedPasses.starting(at: i, of: layers) {
                // The convolution just before gives this step its statistics and takes its bias
                // gradient from it.
                if let norm = fused.norm, let before = steps.last, let conv = before.runner as? Conv2D {
                    let runner = ConvolutionBeforeNorm(conv, norm: norm)
                    steps[steps.count - 1] = Step(first: before.first, last: before.last, runner: runner)
                    fused.convolutionBefore = runner
                }
                steps.append(Step(first: i, last: i + count - 1, runner: fused))
                i += count
            } else {
                steps.append(Step(first: i, last: i, runner: layers[i]))
                i += 1
            }
        }
        self.steps = steps
    }
}

/// Batch norm, then ReLU, then max pooling, or two of them (batch norm and ReLU; ReLU and max
/// pooling), as one step: the fused kernels of CKernels' fused.c compute the same values as the
/// layers' own kernels, plane by plane while each plane is in cache, and write only the last
/// layer's output. It runs the layers' own state: batch norm's statistics and running statistics,
/// the pool's argmax, so the layers stay what a model file, a summary and an optimizer see.
package final class FusedPasses: BatchLayer {
    let norm: BatchNorm?
    let relu: ReLU
    let pool: MaxPool2D?
    /// The convolution before, which writes batch norm's `planeStatistics` in the same forward
    /// pass, and whose bias gradient (`summedBias`) the backward pass writes as the sum of its input
    /// gradient over each channel; nil for none.
    var convolutionBefore: ConvolutionBeforeNorm?

    private init(norm: BatchNorm?, relu: ReLU, pool: MaxPool2D?) {
        (self.norm, self.relu, self.pool) = (norm, relu, pool)
    }

    /// The fused step that starts at layer `i`, and how many layers it takes; nil where none
    /// does. Planes must fit the fused kernels' scratch (CK_FUSED_PLANE_MAX values).
    static func starting(at i: Int, of layers: [any BatchLayer]) -> (FusedPasses, Int)? {
        func layer<L>(_ k: Int, _ type: L.Type) -> L? { k < layers.count ? layers[k] as? L : nil }
        let planeFits = { (shape: [Int]) in shape.dropFirst().reduce(1, *) <= Int(CK_FUSED_PLANE_MAX) }
        if let norm = layer(i, BatchNorm.self), let relu = layer(i + 1, ReLU.self), planeFits(norm.inputShape) {
            if let pool = layer(i + 2, MaxPool2D.self) { return (FusedPasses(norm: norm, relu: relu, pool: pool), 3) }
            return (FusedPasses(norm: norm, relu: relu, pool: nil), 2)
        }
        if let relu = layer(i, ReLU.self), let pool = layer(i + 1, MaxPool2D.self), planeFits(relu.inputShape) {
            return (FusedPasses(norm: nil, relu: relu, pool: pool), 2)
        }
        return nil
    }

    package var inputShape: [Int] { norm?.inputShape ?? relu.inputShape }
    package var outputShape: [Int] { pool?.outputShape ?? relu.outputShape }
    /// Batch norm's γ and β, which a fused SGD step updates.
    package var parameters: [Parameter] { norm?.parameters ?? [] }
    package var spec: String { [norm?.spec, relu.spec, pool?.spec].compactMap { $0 }.joined(separator: ", ") }
    package var description: String { [norm?.description, relu.description, pool?.description].compactMap { $0 }.joined(separator: ", ") }

    package func reserve(batch: Int) { pool?.reserve(batch: batch) }

    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass) {
        pool?.reserve(batch: batch)
        run(x, y, argmax: pool?.argmax, batch: batch, pass: pass)
    }

    /// Batch norm by its running statistics, and no argmax: reads the layers' state, writes only y.
    package func infer(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass,
                       workspace: UnsafeMutablePointer<Float>?) {
        var inference = pass
        inference.training = false
        run(x, y, argmax: nil, batch: batch, pass: inference)
    }

    private func run(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>?,
                     batch: Int, pass: Pass) {
        let n = Int32(batch)
        guard let norm else {
            let (c, h, w) = shape(relu.inputShape)
            return ck_relu_maxpool_forward(y, argmax, x, n, c, h, w, Int32(pool!.size), Int32(pool!.stride))
        }
        let (mean, variance) = norm.statistics(x, batch: batch, pass: pass, fromPlanes: convolutionBefore != nil)
        let (gamma, beta) = (UnsafePointer(norm.weight.value.pointer), UnsafePointer(norm.bias.value.pointer))
        if let pool {
            let (c, h, w) = shape(norm.inputShape)
            ck_batchnorm_relu_maxpool_forward(pass.variant.c, y, argmax, x, mean, variance, gamma, beta, norm.epsilon,
                                              n, c, h, w, Int32(pool.size), Int32(pool.stride))
        } else {
            ck_batchnorm_relu_forward(pass.variant.c, y, x, mean, variance, gamma, beta, norm.epsilon,
                                      n, Int32(norm.channels), Int32(norm.planeSize))
        }
    }

    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass) {
        let n = Int32(batch)
        guard let norm else {
            guard let dx, let pool else { return }
            let (c, h, w) = shape(relu.inputShape)
            return ck_relu_maxpool_backward(dx, dy, y, pool.argmax, n, c, h, w, Int32(pool.size), Int32(pool.stride))
        }
        let (mean, variance) = (UnsafePointer(norm.batchMean.pointer), UnsafePointer(norm.batchVariance.pointer))
        let (dgamma, dbeta) = (norm.weight.gradient.pointer, norm.bias.gradient.pointer)
        // A convolution before has an input gradient to take: dx is there.
        let sums = dx == nil ? nil : convolutionBefore?.summedBias?.gradient.pointer
        if let pool {
            let (c, h, w) = shape(norm.inputShape)
            ck_batchnorm_relu_maxpool_backward(pass.variant.c, dx, dgamma, dbeta, sums, dy, y, pool.argmax, x, mean,
                                               variance, norm.weight.value.pointer, norm.epsilon, n, c, h, w,
                                               Int32(pool.size), Int32(pool.stride))
        } else {
            ck_batchnorm_relu_backward(pass.variant.c, dx, dgamma, dbeta, sums, dy, y, x, mean, variance,
                                       norm.weight.value.pointer, norm.epsilon, n, Int32(norm.channels),
                                       Int32(norm.planeSize))
        }
    }

    /// (C, H, W) as the kernels take them.
    private func shape(_ s: [Int]) -> (Int32, Int32, Int32) { (Int32(s[0]), Int32(s[1]), Int32(s[2])) }
}

/// A convolution before a fused step that starts with batch norm: the layer itself in every way,
/// except that its training forward pass also writes the batch norm's `planeStatistics`, and its
/// backward pass leaves a bias per channel to the fused step (`summedBias`), computing only the
/// kernel and input gradients. The fused step's backward pass runs first (steps go back
/// in reverse), so the bias gradient is in place when an optimizer, or a fused SGD step here,
/// reads it.
package final class ConvolutionBeforeNorm: BatchLayer {
    let conv: Conv2D
    let norm: BatchNorm
    /// The bias whose gradient the fused step writes: a bias per channel, whose gradient is the sum
    /// of the gradient over each channel; nil without one or for an untied bias (one per position,
    /// the convolution's own pass).
    let summedBias: Parameter?

    init(_ conv: Conv2D, norm: BatchNorm) {
        (self.conv, self.norm) = (conv, norm)
        summedBias = conv.biasMode == .channel ? conv.bias : nil
    }

    package var inputShape: [Int] { conv.inputShape }
    package var outputShape: [Int] { conv.outputShape }
    package var parameters: [Parameter] { conv.parameters }
    package var spec: String { conv.spec }
    package var description: String { conv.description }
    package var forwardFlops: Int { conv.forwardFlops }

    package func reserve(batch: Int) {
        conv.reserve(batch: batch)
        norm.planeStatistics.reserve(batch)
    }

    /// The statistics only in training: inference normalises by the running ones.
    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass) {
        guard pass.training else { return conv.forward(x, y, batch: batch, pass: pass) }
        norm.planeStatistics.reserve(batch)
        conv.forward(x, y, batch: batch, pass: pass, planeStatistics: norm.planeStatistics.pointer)
    }

    package func inferenceWorkspaceCount(batch: Int) -> Int { conv.inferenceWorkspaceCount(batch: batch) }

    package func infer(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass,
                       workspace: UnsafeMutablePointer<Float>?) {
        conv.infer(x, y, batch: batch, pass: pass, workspace: workspace)
    }

    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass) {
        conv.backward(x, y, dy, dx, batch: batch, pass: pass, biasGradient: summedBias == nil)
    }
}
