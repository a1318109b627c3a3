/// Random shifts of up to `maxShift` pixels and horizontal flips of image samples (C, H, W),
/// applied by `Trainer.fit` to each training batch right after it is written into the network's
/// input, never in evaluation.
///
/// Each sample's transform is a hash of (seed, epoch, position in the epoch's order), not a draw
/// from a generator whose state advances: the same sample slot of the same epoch gets the same
/// transform however the batch is split (shares, MPI ranks), on any thread count, and in a run
/// resumed from a checkpoint, with nothing to save.
///
/// Vacated pixels are set to 0 in the network's input space, after normalisation: black for
/// `InputNormalization.unit`, the data set's mean pixel for `.mnist`.
public struct Augmentation: Equatable, Sendable, CustomStringConvertible {
    /// The largest shift along each axis, in pixels: dy and dx are each uniform in −k…k.
    public let maxShift: Int
    /// Whether half of the samples (by their hash) are mirrored left to right.
    public let flip: Bool

    /// The largest `maxShift` accepted: far beyond any image, small enough for the arithmetic.
    public static let shiftLimit = 1 << 16

    /// No augmentation: the samples as they are.
    public static let none = Augmentation(unchecked: 0, flip: false)

    /// Shifts of up to `maxShift` pixels and, with `flip`, horizontal flips; throws
    /// `AugmentationError.badShift` unless 0 ≤ `maxShift` ≤ `shiftLimit`.
    public init(maxShift: Int = 0, flip: Bool = false) throws(AugmentationError) {
        guard (0...Self.shiftLimit).contains(maxShift) else { throw .badShift(maxShift) }
        self.init(unchecked: maxShift, flip: flip)
    }

    private init(unchecked maxShift: Int, flip: Bool) {
        self.maxShift = maxShift
        self.flip = flip
    }

    /// Parses what `description` prints: "none", or a comma-separated list of "shift:K" (K ≥ 1)
    /// and "flip", each at most once, e.g. "shift:2,flip".
    public init(parsing text: String) throws(AugmentationError) {
        if text == "none" { self = .none; return }
        var shift: Int?, flip = false
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            if item == "flip", !flip {
                flip = true
            } else if item.hasPrefix("shift:"), shift == nil, let k = Int(item.dropFirst(6)), k >= 1, k <= Self.shiftLimit {
                shift = k
            } else {
                throw .badSpec(text)
            }
        }
        self.init(unchecked: shift ?? 0, flip: flip)
    }

    /// "none", "shift:K", "flip" or "shift:K,flip": what `init(parsing:)` reads.
    public var description: String {
        let items = (maxShift > 0 ? ["shift:\(maxShift)"] : []) + (flip ? ["flip"] : [])
        return items.isEmpty ? "none" : items.joined(separator: ",")
    }

    /// True when no sample is ever changed.
    public var isIdentity: Bool { maxShift == 0 && !flip }

    /// What happens to one sample: mirrored left to right first when `flip`, then moved down by
    /// `dy` and right by `dx` pixels (negative: up, left).
    public struct Transform: Equatable, Sendable {
        /// Rows down (negative: up).
        public var dy: Int
        /// Columns right (negative: left).
        public var dx: Int
        /// Mirrored left to right before the shift.
        public var flip: Bool

        /// A transform of these values.
        public init(dy: Int, dx: Int, flip: Bool) {
            (self.dy, self.dx, self.flip) = (dy, dx, flip)
        }

        /// Transforms one sample of `channels` planes of `height` × `width` in place: out(y, x) =
        /// in(y − dy, x − dx) of the (flipped) sample, 0 where that is outside. Unsafe: `sample`
        /// must hold channels × height × width floats.
        public func apply(to sample: UnsafeMutablePointer<Float>, channels: Int, height h: Int, width w: Int) {
            for c in 0..<channels {
                let plane = sample + c * h * w
                if flip {
                    for y in 0..<h {
                        let row = plane + y * w
                        for x in 0..<(w / 2) { swap(&row[x], &row[w - 1 - x]) }
                    }
                }
                if dy == 0 && dx == 0 { continue }
                // In place, like memmove: visit the pixels in the direction of the move, so every
                // source pixel is read before it is overwritten.
                for i in 0..<h {
                    let y = dy > 0 ? h - 1 - i : i, sy = y - dy
                    for j in 0..<w {
                        let x = dx > 0 ? w - 1 - j : j, sx = x - dx
                        plane[y * w + x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? plane[sy * w + sx] : 0
                    }
                }
            }
        }
    }

    /// The transform of the sample at `position` of epoch `epoch`'s order, for `seed`. The shift
    /// and the flip come from separate bits of one 64-bit hash, so turning flips on or off does
    /// not change anyone's shift.
    public func transform(seed: UInt64, epoch: Int, position: Int) -> Transform {
        let h = Self.hash(seed: seed, epoch: epoch, position: position)
        let span = UInt64(2 * maxShift + 1)
        // Lemire's multiply-shift maps b random bits onto 0..<span without a division: bits 0–31
        // give dy, bits 32–62 dx, bit 63 the flip.
        let dy = Int(((h & 0xFFFF_FFFF) &* span) >> 32) - maxShift
        let dx = Int((((h >> 32) & 0x7FFF_FFFF) &* span) >> 31) - maxShift
        return Transform(dy: dy, dx: dx, flip: flip && h >> 63 == 1)
    }

    /// Transforms samples `firstPosition..<firstPosition+count` of epoch `epoch` in place,
    /// `inputs` holding them one after another, each `channels` × `height` × `width`. No
    /// allocation. Unsafe: `inputs` must hold `count` such samples.
    public func apply(to inputs: UnsafeMutablePointer<Float>, count: Int, channels: Int, height: Int, width: Int,
                      seed: UInt64, epoch: Int, firstPosition: Int) {
        guard !isIdentity else { return }
        let size = channels * height * width
        for b in 0..<count {
            transform(seed: seed, epoch: epoch, position: firstPosition + b)
                .apply(to: inputs + b * size, channels: channels, height: height, width: width)
        }
    }

    /// `samples` (N, C, H, W) with sample i transformed as the one at `firstPosition + i` of
    /// epoch `epoch`; throws `AugmentationError.notAnImage` for any other rank.
    public func applied(to samples: Tensor, seed: UInt64, epoch: Int, firstPosition: Int = 0) throws(AugmentationError) -> Tensor {
        guard samples.rank == 4 else { throw .notAnImage(Array(samples.shape.dropFirst())) }
        var result = samples
        let s = samples.shape
        result.withMutablePointer { apply(to: $0, count: s[0], channels: s[1], height: s[2], width: s[3], seed: seed, epoch: epoch, firstPosition: firstPosition) }
        return result
    }

    /// SplitMix64's finaliser applied after each key is mixed in: a counter-based generator
    /// (the counter being the triple), so any sample's bits are computed directly.
    static func hash(seed: UInt64, epoch: Int, position: Int) -> UInt64 {
        // The constant keeps these bits apart from the shuffle's stream, which starts from the same seed.
        var h = mix(seed ^ 0xA11C_E5ED_0A06_3E47)
        h = mix(h ^ UInt64(truncatingIfNeeded: epoch))
        return mix(h ^ UInt64(truncatingIfNeeded: position))
    }

    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// An augmentation that cannot be set up as given.
public enum AugmentationError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Text that is not "none" or a list of "shift:K" and "flip".
    case badSpec(String)
    /// A largest shift below 0 or above `Augmentation.shiftLimit`.
    case badShift(Int)
    /// Samples of this shape are not images (C, H, W).
    case notAnImage([Int])

    /// What is wrong, in one line.
    public var description: String {
        switch self {
        case .badSpec(let text): "augmentation is none or a list of shift:K (K ≥ 1) and flip, e.g. shift:2,flip; got '\(text)'"
        case .badShift(let k): "the largest shift must be in 0...\(Augmentation.shiftLimit), got \(k)"
        case .notAnImage(let shape): "only images (C, H, W) can be shifted and flipped, not samples of \(shapeText(shape))"
        }
    }
}
