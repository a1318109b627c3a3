import Testing
import ConvKit
import ConvKitFiles
import ConvKitVisualization
import ConvKitBenchmark

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

    @Test func labelOutOfRange() {
        let dir = TemporaryDirectory()
        let path = dir.write("ten", idxFile(magic: IDX.labelsMagic, dims: [3], body: [1, 10, 2]))
        #expect(throws: DataError.labelOutOfRange(path, index: 1, value: 10)) { try IDX.readLabels(path: path) }
        #expect(DataError.labelOutOfRange(path, index: 1, value: 10).description == "\(path): label 10 at index 1 is outside 0–9")
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
