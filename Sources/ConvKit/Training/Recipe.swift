/// A network and how to train it: what `--arch` names. Every field is a default that a
/// command-line option can override.
public struct Recipe: Sendable {
    /// What `--arch` calls it: "tutorial", "lenet", "fast", "fashion", "cifar", "resnet" or "custom".
    public var name: String
    /// The network for a number of classes.
    public var architecture: @Sendable (_ classes: Int) -> Architecture
    /// The loss to train with.
    public var loss: LossKind
    /// The optimizer to train with.
    public var optimizer: OptimizerKind
    /// The (base) learning rate.
    public var learningRate: Float
    /// μ, for momentum and Nesterov.
    public var momentum: Float = 0.9
    /// L2 weight decay.
    public var weightDecay: Float = 0
    /// Adam's β1 and β2, the decay of its first and second moment, each in [0, 1).
    public var beta1: Float = 0.9, beta2: Float = 0.999
    /// ε of `SoftmaxCrossEntropy(labelSmoothing:)`, in [0, 1); 0 trains against the one-hot targets.
    public var labelSmoothing: Float = 0
    /// Random shifts and flips of the training images (`.none`: the images as they are).
    public var augmentation: Augmentation = .none
    /// Samples per step.
    public var batchSize: Int
    /// Passes over the training set.
    public var epochs: Int
    /// How the learning rate changes over training.
    public var schedule: LearningRateSchedule = .constant
    /// How the weights start.
    public var weightInit: WeightInit
    /// How 8-bit pixels become inputs, unless `measuresNormalization`.
    public var normalization: InputNormalization = .unit
    /// Scale inputs by each channel's mean and deviation over the training images
    /// (`InputNormalization.measured`) instead of `normalization`: for data sets without
    /// published constants.
    public var measuresNormalization = false
    /// Whether the order is shuffled again every epoch.
    public var reshuffle: Bool
    /// The digits to train and test on, in the order of the network's outputs; empty: every
    /// class the data has.
    public var digits: [Int]
    /// Training images per digit (nil: all of them) and test images per digit.
    public var perClass: Int?
    /// Test images per digit (nil: all of them).
    public var testPerClass: Int?

    /// The tutorial's experiment: its network, binary cross-entropy, SGD 0.1, one sample at a
    /// time, 20 epochs, the first 100 zeros and 100 ones.
    public static let tutorial = Recipe(
        name: "tutorial", architecture: { .tutorial(classes: $0) }, loss: .binaryCrossEntropy, optimizer: .sgd, learningRate: 0.1,
        batchSize: 1, epochs: 20, weightInit: .normal, reshuffle: false, digits: [0, 1], perClass: 100, testPerClass: 100)

    /// The PyTorch reference LeNet, same recipe: PyTorch's default init, Adam 1e-3, batch 64,
    /// all 60 000 images, normalised by MNIST's mean and deviation, reshuffled every epoch.
    public static let lenet = Recipe(
        name: "lenet", architecture: { .lenet(classes: $0) }, loss: .softmaxCrossEntropy, optimizer: .adam, learningRate: 1e-3,
        batchSize: 64, epochs: 12, weightInit: .pytorch, normalization: .mnist, reshuffle: true,
        digits: Array(0...9), perClass: nil, testPerClass: nil)

    /// The fastest recipe to 99 % on all ten digits we found: LeNet with a 64-unit hidden layer
    /// (16k more parameters, almost no more compute), PyTorch's default init, two epochs at batch
    /// 128 of Adam with betas 0.7, 0.9 on a one-cycle schedule peaking at 8e-3, and label
    /// smoothing 0.1. Test accuracy after two epochs on the bundled data with 16-lane kernels,
    /// seeds 0–9: mean 99.18 %, lowest 99.09 % (docs/performance.md, 2026-12-07). The `auto`
    /// init (He's for ReLU layers) had given a mean of 99.07 % with seed 8 at 98.86 %; without the
    /// smoothing, or at a peak of 5e-3, one seed in three ends below 98.9 %.
    public static let fast: Recipe = {
        var recipe = Recipe(
            name: "fast",
            architecture: { Architecture(spec: "conv 8 5, relu, maxpool 2, conv 16 5, relu, maxpool 2, flatten, dense 64, relu, dense \($0)") },
            loss: .softmaxCrossEntropy, optimizer: .adam, learningRate: 8e-3, batchSize: 128, epochs: 2, schedule: .oneCycle,
            weightInit: .pytorch, normalization: .mnist, reshuffle: true, digits: Array(0...9), perClass: nil, testPerClass: nil)
        recipe.beta1 = 0.7
        recipe.beta2 = 0.9
        recipe.labelSmoothing = 0.1
        return recipe
    }()

    /// Fashion-MNIST (28×28 grey, ten kinds of clothing): two padded 3×3 conv blocks of 32 and 40
    /// filters with batch norm and a 128-unit hidden layer, seven epochs at batch 64 of Adam
    /// (betas 0.8, 0.99) on a one-cycle schedule peaking at 3e-3, label smoothing 0.1, random
    /// flips, PyTorch's default init, each channel scaled by its measured mean and deviation:
    /// 93.21, 93.01 and 93.01 % for seeds 0–2 with 16-lane kernels, in under a minute on two
    /// threads (docs/performance.md). Six epochs had reached 92.77, 92.97 and 93.05 %; measured
    /// against it too: 32 and 48 filters 92.88 %, 24 and 48 filters 92.56 %, 32 and 44 filters
    /// 92.77 %, a 192-unit hidden layer 93.01 %, a 4e-3 peak 92.95 %, default betas 92.89 %;
    /// shifts, dropout, weight decay or batch 128 each cost accuracy. Convolutions without the
    /// bias that batch norm cancels (`nobias`) trained 5 % faster a step, but reached 92.86, 93.03
    /// and 92.89 % in 52.4 s (2026-12-07, seeds 0–2; PyTorch on the same recipe 92.99 %).
    public static let fashion: Recipe = {
        var recipe = Recipe(
            name: "fashion",
            architecture: { Architecture(spec: "conv 32 3 pad 1, batchnorm, relu, maxpool 2, conv 40 3 pad 1, batchnorm, relu, maxpool 2, flatten, dense 128, relu, dense \($0)") },
            loss: .softmaxCrossEntropy, optimizer: .adam, learningRate: 3e-3, batchSize: 64, epochs: 7, schedule: .oneCycle,
            weightInit: .pytorch, normalization: .mnist, reshuffle: true, digits: Array(0...9), perClass: nil, testPerClass: nil)
        recipe.measuresNormalization = true
        recipe.beta1 = 0.8
        recipe.beta2 = 0.99
        recipe.labelSmoothing = 0.1
        recipe.augmentation = try! Augmentation(maxShift: 0, flip: true)  // constant and valid
        return recipe
    }()

    /// Colour images of 32×32 (CIFAR-10 and CIFAR-100, or a folder of your own): three padded 3×3
    /// conv blocks with batch norm, dropout before the classifier, each channel scaled by its
    /// measured mean and deviation, Adam with a one-cycle schedule, label smoothing, random
    /// shifts and flips.
    public static let cifar: Recipe = {
        var recipe = Recipe(
            name: "cifar",
            architecture: { Architecture(input: [3, 32, 32], spec: "conv 16 3 pad 1, batchnorm, relu, maxpool 2, conv 32 3 pad 1, batchnorm, relu, maxpool 2, conv 64 3 pad 1, batchnorm, relu, maxpool 2, flatten, dropout 0.25, dense \($0)") },
            loss: .softmaxCrossEntropy, optimizer: .adam, learningRate: 2e-3, batchSize: 64, epochs: 10, schedule: .oneCycle,
            weightInit: .auto, normalization: .unit, reshuffle: true, digits: Array(0...9), perClass: nil, testPerClass: nil)
        recipe.measuresNormalization = true
        recipe.labelSmoothing = 0.1
        recipe.augmentation = try! Augmentation(maxShift: 2, flip: true)  // constant and valid
        return recipe
    }()

    /// A small ResNet for colour images of 32×32 (CIFAR-10 and CIFAR-100, or a folder of your own):
    /// a 3×3 stem with batch norm and 2×2 max pooling, then three stages of one residual block
    /// each, 16, 32 and 64 channels at 16×16, 8×8 and 4×4 (the last two enter through a stride-2
    /// projection), global average pooling and the classifier. About 7 MFLOP and 78k parameters
    /// per image, so a pass over 10,000 images is seconds on two cores. Adam on a one-cycle
    /// schedule peaking at 3e-3, batches of 32 for 4 epochs, label smoothing 0.1, random shifts by
    /// up to 2 pixels and flips, each channel scaled by its measured mean and deviation,
    /// PyTorch's default init. Batches of 32 reach in 4 epochs what batches of 64 reach in 5
    /// (86.9 % on the Fashion-MNIST-made test set of `Benchmarks/resnet.py`, 3 seeds), and their
    /// activations stay in cache; batches of 128 were slower per image and less accurate.
    public static let resnet: Recipe = {
        var recipe = Recipe(
            name: "resnet",
            architecture: { Architecture(input: [3, 32, 32], spec: resnetSpec(classes: $0)) },
            loss: .softmaxCrossEntropy, optimizer: .adam, learningRate: 3e-3, batchSize: 32, epochs: 4, schedule: .oneCycle,
            weightInit: .pytorch, normalization: .unit, reshuffle: true, digits: Array(0...9), perClass: nil, testPerClass: nil)
        recipe.measuresNormalization = true
        recipe.labelSmoothing = 0.1
        recipe.augmentation = try! Augmentation(maxShift: 2, flip: true)  // constant and valid
        return recipe
    }()

    /// The `resnet` recipe's layers for `classes` outputs.
    public static func resnetSpec(classes: Int) -> String {
        "conv 16 3 pad 1, batchnorm, relu, maxpool 2, "
            + "residual(conv 16 3 pad 1, batchnorm, relu, conv 16 3 pad 1, batchnorm), relu, "
            + "residual(conv 32 3 pad 1 stride 2, batchnorm, relu, conv 32 3 pad 1, batchnorm), relu, "
            + "residual(conv 64 3 pad 1 stride 2, batchnorm, relu, conv 64 3 pad 1, batchnorm), relu, "
            + "globalavgpool, flatten, dense \(classes)"
    }

    /// The defaults for a network and data of your own (what `convkit train --layers` starts from
    /// without `--arch`): softmax cross-entropy, Adam 1e-3 at batch 64 for 10 epochs, reshuffled,
    /// weights by `WeightInit.pytorch` (measured against `.auto`: 0.5–1 point better on a Fashion-MNIST folder and CIFAR-format data), every image of every class (`digits` is empty), each channel scaled by its
    /// measured mean and deviation. Its own network, for when none is given, is two padded 3×3
    /// conv blocks with batch norm, which fits any image of at least 4×4 pixels and any number of
    /// channels.
    public static let custom: Recipe = {
        var recipe = Recipe(
            name: "custom",
            architecture: { Architecture(spec: "conv 32 3 pad 1, batchnorm, relu, maxpool 2, conv 64 3 pad 1, batchnorm, relu, maxpool 2, flatten, dense \($0)") },
            loss: .softmaxCrossEntropy, optimizer: .adam, learningRate: 1e-3, batchSize: 64, epochs: 10,
            weightInit: .pytorch, reshuffle: true, digits: [], perClass: nil, testPerClass: nil)
        recipe.measuresNormalization = true
        return recipe
    }()

    /// Every recipe: `tutorial`, `lenet`, `fast`, `fashion`, `cifar`, `resnet` and `custom`.
    public static let all = [tutorial, lenet, fast, fashion, cifar, resnet, custom]

    /// The recipe called `name`, or nil.
    public static func named(_ name: String) -> Recipe? { all.first { $0.name == name } }

    /// The recipe's optimizer over `parameters`, at its learning rate, momentum (or betas) and
    /// weight decay; throws `OptimizerError` for a setting out of range.
    public func makeOptimizer(parameters: [Parameter]) throws(OptimizerError) -> Optimizer {
        switch optimizer {
        case .sgd: try SGD(parameters: parameters, learningRate: learningRate, weightDecay: weightDecay)
        case .momentum, .nesterov:
            try Momentum(parameters: parameters, learningRate: learningRate, momentum: momentum,
                         nesterov: optimizer == .nesterov, weightDecay: weightDecay)
        case .adam: try Adam(parameters: parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, weightDecay: weightDecay)
        }
    }
}
