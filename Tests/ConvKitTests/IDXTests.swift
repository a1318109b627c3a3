import Testing
import ConvKit
import ConvKitFiles

/// Every way an IDX file can be wrong, each built by hand in a temporary directory.
@Suite struct IDXTests {
    let images2x2x3 = idxFile(magic: IDX.imagesMagic, dims: [2, 2, 3], body: Array(0..<12))
    let labels2 = idxFile(magic: IDX.labelsMagic, dims: [2], body: [7, 3])

    @Test func readsPlainAndGzip() throws {
        let dir = TemporaryDirectory()
        for (name, bytes) in [("i", images2x2x3), ("i.gz", gzipped(images2x2x3))] {
            let images = try IDX.readImages(path: dir.write(name, bytes))
            #expect(images.count == 2 && images.rows == 2 && images.cols == 3)
            #expect(images.pixels == Array(0..<12))
        }
        #expect(try IDX.readLabels(path: dir.write("l.gz", gzipped(labels2))) == [7, 3])
    }

    @Test func missingFile() {
        let dir = TemporaryDirectory()
        let path = dir.path + "/nope"
        #expect(throws: DataError.missingFile(path)) { try IDX.readImages(path: path) }
    }

    @Test func emptyFile() {
        let dir = TemporaryDirectory()
        let path = dir.write("empty", [])
        #expect(throws: DataError.emptyFile(path)) { try IDX.readImages(path: path) }
        let gz = dir.write("empty.gz", gzipped([]))
        #expect(throws: DataError.emptyFile(gz)) { try IDX.readLabels(path: gz) }
    }

    @Test func truncatedHeader() {
        let dir = TemporaryDirectory()
        let short = dir.write("short", Array(images2x2x3.prefix(10)))
        #expect(throws: DataError.truncatedHeader(short, needed: 16, actual: 10)) { try IDX.readImages(path: short) }
        let tiny = dir.write("tiny", [0, 0])
        #expect(throws: DataError.truncatedHeader(tiny, needed: 8, actual: 2)) { try IDX.readLabels(path: tiny) }
    }

    @Test func truncatedBodyAndTrailingBytes() {
        let dir = TemporaryDirectory()
        let short = dir.write("short", Array(images2x2x3.dropLast()))
        #expect(throws: DataError.truncatedBody(short, expected: 28, actual: 27)) { try IDX.readImages(path: short) }
        let long = dir.write("long", images2x2x3 + [0])
        #expect(throws: DataError.trailingBytes(long, expected: 28, actual: 29)) { try IDX.readImages(path: long) }
    }

    @Test func wrongMagic() {
        let dir = TemporaryDirectory()
        // A labels file where images are expected, and a 16-bit element type.
        let labels = dir.write("labels", labels2)
        #expect(throws: DataError.wrongMagic(labels, found: 0x801, expected: 0x803)) { try IDX.readImages(path: labels) }
        let shorts = dir.write("shorts", idxFile(magic: 0x0B01, dims: [1], body: [0, 1]))
        #expect(throws: DataError.wrongMagic(shorts, found: 0xB01, expected: 0x801)) { try IDX.readLabels(path: shorts) }
    }

    @Test func overflowingOrHugeDimensions() throws {
        let dir = TemporaryDirectory()
        let huge = dir.write("huge", idxFile(magic: IDX.imagesMagic, dims: [.max, .max, .max], body: []))
        let error = #expect(throws: DataError.self) { try IDX.readImages(path: huge) }
        guard case .badDimensions(huge, _, "overflow") = error else { Issue.record("got \(String(describing: error))"); return }

        // No overflow, but far more than any data set: refused before anything is allocated.
        let big = dir.write("big", idxFile(magic: IDX.imagesMagic, dims: [100_000, 1000, 1000], body: []))
        let bigError = #expect(throws: DataError.self) { try IDX.readImages(path: big) }
        guard case .badDimensions(big, [100_000, 1000, 1000], _) = bigError else { Issue.record("got \(String(describing: bigError))"); return }
        #expect(bigError!.description.contains("limit"))

        let flat = dir.write("flat", idxFile(magic: IDX.imagesMagic, dims: [3, 0, 28], body: []))
        #expect(throws: DataError.self) { try IDX.readImages(path: flat) }
    }

    @Test("labels are any byte: EMNIST letters are 1–26; the classes are those present, sorted, named from classes.txt")
    func anyLabelRange() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("ten", idxFile(magic: IDX.labelsMagic, dims: [3], body: [1, 10, 2]))
        #expect(try IDX.readLabels(path: path) == [1, 10, 2])

        let labels: [UInt8] = [26, 1, 3, 26, 1]
        for split in ["train", "t10k"] {
            dir.write("\(split)-images-idx3-ubyte", idxFile(magic: IDX.imagesMagic, dims: [5, 2, 2], body: (0..<20).map { UInt8($0) }))
            dir.write("\(split)-labels-idx1-ubyte", idxFile(magic: IDX.labelsMagic, dims: [5], body: labels))
        }
        let plain = try MNIST.load(directory: dir.path, split: .train, verifyChecksums: false)
        #expect(plain.classes == [DataClass(label: 1, name: "1"), DataClass(label: 3, name: "3"), DataClass(label: 26, name: "26")])
        #expect(try plain.select(Selection(labels: [26, 1])).indices == [0, 3, 1, 4])
        #expect(throws: DataError.badSelection("2 is not a label of the data set (1,3,26)")) { try plain.select(Selection(labels: [2])) }

        dir.write("classes.txt", Array("a\nc\n\nz\n".utf8))
        #expect(try MNIST.load(directory: dir.path, split: .test, verifyChecksums: false).classes.map(\.name) == ["a", "c", "z"])
        dir.write("classes.txt", Array("a\nc\n".utf8))
        #expect(throws: DataError.classNamesMismatch(dir.path + "/classes.txt", names: 2, classes: 3)) {
            try MNIST.load(directory: dir.path, split: .test, verifyChecksums: false)
        }
        #expect(try DataSource.detect(dir.path) == DataSource(format: .idx, directory: dir.path))
    }

    @Test func countMismatch() {
        let dir = TemporaryDirectory()
        dir.write("train-images-idx3-ubyte", images2x2x3)
        dir.write("train-labels-idx1-ubyte", idxFile(magic: IDX.labelsMagic, dims: [3], body: [1, 2, 3]))
        #expect(throws: DataError.countMismatch(images: dir.path + "/train-images-idx3-ubyte", imageCount: 2,
                                                labels: dir.path + "/train-labels-idx1-ubyte", labelCount: 3)) {
            try MNIST.load(directory: dir.path, split: .train, verifyChecksums: false)
        }
    }

    @Test func gzipGarbage() throws {
        let dir = TemporaryDirectory()
        let garbage = dir.write("garbage.gz", [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3] + Array(repeating: 0xff, count: 40))
        let error = #expect(throws: DataError.self) { try IDX.readImages(path: garbage) }
        guard case .badCompression(garbage, .corrupt) = error else { Issue.record("got \(String(describing: error))"); return }

        let whole = gzipped(images2x2x3)
        let cut = dir.write("cut.gz", Array(whole.prefix(whole.count - 10)))
        #expect(throws: DataError.badCompression(cut, .truncated)) { try IDX.readImages(path: cut) }

        #expect(throws: CompressionError.tooLarge(limit: 1000)) {
            try Gzip.decompress(gzipped([UInt8](repeating: 0, count: 5000)), limit: 1000)
        }
        #expect(throws: CompressionError.self) { try Gzip.decompress(whole + [1, 2, 3]) }
    }

    @Test func gzipMembersAndLargeContent() throws {
        // Concatenated members decompress as one, as gunzip does; content above one chunk survives.
        let big = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        #expect(try Gzip.decompress(gzipped(big)) == big)
        #expect(try Gzip.decompress(gzipped([1, 2]) + gzipped([3])) == [1, 2, 3])
    }

    @Test func gzipPrefix() throws {
        let big = (0..<700_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let gz = gzipped(big)
        for n in [0, 1, 16, (1 << 18) - 1, 1 << 18, (1 << 18) + 1, 699_999, 700_000, 800_000] {
            #expect(try Gzip.decompress(gz, prefix: n) == Array(big.prefix(n)), "prefix \(n)")
        }
        // Across members, and faults before the prefix's end are still reported.
        #expect(try Gzip.decompress(gzipped([1, 2]) + gzipped([3, 4]), prefix: 3) == [1, 2, 3])
        #expect(throws: CompressionError.truncated) { try Gzip.decompress(Array(gz.prefix(1000)), prefix: 700_000) }
        #expect(throws: CompressionError.self) { try Gzip.decompress([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3] + Array(repeating: 0xff, count: 40), prefix: 10) }
        #expect(throws: CompressionError.tooLarge(limit: 1000)) { try Gzip.decompress(gz, prefix: 5000, limit: 1000) }
    }

    @Test func leadingImages() throws {
        let dir = TemporaryDirectory()
        for bytes in [images2x2x3, gzipped(images2x2x3)] {
            let one = try IDX.leadingImages(of: bytes, file: "f", first: 1)
            #expect(one.fileCount == 2 && one.images.count == 1 && one.images.rows == 2 && one.images.cols == 3)
            #expect(one.images.pixels == Array(0..<6))
            let all = try IDX.leadingImages(of: bytes, file: "f", first: 5)
            #expect(all.images == (try IDX.readImages(path: dir.write("i", images2x2x3))))
            #expect(try IDX.leadingImages(of: bytes, file: "f", first: 0).images.pixels.isEmpty)
        }
        // The header is checked as in parseImages; a body shorter than the images asked for is refused.
        #expect(throws: DataError.wrongMagic("f", found: 0x801, expected: 0x803)) { try IDX.leadingImages(of: labels2, file: "f", first: 1) }
        #expect(throws: DataError.truncatedHeader("f", needed: 16, actual: 10)) { try IDX.leadingImages(of: Array(images2x2x3.prefix(10)), file: "f", first: 1) }
        #expect(throws: DataError.truncatedBody("f", expected: 28, actual: 27)) { try IDX.leadingImages(of: Array(images2x2x3.dropLast()), file: "f", first: 2) }
        #expect(throws: DataError.self) { try IDX.leadingImages(of: idxFile(magic: IDX.imagesMagic, dims: [.max, .max, .max], body: []), file: "f", first: 1) }
        #expect(throws: DataError.emptyFile("f")) { try IDX.leadingImages(of: [], file: "f", first: 1) }
        let whole = gzipped(images2x2x3)
        #expect(throws: DataError.badCompression("f", .truncated)) { try IDX.leadingImages(of: Array(whole.prefix(whole.count - 14)), file: "f", first: 2) }
    }

    // The fuzz corpus's mutations through the partial reader: each returns or throws, and
    // whatever it returns agrees with the whole-file reader wherever that one accepts the file.
    @Test func leadingImagesOnCorpusMutations() throws {
        let seeds = try FuzzCorpusTests.seeds("idx")
        var g = SeededGenerator(seed: 0x1D8)
        var agreed = 0
        for round in 0..<1500 {
            let input = FuzzCorpusTests.mutate(seeds[round % seeds.count], seeds, &g)
            let first = Int(g.next() % 4)
            guard let part = try? IDX.leadingImages(of: input, file: "m", first: first) else { continue }
            let content = Gzip.isGzip(input) ? try? Gzip.decompress(input) : input
            guard let content, let whole = try? IDX.parseImages(content, file: "m") else { continue }
            #expect(part.fileCount == whole.count)
            #expect(part.images.pixels == Array(whole.pixels.prefix(part.images.count * whole.rows * whole.cols)))
            agreed += 1
        }
        #expect(agreed > 0)
    }

    @Test func errorsAreOneLine() {
        let errors: [DataError] = [
            .missingFile("a"), .emptyFile("a"), .truncatedHeader("a", needed: 16, actual: 3),
            .wrongMagic("a", found: 1, expected: 0x803), .badDimensions("a", dims: [1, 2, 3], reason: "overflow"),
            .badCompression("a", .corrupt("x")), .checksumMismatch("a", expected: "e", actual: "f"),
            .bundledDataNotFound(searched: ["/x"]), .badSelection("no digits"),
        ]
        for e in errors { #expect(!e.description.contains("\n")) }
        #expect(DataError.wrongMagic("f", found: 0x801, expected: 0x803).description == "f: IDX magic is 0x00000801, expected 0x00000803")
    }
}
