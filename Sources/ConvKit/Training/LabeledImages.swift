/// Images with a class each, as the trainer consumes them: 8-bit pixels of a whole data file
/// (shared, not copied), which of them to use in what order, and each one's class index.
public struct LabeledImages: Sendable {
    public let pixels: [UInt8]
    public let pixelsPerImage: Int
    public var indices: [Int]
    public var targets: [Int]
    public let classes: Int

    public init(pixels: [UInt8], pixelsPerImage: Int, indices: [Int], targets: [Int], classes: Int) {
        precondition(indices.count == targets.count, "\(indices.count) images for \(targets.count) targets")
        self.pixels = pixels
        self.pixelsPerImage = pixelsPerImage
        self.indices = indices
        self.targets = targets
        self.classes = classes
    }

    public var count: Int { indices.count }
}

/// x = (pixel/255 − mean)/std; the tutorial uses (0, 1), the LeNet reference MNIST's own
/// mean and deviation.
public struct InputNormalization: Equatable, Sendable {
    public var mean: Float
    public var std: Float

    public init(mean: Float = 0, std: Float = 1) {
        self.mean = mean
        self.std = std
    }

    public static let unit = InputNormalization()
    public static let mnist = InputNormalization(mean: 0.1307, std: 0.3081)

    /// x = pixel·scale + shift, the same formula folded into one multiply-add.
    var scale: Float { 1 / (255 * std) }
    var shift: Float { -mean / std }

    public func apply(_ pixels: [UInt8]) -> [Float] { pixels.map { Float($0) * scale + shift } }
}

extension LabeledImages {
    /// Writes images `order[start..<start+n]` into `input` as floats and their one-hot targets
    /// into `targets`; no allocation.
    func fill(input: UnsafeMutablePointer<Float>, targets oneHot: UnsafeMutablePointer<Float>?,
              order: UnsafeBufferPointer<Int>, start: Int, count n: Int, normalization: InputNormalization) {
        let (scale, shift) = (normalization.scale, normalization.shift)
        let p = pixelsPerImage
        pixels.withUnsafeBufferPointer { px in
            for b in 0..<n {
                let entry = order[start + b]
                let src = px.baseAddress! + indices[entry] * p, dst = input + b * p
                for j in 0..<p { dst[j] = Float(src[j]) * scale + shift }
                if let oneHot {
                    let row = oneHot + b * classes
                    row.update(repeating: 0, count: classes)
                    row[targets[entry]] = 1
                }
            }
        }
    }
}
