import Foundation
import Testing
@testable import ConvKit
@testable import ConvKitFiles

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

    // The stored (.gz) checksums are what lets a run skip the content's: they must be the
    // bundled files' own, or every load would fall back to decompressing everything.
    @Test func storedChecksumsMatchTheBundledFiles() throws {
        let dir = try MNIST.bundledDirectory()
        #expect(MNIST.storedChecksums.count == 4)
        for (name, digest) in MNIST.storedChecksums {
            #expect(SHA256.hexDigest(try IDX.readFile(path: dir + "/" + name)) == digest, "\(name)")
        }
    }

    /// A copy of the bundled MNIST in a temporary directory, as `Data/mnist` inside it.
    static func copyOfBundledData() throws -> (TemporaryDirectory, String) {
        let dir = TemporaryDirectory()
        let data = dir.path + "/Data/mnist"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let bundled = try MNIST.bundledDirectory()
        for name in MNIST.storedChecksums.keys {
            try FileManager.default.copyItem(atPath: bundled + "/" + name, toPath: data + "/" + name)
        }
        return (dir, data)
    }

    // A load that decompresses only the images the selection takes must give the same subset,
    // shuffled or not, and the same pixels, as reading every file whole.
    @Test(arguments: [
        Selection(digits: [0, 1], perClass: 100), Selection(digits: [9, 3, 5], perClass: 7),
        Selection(digits: Array(0...9), perClass: 1), Selection(digits: [0, 1]), Selection.all,
        Selection(digits: [4], perClass: 100_000), Selection(digits: [2], perClass: 0),
    ])
    func selectiveLoadMatchesWholeLoad(selection: Selection) throws {
        let dir = try MNIST.bundledDirectory()
        let whole = try MNIST.load(directory: dir, split: .test, verifyChecksums: false)
        let part = try MNIST.load(directory: dir, split: .test, verifyChecksums: true, selection: selection)
        #expect(part.count == selection.imagesNeeded(labels: whole.labels))
        #expect(part.labels == Array(whole.labels.prefix(part.count)))
        #expect(part.images == Array(whole.images.prefix(part.count * 784)))
        #expect(try part.select(selection) == whole.select(selection))
        #expect(try part.select(selection, shuffleSeed: 7) == whole.select(selection, shuffleSeed: 7))
    }

    @Test func imagesNeededStopsAtTheLastImageTaken() {
        let labels: [UInt8] = [3, 1, 3, 0, 1, 3, 1, 0, 2]
        #expect(Selection(digits: [1, 3], perClass: 2).imagesNeeded(labels: labels) == 5)
        #expect(Selection(digits: [0], perClass: 1).imagesNeeded(labels: labels) == 4)
        #expect(Selection(digits: [0, 1]).imagesNeeded(labels: labels) == 8)
        #expect(Selection(digits: [2, 0], perClass: 5).imagesNeeded(labels: labels) == 9)
        #expect(Selection(digits: [5]).imagesNeeded(labels: labels) == 0)
        // Bad selections need nothing; select() then reports them.
        #expect(Selection(digits: [12], perClass: 1).imagesNeeded(labels: labels) == 0)
        #expect(Selection(digits: [1], perClass: -1).imagesNeeded(labels: labels) == 0)
    }

    // The same content stored otherwise (plain, or gzipped by another tool) is not the bundled
    // bytes, but its content checksum still passes.
    @Test func sameContentStoredOtherwiseIsAccepted() throws {
        let bundled = try MNIST.bundledDirectory()
        let dir = TemporaryDirectory()
        dir.write("t10k-labels-idx1-ubyte", try IDX.readContent(path: bundled + "/t10k-labels-idx1-ubyte.gz"))
        dir.write("t10k-images-idx3-ubyte.gz", gzipped(try IDX.readContent(path: bundled + "/t10k-images-idx3-ubyte.gz")))
        let selection = Selection(digits: [0, 1], perClass: 100)
        let loaded = try MNIST.load(directory: dir.path, split: .test, verifyChecksums: true, selection: selection)
        let expected = try MNIST.load(directory: bundled, split: .test, verifyChecksums: true, selection: selection)
        #expect(try loaded.select(selection) == expected.select(selection))
    }

    // One byte changed in a bundled .gz's compressed data, including far past the images a run
    // decompresses, or in its trailer (CRC, length), is refused with one line naming the file;
    // bytes of the gzip header that are not content (timestamp, stored file name) may change.
    @Test func corruptedBundledFileIsRefused() throws {
        let (tmp, data) = try Self.copyOfBundledData()
        defer { withExtendedLifetime(tmp) {} }
        let path = data + "/train-images-idx3-ubyte.gz"
        let original = try IDX.readFile(path: path)
        let selection = Selection(digits: [0, 1], perClass: 100)
        func load() throws { _ = try MNIST.load(directory: data, split: .train, verifyChecksums: true, selection: selection) }
        for offset in [1000, original.count / 2, original.count - 20, original.count - 6, original.count - 1] {
            var bytes = original
            bytes[offset] ^= 0x10
            #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
            let error = #expect(throws: DataError.self, "byte \(offset)") { try load() }
            #expect(error?.description.hasPrefix(path + ": ") == true && error?.description.contains("\n") == false,
                    "\(String(describing: error))")
        }
        for offset in [4, 20] {
            var bytes = original
            bytes[offset] ^= 0x10
            #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
            #expect(throws: Never.self, "byte \(offset)") { try load() }
        }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(original.prefix(original.count - 100))))
        #expect(throws: DataError.badCompression(path, .truncated)) { try load() }
    }

    // As a user meets it, through `convkit train` run from a directory holding a copy of
    // Data/mnist, with its own cache: the first run hashes the files and stamps them, and a byte
    // then changed in place (same inode, same size: only the file's times tell) is hashed again
    // and refused with one line naming the file.
    @Test func verifiedStampsAndCorruptionThroughTheCLI() throws {
        let executable = try #require(CLITests.executable, "convkit is not built; run `swift build` first")
        let (tmp, data) = try Self.copyOfBundledData()
        defer { withExtendedLifetime(tmp) {} }
        let cache = tmp.path + "/cache", stamps = cache + "/convkit/verified"
        func train() throws -> (status: Int32, stderr: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["train", "--epochs", "0"]
            process.currentDirectoryURL = URL(fileURLWithPath: tmp.path)
            var environment = ProcessInfo.processInfo.environment
            environment["XDG_CACHE_HOME"] = cache
            environment["OMP_NUM_THREADS"] = "2"
            process.environment = environment
            let err = Pipe()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = err
            try process.run()
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, stderr)
        }

        // Files changed within the last second or so are never stamped (FileBytes.Identity).
        Thread.sleep(forTimeInterval: 2.2)
        let first = try train()
        #expect(first.status == 0, "\(first.stderr)")
        let written = try FileManager.default.contentsOfDirectory(atPath: stamps)
        #expect(written.count == 4)
        let lines = try written.map { try String(contentsOfFile: stamps + "/" + $0, encoding: .utf8) }
        #expect(lines.contains { $0.contains(" train-images-idx3-ubyte \(MNIST.storedChecksums["train-images-idx3-ubyte.gz"]!) ") })
        #expect(try train().status == 0)

        let path = data + "/train-images-idx3-ubyte.gz"
        let file = try #require(FileHandle(forUpdatingAtPath: path))
        let middle = UInt64(try IDX.readFile(path: path).count / 2)
        try file.seek(toOffset: middle)
        let byte = try #require(try file.read(upToCount: 1))
        try file.seek(toOffset: middle)
        try file.write(contentsOf: Data([byte[0] ^ 1]))
        try file.close()
        let corrupted = try train()
        #expect(corrupted.status == 1)
        #expect(corrupted.stderr.hasPrefix("Error: \(path): ") && corrupted.stderr.filter { $0 == "\n" }.count == 1, "\(corrupted.stderr)")
    }

    @Test func identityOnlyForSettledFiles() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("fresh", [1, 2, 3])
        let (file, identity) = FileBytes.loadIdentified(path, limit: 100)
        guard case .bytes(let bytes) = file else { Issue.record("\(file)"); return }
        #expect(bytes == [1, 2, 3] && identity == nil)
        #expect(FileBytes.replace(dir.path + "/a/b/stamp", with: [7]))
        #expect(dir.contents("a/b/stamp") == [7])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/a/b") == ["stamp"])
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
        #expect(try InputNormalization.mnist.apply([7, 8, 0, 255]) == {
            var b = [Float](repeating: 0, count: 4)
            [0, 1].withUnsafeBufferPointer { data.fill(input: &b, targets: nil, order: $0, start: 0, count: 2, normalization: .mnist) }
            return b
        }())
    }
}
