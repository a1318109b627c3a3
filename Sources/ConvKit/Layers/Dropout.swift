import CKernels

/// Dropout: in training each value is zeroed with probability P and the others scaled by
/// 1/(1 − P), so the expected output is the input; in inference the identity (PyTorch's
/// nn.Dropout). Which values drop is a hash of the step's noise key, the layer's position in the
/// network, the sample's position in the whole batch and the value's index (`ck_dropout_forward`):
/// the same on any thread count, in any share of a batch, and after a resume.
public final class Dropout: BatchLayer {
    /// The shape of one sample, kept.
    public let inputShape: [Int]
    /// The same as `inputShape`.
    public var outputShape: [Int] { inputShape }
    /// P, the probability of dropping a value: 0 ≤ P < 1.
    public let probability: Float
    /// 1/(1 − P) where the last training pass kept a value, 0 where it dropped one; unused
    /// (`masked` false) after an inference pass.
    private var mask = Buffer(count: 0)
    private var masked = false

    /// Dropout with probability `probability` over samples of `input`. Throws `ShapeError` unless
    /// 0 ≤ P < 1 and `input` has positive dimensions and at most `Architecture.maxElements` values.
    public init(input: [Int], probability: Float) throws(ShapeError) {
        guard probability >= 0, probability < 1 else {
            throw ShapeError("dropout probability must be at least 0 and below 1, got \(probability)")
        }
        _ = try checkedCount(input, what: "dropout input \(shapeText(input))")
        inputShape = input
        self.probability = probability
    }

    /// "dropout P".
    public var spec: String { "dropout \(probability)" }
    /// "Dropout P".
    public var description: String { "Dropout \(probability)" }

    package func reserve(batch: Int) {
        if batch * inputCount > mask.count { mask = Buffer(count: batch * inputCount) }
    }

    package func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass) {
        masked = pass.training && probability > 0
        guard masked else { return infer(x, y, batch: batch, pass: pass, workspace: nil) }
        reserve(batch: batch)
        ck_dropout_forward(pass.variant.c, y, mask.pointer, x, probability, Self.key(pass.noiseKey, layer: pass.layerIndex),
                           pass.firstSample, Int32(batch), Int32(inputCount))
    }

    /// The identity, without touching `masked`, which is the training pass's business.
    package func infer(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, pass: Pass,
                       workspace: UnsafeMutablePointer<Float>?) {
        y.update(from: x, count: batch * inputCount)
    }

    package func backward(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                          _ dx: UnsafeMutablePointer<Float>?, batch: Int, pass: Pass) {
        guard let dx else { return }
        if masked {
            ck_dropout_backward(pass.variant.c, dx, dy, mask.pointer, Int32(batch), Int32(inputCount))
        } else {
            dx.update(from: dy, count: batch * inputCount)
        }
    }

    /// The step's key and the layer's position, mixed, so two dropout layers drop differently.
    static func key(_ noiseKey: UInt64, layer: Int) -> UInt64 {
        var z = noiseKey ^ (0xD1B5_4A32_D192_ED03 &* UInt64(truncatingIfNeeded: layer + 1))
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
