import ConvKit
/// Which digits to train on and how many of each, as in the tutorial ("the first 100 zeros and
/// the first 100 ones").
public struct Selection: Sendable, Equatable {
    /// The digits, in class order: `digits[k]` is class `k`.
    public var digits: [Int]
    /// Images per digit; nil takes them all.
    public var perClass: Int?

    public init(digits: [Int], perClass: Int? = nil) {
        self.digits = digits
        self.perClass = perClass
    }

    public static let all = Selection(digits: Array(0...9))

    /// How many images from the start of a data set with these labels `select` looks at: one past
    /// the last image it takes. Those images alone give the same subset, so a loader can stop
    /// there (`MNIST.load(…, selection:)`); the tutorial's first 100 zeros and ones end at image
    /// 1,019 of MNIST's 60,000 training images and 1,198 of its 10,000 test images.
    public func imagesNeeded(labels: [UInt8]) -> Int {
        var left = [Int](repeating: 0, count: 10)
        for digit in digits where (0...9).contains(digit) { left[digit] = perClass ?? Int.max }
        var end = 0
        for (i, label) in labels.enumerated() where label < 10 && left[Int(label)] > 0 {
            left[Int(label)] -= 1
            end = i + 1
        }
        return end
    }
}

/// Some images of a data set, by index, each with its class.
public struct Subset: Sendable, Equatable {
    /// Indices into the data set.
    public var indices: [Int]
    /// Class of each image: the position of its label in `Selection.digits`.
    public var targets: [Int]
    public var digits: [Int]
    /// Images taken per class; below `perClass` when the data set has fewer of that digit.
    public var countsPerClass: [Int]

    public var count: Int { indices.count }
}

extension Dataset {
    /// The first `perClass` images of each listed digit in file order, concatenated in the order
    /// the digits are listed; if the data set has fewer, all of them are taken (see
    /// `Subset.countsPerClass`). With a seed, the result is then shuffled by
    /// `SeededGenerator.shuffle` (Fisher–Yates written out, so the order is the same on every
    /// Swift version: the standard library's `shuffle(using:)` promises no particular algorithm).
    public func select(_ selection: Selection, shuffleSeed: UInt64? = nil) throws(DataError) -> Subset {
        let digits = selection.digits
        if digits.isEmpty { throw .badSelection("no digits") }
        if let bad = digits.first(where: { !(0...9).contains($0) }) { throw .badSelection("\(bad) is not a digit 0–9") }
        if Set(digits).count != digits.count { throw .badSelection("\(digits) lists a digit twice") }
        if let n = selection.perClass, n < 0 { throw .badSelection("negative count \(n) per class") }

        var indices: [Int] = []
        var targets: [Int] = []
        var counts: [Int] = []
        for (target, digit) in digits.enumerated() {
            var taken = 0
            for i in 0..<count where labels[i] == UInt8(digit) {
                if let n = selection.perClass, taken == n { break }
                indices.append(i)
                targets.append(target)
                taken += 1
            }
            counts.append(taken)
        }

        if let seed = shuffleSeed {
            var rng = SeededGenerator(seed: seed)
            var pairs = Array(zip(indices, targets))
            rng.shuffle(&pairs)
            indices = pairs.map(\.0)
            targets = pairs.map(\.1)
        }
        return Subset(indices: indices, targets: targets, digits: digits, countsPerClass: counts)
    }
}
