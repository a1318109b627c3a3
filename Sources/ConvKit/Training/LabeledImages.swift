/// Samples with a class each, as the trainer consumes them: the values of a whole data set
/// (8-bit pixels or floats, shared, not copied), which of them to use in what order, and each
/// one's class in `0..<classes`. Every initialiser checks all of this and throws
/// `TrainingDataError` rather than letting a bad index or label reach the training loop.
public struct LabeledImages: Sendable {
    /// The values of every sample, sample after sample, each `sampleShape` in row-major order.
    public enum Samples: Sendable {
        /// 8-bit pixels, scaled as they are used by the trainer's `InputNormalization`.
        case bytes([UInt8])
        /// Values used as they are.
        case floats([Float])
    }

    /// The values of the data set, shared with whoever made it.
    public let samples: Samples
    /// The shape of one sample, e.g. [1, 28, 28]; the network's input shape must be the same.
    public let sampleShape: [Int]
    /// The product of `sampleShape`.
    public let valuesPerSample: Int
    /// Which samples, in order: `indices[i]` is a position in `samples`.
    public let indices: [Int]
    /// The class of each entry of `indices`.
    public let labels: [Int]
    /// The number of classes; labels are in `0..<classes`.
    public let classes: Int

    /// 8-bit images: `bytes` holds whole samples of `sampleShape`; `indices` picks some of them
    /// (nil: all, in order) and `labels` gives each picked one its class in `0..<classes`.
    public init(bytes: [UInt8], sampleShape: [Int], indices: [Int]? = nil, labels: [Int], classes: Int) throws(TrainingDataError) {
        let perSample = try Self.checkShape(sampleShape)
        try self.init(samples: .bytes(bytes), valueCount: bytes.count, sampleShape: sampleShape, perSample: perSample,
                      indices: indices, labels: labels, classes: classes)
    }

    /// Float samples: `values` holds whole samples of `sampleShape`, each with a label in
    /// `0..<classes` (nil: one more than the largest label). Values must be finite.
    public init(floats values: [Float], sampleShape: [Int], labels: [Int], classes: Int? = nil) throws(TrainingDataError) {
        let perSample = try Self.checkShape(sampleShape)
        if let bad = values.firstIndex(where: { !$0.isFinite }) { throw .nonFinite(sample: bad / perSample) }
        // Clamped so that a label of Int.max is `tooManyClasses`, not an overflow.
        let counted = labels.max().map { min($0, Architecture.maxElements) + 1 } ?? 0
        try self.init(samples: .floats(values), valueCount: values.count, sampleShape: sampleShape, perSample: perSample,
                      indices: nil, labels: labels, classes: classes ?? counted)
    }

    /// Float samples from a tensor (N, sampleShape…), one label per sample.
    public init(inputs: Tensor, labels: [Int], classes: Int? = nil) throws(TrainingDataError) {
        guard inputs.rank >= 2 else { throw .badSampleShape(inputs.shape) }
        try self.init(floats: inputs.scalars, sampleShape: Array(inputs.shape.dropFirst()), labels: labels, classes: classes)
    }

    private init(samples: Samples, valueCount: Int, sampleShape: [Int], perSample: Int, indices: [Int]?, labels: [Int],
                 classes: Int) throws(TrainingDataError) {
        guard valueCount % perSample == 0 else {
            throw .sizeMismatch(values: valueCount, valuesPerSample: perSample)
        }
        let available = valueCount / perSample
        let indices = indices ?? Array(0..<available)
        guard indices.count == labels.count else { throw .labelCount(labels: labels.count, samples: indices.count) }
        if let bad = indices.firstIndex(where: { !(0..<available).contains($0) }) {
            throw .indexOutOfRange(position: bad, index: indices[bad], available: available)
        }
        guard classes >= 1 else { throw .noClasses }
        guard classes <= Architecture.maxElements else { throw .tooManyClasses(classes) }
        if let bad = labels.firstIndex(where: { !(0..<classes).contains($0) }) {
            throw .labelOutOfRange(position: bad, label: labels[bad], classes: classes)
        }
        self.samples = samples
        self.sampleShape = sampleShape
        valuesPerSample = perSample
        self.indices = indices
        self.labels = labels
        self.classes = classes
    }

    private static func checkShape(_ shape: [Int]) throws(TrainingDataError) -> Int {
        guard !shape.isEmpty, let n = try? checkedCount(shape, what: "") else { throw .badSampleShape(shape) }
        return n
    }

    /// The number of samples used: `indices.count`.
    public var count: Int { indices.count }

    /// How many samples each class has: `classCounts[k]` for class k.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classes)
        for label in labels { counts[label] += 1 }
        return counts
    }

    /// Entries `range` of this set (positions in `indices`), sharing the samples.
    package func slice(_ range: Range<Int>) -> LabeledImages {
        LabeledImages(self, indices: Array(indices[range]), labels: Array(labels[range]))
    }

    private init(_ other: LabeledImages, indices: [Int], labels: [Int]) {
        samples = other.samples
        sampleShape = other.sampleShape
        valuesPerSample = other.valuesPerSample
        self.indices = indices
        self.labels = labels
        classes = other.classes
    }
}

/// Training data that cannot be used as given.
public enum TrainingDataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A sample shape with no axes, a dimension below 1, or more than `Architecture.maxElements`
    /// (2^26) values.
    case badSampleShape([Int])
    /// The values do not divide into whole samples.
    case sizeMismatch(values: Int, valuesPerSample: Int)
    /// The number of labels differs from the number of samples.
    case labelCount(labels: Int, samples: Int)
    /// `indices[position]` is not a sample of the data.
    case indexOutOfRange(position: Int, index: Int, available: Int)
    /// `labels[position]` is not in `0..<classes`.
    case labelOutOfRange(position: Int, label: Int, classes: Int)
    /// `classes` is below 1.
    case noClasses
    /// More classes than a network can have outputs, `Architecture.maxElements`.
    case tooManyClasses(Int)
    /// A float sample holds NaN or an infinity.
    case nonFinite(sample: Int)
    /// Per-channel scaling that cannot apply: says why.
    case badNormalization(String)

    /// What is wrong, in one line.
    public var description: String {
        switch self {
        case .badSampleShape(let shape): "sample shape \(shape) must have positive dimensions and at most 2^26 values"
        case .sizeMismatch(let values, let per): "\(values) values are not whole samples of \(per)"
        case .labelCount(let labels, let samples): "\(labels) labels for \(samples) samples"
        case .indexOutOfRange(let position, let index, let available):
            "index \(index) at position \(position) is outside the \(available) samples"
        case .labelOutOfRange(let position, let label, let classes):
            "label \(label) at position \(position) is outside 0..<\(classes)"
        case .noClasses: "there must be at least one class"
        case .tooManyClasses(let n): "\(n) classes are more than the \(Architecture.maxElements) a network can output"
        case .nonFinite(let sample): "sample \(sample) holds a NaN or infinite value"
        case .badNormalization(let why): "input scaling: \(why)"
        }
    }
}

/// x = (pixel/255 − mean[c])/std[c] for 8-bit samples, c the sample's channel (samples are
/// channel-planar, C × H × W); one mean and std serve every channel. The tutorial uses (0, 1), the
/// LeNet reference MNIST's own mean and deviation; `measured(from:channels:)` takes them from
/// the training set. Float samples are used as they are.
public struct InputNormalization: Equatable, Sendable {
    /// The mean pixel of each channel, on the 0–1 scale; one value for all channels.
    public private(set) var means: [Float]
    /// The standard deviation of each channel's pixels, on the 0–1 scale; as many as `means`.
    public private(set) var stds: [Float]

    /// x = (pixel/255 − `mean`)/`std` on every channel; the defaults leave pixels on the 0–1 scale.
    /// Throws unless `mean` is finite and `std` positive and finite.
    public init(mean: Float = 0, std: Float = 1) throws(TrainingDataError) {
        try self.init(means: [mean], stds: [std])
    }

    /// One mean and std per channel. Throws unless both lists are non-empty and of the same
    /// length, every mean is finite and every std positive and finite.
    public init(means: [Float], stds: [Float]) throws(TrainingDataError) {
        guard !means.isEmpty, means.count == stds.count else {
            throw .badNormalization("\(means.count) means for \(stds.count) deviations")
        }
        self.init(unchecked: means, stds)
        guard isValid else { throw .badNormalization("means must be finite and deviations positive") }
    }

    /// Every mean finite and every std positive and finite: what the throwing initialisers check,
    /// and what `Trainer.fit` and `Sequential.evaluate` check again, since `mean` and `std` can be set.
    public var isValid: Bool { means.allSatisfy(\.isFinite) && stds.allSatisfy { $0 > 0 && $0.isFinite } }

    private init(unchecked means: [Float], _ stds: [Float]) {
        self.means = means
        self.stds = stds
    }

    /// Whether these scales apply to samples of `shape`: one pair for every channel, or one per
    /// channel (`shape[0]`).
    public func fits(_ shape: [Int]) -> Bool { channels == 1 || channels == shape.first }

    /// The first channel's mean; setting it sets every channel's (unchecked: see `isValid`).
    public var mean: Float {
        get { means[0] }
        set { means = Array(repeating: newValue, count: means.count) }
    }
    /// The first channel's std; setting it sets every channel's (unchecked: see `isValid`).
    public var std: Float {
        get { stds[0] }
        set { stds = Array(repeating: newValue, count: stds.count) }
    }

    /// How many channels have their own mean and std: 1 when one pair serves all.
    public var channels: Int { means.count }

    /// Pixels divided by 255, to the 0–1 scale: what the tutorial does.
    public static let unit = InputNormalization(unchecked: [0], [1])
    /// MNIST's own pixel mean and deviation (0.1307, 0.3081), as PyTorch's MNIST examples use.
    public static let mnist = InputNormalization(unchecked: [0.1307], [0.3081])

    /// Each channel's mean and (population) standard deviation over every pixel of `data`'s
    /// samples, on the 0–1 scale. `channels` must divide the values of a sample (else it
    /// throws); a channel whose pixels are all equal gets std 1, which only shifts it. Float
    /// samples, which are used as they are, give `.unit`.
    public static func measured(from data: LabeledImages, channels: Int) throws(TrainingDataError) -> InputNormalization {
        guard case .bytes(let bytes) = data.samples else { return .unit }
        return try measured(bytes: bytes, valuesPerSample: data.valuesPerSample, samples: data.indices, channels: channels)
    }

    /// As `measured(from:channels:)`, over samples `samples` (all when nil) of `bytes`, whole
    /// samples of `valuesPerSample` 8-bit values each. Throws for a channel count that does not
    /// divide `valuesPerSample`, and for a sample index outside `bytes`.
    public static func measured(bytes: [UInt8], valuesPerSample: Int, samples: [Int]? = nil,
                                channels: Int) throws(TrainingDataError) -> InputNormalization {
        guard channels >= 1, valuesPerSample >= channels, valuesPerSample % channels == 0 else {
            throw .badNormalization("\(channels) channels do not divide samples of \(valuesPerSample) values")
        }
        let available = bytes.count / valuesPerSample
        if let samples, let bad = samples.first(where: { !(0..<available).contains($0) }) {
            throw .indexOutOfRange(position: samples.firstIndex(of: bad)!, index: bad, available: available)
        }
        let plane = valuesPerSample / channels
        // Integer sums are exact (a sample's plane is at most 2^26 values, 255² each, far below
        // 2^63 over any data set that fits in memory), so the result does not depend on the order.
        var sums = [Int](repeating: 0, count: channels), squares = [Int](repeating: 0, count: channels)
        var count = 0
        bytes.withUnsafeBufferPointer { px in
            func add(_ sample: Int) {
                for c in 0..<channels {
                    let base = px.baseAddress! + sample * valuesPerSample + c * plane
                    var s = 0, q = 0
                    for j in 0..<plane { let v = Int(base[j]); s += v; q += v * v }
                    sums[c] += s
                    squares[c] += q
                }
                count += 1
            }
            if let samples { for i in samples { add(i) } } else { for i in 0..<(bytes.count / valuesPerSample) { add(i) } }
        }
        guard count > 0 else { return InputNormalization(unchecked: [Float](repeating: 0, count: channels), [Float](repeating: 1, count: channels)) }
        let n = Double(count * plane)
        var means: [Float] = [], stds: [Float] = []
        for c in 0..<channels {
            let mean = Double(sums[c]) / n
            let variance = max(0, Double(squares[c]) / n - mean * mean)
            means.append(Float(mean / 255))
            stds.append(variance > 0 ? Float(variance.squareRoot() / 255) : 1)
        }
        return InputNormalization(unchecked: means, stds)
    }

    /// x = pixel·scale + shift, the same formula folded into one multiply-add, for channel `c`.
    func scale(_ c: Int) -> Float { 1 / (255 * stds[c]) }
    func shift(_ c: Int) -> Float { -means[c] / stds[c] }

    /// The normalised values of `pixels`, one sample or several of `channels()` equal planes
    /// each (a single channel pair applies to all of them). Throws when `pixels` do not divide
    /// into `channels` equal planes, and for scales that are not `isValid`.
    public func apply(_ pixels: [UInt8]) throws(TrainingDataError) -> [Float] {
        guard isValid else { throw .badNormalization("means must be finite and deviations positive") }
        if channels == 1 { return pixels.map { Float($0) * scale(0) + shift(0) } }
        guard pixels.count % channels == 0 else {
            throw .badNormalization("\(pixels.count) pixels are not \(channels) equal channels")
        }
        let plane = pixels.count / channels
        return pixels.indices.map { i in Float(pixels[i]) * scale(i / plane) + shift(i / plane) }
    }
}

extension LabeledImages {
    /// Writes samples `order[start..<start+n]` into `input` as floats and their one-hot targets
    /// into `targets`; no allocation. `order` holds positions in `indices`, all checked at init.
    /// `normalization` has one channel, or one per plane of a sample (`sampleShape[0]`).
    package func fill(input: UnsafeMutablePointer<Float>, targets oneHot: UnsafeMutablePointer<Float>?,
                      order: UnsafeBufferPointer<Int>, start: Int, count n: Int, normalization: InputNormalization) {
        let p = valuesPerSample
        switch samples {
        case .bytes(let bytes):
            let channels = normalization.channels
            precondition(channels == 1 || channels == sampleShape[0], "normalization for \(channels) channels, samples \(sampleShape)")
            let plane = p / channels
            bytes.withUnsafeBufferPointer { px in
                for b in 0..<n {
                    let src = px.baseAddress! + indices[order[start + b]] * p, dst = input + b * p
                    for c in 0..<channels {
                        let (scale, shift, at) = (normalization.scale(c), normalization.shift(c), c * plane)
                        for j in at..<(at + plane) { dst[j] = Float(src[j]) * scale + shift }
                    }
                }
            }
        case .floats(let values):
            values.withUnsafeBufferPointer { v in
                for b in 0..<n { (input + b * p).update(from: v.baseAddress! + indices[order[start + b]] * p, count: p) }
            }
        }
        if let oneHot {
            for b in 0..<n {
                let row = oneHot + b * classes
                row.update(repeating: 0, count: classes)
                row[labels[order[start + b]]] = 1
            }
        }
    }
}
