import Testing
@testable import ConvKit
import ConvKitFiles
import ConvKitVisualization
import ConvKitBenchmark

@Suite struct MNISTTests {
    @Test func bundledTrainAndTestLoadWithChecksums() throws {
        let dir = try MNIST.bundledDirectory()
        let train = try MNIST.load(directory: dir, split: .train, verifyChecksums: true)
        #expect(train.count == 60_000 && train.rows == 28 && train.cols == 28)
        #expect(train.images.count == 60_000 * 784)
        #expect(train.labelCounts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])

        let test = try MNIST.load(directory: dir, split: .test, verifyChecksums: true)
        #expect(test.count == 10_000)
        #expect(test.labelCounts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
        #expect(test.labels.prefix(5) == [7, 2, 1, 0, 4])
    }

    @Test func checksumMismatchIsReported() throws {
        // A well-formed but different train set: the format passes, the checksum does not.
        let dir = TemporaryDirectory()
        dir.write("train-images-idx3-ubyte", idxFile(magic: IDX.imagesMagic, dims: [1, 2, 2], body: [0, 1, 2, 3]))
        dir.write("train-labels-idx1-ubyte.gz", gzipped(idxFile(magic: IDX.labelsMagic, dims: [1], body: [4])))
        let error = #expect(throws: DataError.self) {
            try MNIST.load(directory: dir.path, split: .train, verifyChecksums: true)
        }
        guard case .checksumMismatch(let file, let expected, _) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(file == dir.path + "/train-images-idx3-ubyte")
        #expect(expected == MNIST.checksums["train-images-idx3-ubyte"])

        let loaded = try MNIST.load(directory: dir.path, split: .train, verifyChecksums: false)
        #expect(loaded.labels == [4] && loaded.image(0) == [0, 1, 2, 3])
    }

    @Test func missingSplitNamesTheGzFile() {
        let dir = TemporaryDirectory()
        #expect(throws: DataError.missingFile(dir.path + "/t10k-images-idx3-ubyte.gz")) {
            try MNIST.load(directory: dir.path, split: .test, verifyChecksums: false)
        }
    }

    /// Labels 3 1 3 0 1 3 1 0 2, one pixel each whose value is the image's index.
    func toyDataset() -> Dataset {
        let labels: [UInt8] = [3, 1, 3, 0, 1, 3, 1, 0, 2]
        return Dataset(images: (0..<UInt8(labels.count)).map { $0 }, labels: labels, rows: 1, cols: 1)
    }

    @Test func selectionTakesFirstPerClassInFileOrderConcatenated() throws {
        let d = toyDataset()
        let s = try d.select(Selection(digits: [1, 3], perClass: 2))
        #expect(s.indices == [1, 4, 0, 2])
        #expect(s.targets == [0, 0, 1, 1])
        #expect(s.countsPerClass == [2, 2])

        let all = try d.select(Selection(digits: [0, 1]))
        #expect(all.indices == [3, 7, 1, 4, 6] && all.targets == [0, 0, 1, 1, 1])

        // Fewer images than asked for: all there are, and the count says so.
        let short = try d.select(Selection(digits: [2, 0], perClass: 5))
        #expect(short.indices == [8, 3, 7] && short.targets == [0, 1, 1] && short.countsPerClass == [1, 2])
    }

    @Test func selectionRejectsBadDigits() {
        let d = toyDataset()
        #expect(throws: DataError.self) { try d.select(Selection(digits: [])) }
        #expect(throws: DataError.self) { try d.select(Selection(digits: [1, 1])) }
        #expect(throws: DataError.self) { try d.select(Selection(digits: [10])) }
        #expect(throws: DataError.self) { try d.select(Selection(digits: [1], perClass: -1)) }
    }

    @Test func shuffleIsDeterministicPermutation() throws {
        let dir = try MNIST.bundledDirectory()
        let test = try MNIST.load(directory: dir, split: .test, verifyChecksums: false)
        let selection = Selection(digits: [0, 1], perClass: 100)
        let plain = try test.select(selection)
        let a = try test.select(selection, shuffleSeed: 42)
        let b = try test.select(selection, shuffleSeed: 42)
        let c = try test.select(selection, shuffleSeed: 43)
        #expect(a == b)
        #expect(a.indices != c.indices && a.indices != plain.indices)
        #expect(a.indices.sorted() == plain.indices.sorted())
        // Each index keeps its own target through the shuffle.
        for (i, t) in zip(a.indices, a.targets) { #expect(selection.digits[t] == Int(test.labels[i])) }
        #expect(a.countsPerClass == [100, 100])
        // Unshuffled: the first 100 zeros of the file, then its first 100 ones.
        let zeros = test.labels.indices.filter { test.labels[$0] == 0 }.prefix(100)
        let ones = test.labels.indices.filter { test.labels[$0] == 1 }.prefix(100)
        #expect(plain.indices == Array(zeros) + Array(ones))
        #expect(plain.targets == Array(repeating: 0, count: 100) + Array(repeating: 1, count: 100))
    }

    // Pins the Fisher–Yates order, so a change of algorithm (which would change every
    // experiment's batches) shows up here.
    @Test func shuffleOrderIsPinned() throws {
        let d = Dataset(images: [UInt8](repeating: 0, count: 8), labels: [0, 0, 0, 0, 1, 1, 1, 1], rows: 1, cols: 1)
        let s = try d.select(Selection(digits: [0, 1]), shuffleSeed: 1)
        var rng = SeededGenerator(seed: 1)
        var expected = Array(0..<8)
        for i in stride(from: 7, through: 1, by: -1) { expected.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        #expect(s.indices == expected)
    }

    @Test func imagesAndScaling() throws {
        let d = Dataset(images: [0, 255, 51, 102, 7, 8], labels: [1, 2, 3], rows: 1, cols: 2)
        #expect(Array(d.image(1)) == [51, 102])
        // Training's batch fill and single-image prediction scale pixels by one formula.
        let data = try LabeledImages(bytes: d.images, sampleShape: [1, 1, 2], indices: [2, 0], labels: [0, 0], classes: 1)
        var batch = [Float](repeating: -1, count: 6)
        [0, 1].withUnsafeBufferPointer { order in
            data.fill(input: &batch, targets: nil, order: order, start: 0, count: 2, normalization: .unit)
        }
        let s: Float = 1 / 255
        #expect(batch == [7 * s, 8 * s, 0, 255 * s, -1, -1])
        #expect(InputNormalization.mnist.apply([7, 8, 0, 255]) == {
            var b = [Float](repeating: 0, count: 4)
            [0, 1].withUnsafeBufferPointer { data.fill(input: &b, targets: nil, order: $0, start: 0, count: 2, normalization: .mnist) }
            return b
        }())
    }
}
