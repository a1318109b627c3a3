import ConvKit
/// Which classes to train on and how many of each, as in the tutorial ("the first 100 zeros and
/// the first 100 ones").
public struct Selection: Sendable, Equatable {
    /// The labels of the classes, in class order: `labels[k]` is class `k`. For MNIST, digits.
    public var labels: [Int]
    /// Images per class; nil takes them all.
    public var perClass: Int?

    public init(labels: [Int], perClass: Int? = nil) {
        self.labels = labels
        self.perClass = perClass
    }

    /// MNIST's spelling: the labels are the digits.
    public init(digits: [Int], perClass: Int? = nil) {
        self.init(labels: digits, perClass: perClass)
    }

    /// `labels`, for MNIST.
    public var digits: [Int] {
        get { labels }
        set { labels = newValue }
    }

    public static let all = Selection(digits: Array(0...9))

    /// How many images from the start of a data set with these labels `select` looks at: one past
    /// the last image it takes. Those images alone give the same subset, so a loader can stop
    /// there (`MNIST.load(…, selection:)`); the tutorial's first 100 zeros and ones end at image
    /// 1,019 of MNIST's 60,000 training images and 1,198 of its 10,000 test images.
    public func imagesNeeded(labels: [UInt8]) -> Int {
        var left = [Int](repeating: 0, count: 256)
        for label in self.labels where (0...255).contains(label) { left[label] = perClass ?? Int.max }
        var end = 0
        for (i, label) in labels.enumerated() where left[Int(label)] > 0 {
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
    /// Class of each image: the position of its label in `Selection.labels`.
    public var targets: [Int]
    /// The labels of the classes, `Selection.labels` (for MNIST, digits).
    public var digits: [Int]
    /// Images taken per class; below `perClass` when the data set has fewer of that digit.
    public var countsPerClass: [Int]

    public var count: Int { indices.count }
}

extension Dataset {
    /// The first `perClass` images of each listed class in file order, concatenated in the order
    /// the classes are listed (each must be one of `classes`); if the data set has fewer, all of them are taken (see
    /// `Subset.countsPerClass`). With a seed, the result is then shuffled by
    /// `SeededGenerator.shuffle` (Fisher–Yates written out, so the order is the same on every
    /// Swift version: the standard library's `shuffle(using:)` promises no particular algorithm).
    public func select(_ selection: Selection, shuffleSeed: UInt64? = nil) throws(DataError) -> Subset {
        let digits = selection.labels
        let known = Set(classes.map { Int($0.label) })
        if digits.isEmpty { throw .badSelection("no classes") }
        if let bad = digits.first(where: { !known.contains($0) }) {
            throw .badSelection("\(bad) is not a label of the data set (\(classes.map(\.name).joined(separator: ",").prefix(200)))")
        }
        if Set(digits).count != digits.count { throw .badSelection("\(digits) lists a class twice") }
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

extension Dataset {
    /// The images at `indices`, in that order, as a data set of their own with the same classes.
    public func subset(_ indices: [Int]) -> Dataset {
        var pixels: [UInt8] = []
        pixels.reserveCapacity(indices.count * pixelsPerImage)
        for i in indices { pixels += image(i) }
        return Dataset(images: pixels, labels: indices.map { labels[$0] }, channels: channels, rows: rows, cols: cols, classes: classes)
    }

    /// Holds out `fraction` of each class's images (rounded, at least one when the class has two
    /// or more and the fraction is above 0), chosen by a generator seeded with `seed`: the same
    /// seed gives the same split. Both parts keep file order.
    public func holdOut(_ fraction: Double, seed: UInt64) throws(DataError) -> (train: Dataset, held: Dataset) {
        guard fraction > 0, fraction < 1 else { throw .badValSplit("fraction \(fraction) is not between 0 and 1") }
        var rng = SeededGenerator(seed: seed ^ 0x7A1_5B11)
        var held = [Bool](repeating: false, count: count)
        for c in classes {
            var members = (0..<count).filter { labels[$0] == c.label }
            guard !members.isEmpty else { continue }
            rng.shuffle(&members)
            var n = Int((fraction * Double(members.count)).rounded())
            if n == 0, members.count >= 2 { n = 1 }
            if n == members.count { n -= 1 }
            for i in members.prefix(n) { held[i] = true }
        }
        return (subset((0..<count).filter { !held[$0] }), subset((0..<count).filter { held[$0] }))
    }
}
