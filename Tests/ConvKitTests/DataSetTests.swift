import Foundation
import Testing
@testable import ConvKit
import ConvKitFiles

/// A PNG written here without ConvKit's encoder: one zlib stream of stored (uncompressed)
/// deflate blocks, and CRC-32 and Adler-32 computed bit by bit, so a reader bug cannot hide
/// behind a matching writer bug. `colourType` 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA; `samples`
/// interleaved, row by row.
func testPNG(width: Int, height: Int, colourType: UInt8, samples: [UInt8], declaring declared: (Int, Int)? = nil) -> [UInt8] {
    let channels = [0: 1, 2: 3, 4: 2, 6: 4][Int(colourType)]!
    precondition(samples.count == width * height * channels)
    var raw: [UInt8] = []
    for y in 0..<height { raw.append(0); raw += samples[(y * width * channels)..<((y + 1) * width * channels)] }
    var zlib: [UInt8] = [0x78, 0x01]
    var at = 0
    repeat {
        let n = min(65535, raw.count - at)
        zlib += [at + n == raw.count ? 1 : 0, UInt8(n & 0xff), UInt8(n >> 8), UInt8(~n & 0xff), UInt8((~n >> 8) & 0xff)]
        zlib += raw[at..<(at + n)]
        at += n
    } while at < raw.count
    var (a, b): (UInt32, UInt32) = (1, 0)
    for byte in raw { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
    zlib += bigEndian32(b << 16 | a)

    func crc(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xffff_ffff
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 == 1 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian32(UInt32(data.count)) + body + bigEndian32(crc(body))
    }
    let (w, h) = declared ?? (width, height)
    let ihdr = bigEndian32(UInt32(w)) + bigEndian32(UInt32(h)) + [8, colourType, 0, 0, 0]
    return [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] + chunk("IHDR", ihdr) + chunk("IDAT", zlib) + chunk("IEND", [])
}

/// Interleaved RGB samples whose red, green and blue are distinct functions of the pixel index,
/// and the channel-planar pixels a reader should give for them.
func rgbImage(width: Int, height: Int, seed: Int) -> (interleaved: [UInt8], planar: [UInt8]) {
    let n = width * height
    let planes = (0..<3).map { c in (0..<n).map { i in UInt8(truncatingIfNeeded: seed &* 31 &+ i &* (c + 1) &+ 50 * c) } }
    let interleaved = (0..<n).flatMap { i in [planes[0][i], planes[1][i], planes[2][i]] }
    return (interleaved, planes.flatMap { $0 })
}

/// RGB samples with an alpha sample after each pixel's three.
func withAlpha(_ rgb: [UInt8], _ alpha: (Int) -> UInt8) -> [UInt8] {
    var out: [UInt8] = []
    for i in 0..<(rgb.count / 3) {
        out += rgb[(3 * i)..<(3 * i + 3)]
        out.append(alpha(i))
    }
    return out
}

@Suite("Data sets beyond MNIST")
struct DataSetTests {
    // MARK: CIFAR

    /// A CIFAR record: label bytes then a 3×32×32 image whose bytes follow from `seed`.
    static func cifarRecord(_ labels: [UInt8], seed: Int) -> [UInt8] {
        labels + (0..<CIFAR.imageBytes).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ seed &* 13) }
    }

    @Test("CIFAR-10: batches in order, labels, channel-planar pixels as stored, names from batches.meta.txt")
    func cifar10RoundTrip() throws {
        let dir = TemporaryDirectory()
        var expectedLabels: [UInt8] = [], expectedPixels: [UInt8] = []
        for batch in 1...5 {
            var bytes: [UInt8] = []
            for r in 0..<batch {  // batch k holds k records
                let label = UInt8((batch * 3 + r) % 10), seed = batch * 10 + r
                bytes += Self.cifarRecord([label], seed: seed)
                expectedLabels.append(label)
                expectedPixels += Self.cifarRecord([], seed: seed)
            }
            dir.write("data_batch_\(batch).bin", bytes)
        }
        dir.write("test_batch.bin", Self.cifarRecord([9], seed: 99) + Self.cifarRecord([0], seed: 98))
        let names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        dir.write("batches.meta.txt", Array((names.joined(separator: "\n") + "\n\n").utf8))

        let source = try DataSource.detect(dir.path)
        #expect(source.format == .cifar10 && source.description == "CIFAR-10 binary at \(dir.path)")
        let train = try source.load(.train)
        #expect(train.count == 15 && train.labels == expectedLabels && train.images == expectedPixels)
        #expect(train.sampleShape == [3, 32, 32])
        #expect(train.classes.map(\.name) == names && train.classes.map(\.label) == Array(0...9))
        // Pixel order: the record's byte 1 + 1024·c + 32·y + x is channel c, row y, column x.
        let record = Self.cifarRecord([0], seed: 10)
        let at: Int = 1024 * 2 + 32 * 5 + 7
        let stored: UInt8 = record[1 + at]
        #expect(train.image(0)[at] == stored)
        let test = try source.load(.test)
        #expect(test.labels == [9, 0] && Array(test.image(1)) == Self.cifarRecord([], seed: 98))

        // Without the names file the classes are numbered.
        try FileManager.default.removeItem(atPath: dir.path + "/batches.meta.txt")
        #expect(try source.load(.test).classes.map(\.name) == (0...9).map(String.init))
    }

    @Test("CIFAR-100: the fine label (second byte) is the class, names from fine_label_names.txt; found in cifar-100-binary/")
    func cifar100RoundTrip() throws {
        let parent = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: parent.path + "/cifar-100-binary", withIntermediateDirectories: true)
        let dir = parent.path + "/cifar-100-binary"
        let train = Self.cifarRecord([19, 99], seed: 1) + Self.cifarRecord([0, 42], seed: 2) + Self.cifarRecord([5, 0], seed: 3)
        _ = FileManager.default.createFile(atPath: dir + "/train.bin", contents: Data(train))
        _ = FileManager.default.createFile(atPath: dir + "/test.bin", contents: Data(Self.cifarRecord([1, 7], seed: 4)))
        let names = (0..<100).map { "fine\($0)" }
        _ = FileManager.default.createFile(atPath: dir + "/fine_label_names.txt", contents: Data(names.joined(separator: "\n").utf8))

        let source = try DataSource.detect(parent.path)
        #expect(source == DataSource(format: .cifar100, directory: dir))
        let set = try source.load(.train)
        #expect(set.labels == [99, 42, 0] && set.classes.count == 100 && set.classes[42].name == "fine42")
        #expect(Array(set.image(1)) == Self.cifarRecord([], seed: 2))
        #expect(try source.load(.test).labels == [7])
    }

    @Test("truncated or corrupt CIFAR files are typed errors naming the file")
    func cifarErrors() throws {
        let record = Self.cifarRecord([3], seed: 1)
        #expect(throws: DataError.partialRecord("f", recordSize: 3073, actual: 3072)) {
            try CIFAR.parse(Array(record.dropLast()), kind: .cifar10, file: "f")
        }
        #expect(throws: DataError.partialRecord("f", recordSize: 3074, actual: 3073)) { try CIFAR.parse(record, kind: .cifar100, file: "f") }
        #expect(throws: DataError.emptyFile("f")) { try CIFAR.parse([], kind: .cifar10, file: "f") }
        #expect(throws: DataError.labelBeyondClasses("f", index: 1, value: 10, classes: 10)) {
            try CIFAR.parse(record + Self.cifarRecord([10], seed: 2), kind: .cifar10, file: "f")
        }
        #expect(throws: DataError.labelBeyondClasses("f", index: 0, value: 100, classes: 100)) {
            try CIFAR.parse(Self.cifarRecord([3, 100], seed: 2), kind: .cifar100, file: "f")
        }
        #expect(throws: DataError.labelBeyondClasses("f", index: 0, value: 20, classes: 20)) {
            try CIFAR.parse(Self.cifarRecord([20, 1], seed: 2), kind: .cifar100, file: "f")
        }
        #expect(DataError.partialRecord("f", recordSize: 3073, actual: 3072).description
                == "f: 3072 bytes are not whole 3073-byte CIFAR records (truncated?)")

        let dir = TemporaryDirectory()
        for name in CIFAR.Kind.cifar10.files(.train) { dir.write(name, record) }
        dir.write("data_batch_3.bin", Array(record.prefix(100)))
        #expect(throws: DataError.partialRecord(dir.path + "/data_batch_3.bin", recordSize: 3073, actual: 100)) {
            try CIFAR.load(directory: dir.path, kind: .cifar10, split: .train)
        }
        dir.write("data_batch_3.bin", record)
        dir.write("batches.meta.txt", Array("a\nb\n".utf8))
        #expect(throws: DataError.classNamesMismatch(dir.path + "/batches.meta.txt", names: 2, classes: 10)) {
            try CIFAR.load(directory: dir.path, kind: .cifar10, split: .train)
        }
        #expect(throws: DataError.missingFile(dir.path + "/test_batch.bin")) { try CIFAR.load(directory: dir.path, kind: .cifar10, split: .test) }
    }

    // MARK: images

    @Test("RasterImage: grey, grey+alpha, RGB and RGBA PNG and PPM P6/P3 become channel-planar, alpha dropped")
    func rasterDecoding() throws {
        let (w, h) = (5, 3)
        let rgb = rgbImage(width: w, height: h, seed: 4)
        let fromRGB = try RasterImage.decode(testPNG(width: w, height: h, colourType: 2, samples: rgb.interleaved))
        #expect(fromRGB.shape == [3, 3, 5] && fromRGB.pixels == rgb.planar)

        let alpha = (0..<(w * h)).map { UInt8($0 * 9) }
        let rgba = withAlpha(rgb.interleaved) { alpha[$0] }
        #expect(try RasterImage.decode(testPNG(width: w, height: h, colourType: 6, samples: rgba)) == fromRGB)

        let grey = Array(rgb.planar.prefix(w * h))
        let fromGrey = try RasterImage.decode(testPNG(width: w, height: h, colourType: 0, samples: grey))
        #expect(fromGrey.shape == [1, 3, 5] && fromGrey.pixels == grey)
        let greyAlpha = (0..<(w * h)).flatMap { [grey[$0], alpha[$0]] }
        #expect(try RasterImage.decode(testPNG(width: w, height: h, colourType: 4, samples: greyAlpha)) == fromGrey)
        #expect(fromGrey.converted(toChannels: 3).pixels == grey + grey + grey)

        let p6 = Array("P6\n# colour\n\(w) \(h)\n255\n".utf8) + rgb.interleaved
        #expect(try RasterImage.decode(p6) == fromRGB)
        let p3 = Array("P3 \(w) \(h) 255\n".utf8) + Array(rgb.interleaved.map(String.init).joined(separator: " ").utf8)
        #expect(try RasterImage.decode(p3) == fromRGB)
        // A P6 read as a grey image is its luma, as colour PNGs already were.
        let luma = try GreyImage.decode(p6)
        let (r, g, b) = (Int(rgb.interleaved[0]), Int(rgb.interleaved[1]), Int(rgb.interleaved[2]))
        #expect(Int(luma.pixels[0]) == (299 * r + 587 * g + 114 * b + 500) / 1000)

        #expect(throws: ImageError.truncated("<image bytes>", what: "raster has 44 of 45 bytes")) { try RasterImage.decode(Array(p6.dropLast())) }
        #expect(throws: ImageError.unknownFormat("<image bytes>")) { try RasterImage.decode(Array("P4\n1 1\n".utf8)) }
    }

    @Test("a forged huge PNG or PPM size is refused from its header, before any allocation")
    func hugeDeclaredSize() throws {
        let forged = testPNG(width: 1, height: 1, colourType: 2, samples: [1, 2, 3], declaring: (60_000, 60_000))
        #expect(throws: ImageError.malformed("x", reason: "PNG size 60000×60000 is empty or too large")) {
            try RasterImage.decode(forged, file: "x", maxPixels: Dataset.maxSide * Dataset.maxSide)
        }
        #expect(throws: ImageError.malformed("x", reason: "PGM size 2000×2000 is empty or too large")) {
            try RasterImage.decode(Array("P6 2000 2000 255\n".utf8), file: "x", maxPixels: Dataset.maxSide * Dataset.maxSide)
        }
        #expect(throws: DataError.imageTooLarge("x", shape: [17, 2, 2])) { try Dataset.checkShape(channels: 17, rows: 2, cols: 2, file: "x") }
        #expect(throws: DataError.imageTooLarge("x", shape: [16, 1024, 1024])) {
            try Dataset.checkShape(channels: 16, rows: 1024, cols: 1024, file: "x")
        }
        try Dataset.checkShape(channels: 3, rows: 1024, cols: 1024, file: "x")
    }

    /// train/<class>/… of 4×3 images: `cat` RGB PNGs, `dog` RGBA PNGs and a PPM, `emu` grey PNG.
    static func imageFolder(in dir: TemporaryDirectory, test: Bool = true, perClass: Int = 3) -> [String: [[UInt8]]] {
        var planar: [String: [[UInt8]]] = [:]
        let fm = FileManager.default
        for split in test ? ["train", "test"] : ["train"] {
            for (k, name) in ["cat", "dog", "emu"].enumerated() {
                try! fm.createDirectory(atPath: "\(dir.path)/\(split)/\(name)", withIntermediateDirectories: true)
                for i in 0..<perClass {
                    let image = rgbImage(width: 4, height: 3, seed: 100 * k + 10 * i + (split == "test" ? 5 : 0))
                    let file: [UInt8], pixels: [UInt8]
                    switch (name, i) {
                    case ("cat", _):
                        (file, pixels) = (testPNG(width: 4, height: 3, colourType: 2, samples: image.interleaved), image.planar)
                    case ("dog", 2):
                        (file, pixels) = (Array("P6\n4 3\n255\n".utf8) + image.interleaved, image.planar)
                    case ("dog", _):
                        let rgba = withAlpha(image.interleaved) { UInt8($0) }
                        (file, pixels) = (testPNG(width: 4, height: 3, colourType: 6, samples: rgba), image.planar)
                    default:
                        let grey = Array(image.planar.prefix(12))
                        (file, pixels) = (testPNG(width: 4, height: 3, colourType: 0, samples: grey), grey + grey + grey)
                    }
                    dir.write("\(split)/\(name)/img\(i).\(name == "dog" && i == 2 ? "ppm" : "png")", file)
                    planar[split + "/" + name, default: []].append(pixels)
                }
            }
        }
        return planar
    }

    @Test("an image folder: classes are sorted folder names, images in file order, grey repeated into RGB")
    func imageFolderReading() throws {
        let dir = TemporaryDirectory()
        let expected = Self.imageFolder(in: dir)
        dir.write("train/.hidden", [1, 2, 3])
        let source = try DataSource.detect(dir.path)
        #expect(source.format == .imageFolder && source.hasTestSplit)
        let train = try source.load(.train)
        #expect(train.classes == [DataClass(label: 0, name: "cat"), DataClass(label: 1, name: "dog"), DataClass(label: 2, name: "emu")])
        #expect(train.sampleShape == [3, 3, 4] && train.labels == [0, 0, 0, 1, 1, 1, 2, 2, 2])
        #expect(train.images == ["cat", "dog", "emu"].flatMap { expected["train/" + $0]!.joined() })
        let test = try source.load(.test)
        #expect(test.images == ["cat", "dog", "emu"].flatMap { expected["test/" + $0]!.joined() })

        // A grey-only folder stays one channel.
        let greyDir = TemporaryDirectory()
        greyDir.write("train/a/x.pgm", Array("P5 2 2 255\n".utf8) + [1, 2, 3, 4])
        greyDir.write("train/b/y.png", testPNG(width: 2, height: 2, colourType: 0, samples: [5, 6, 7, 8]))
        let grey = try ImageFolder.load(directory: greyDir.path, split: .train)
        #expect(grey.sampleShape == [1, 2, 2] && grey.images == [1, 2, 3, 4, 5, 6, 7, 8] && grey.labels == [0, 1])
        #expect(throws: DataError.noTestSplit(greyDir.path)) { try ImageFolder.load(directory: greyDir.path, split: .test) }
        #expect(try !DataSource.detect(greyDir.path).hasTestSplit)
    }

    @Test("image folder errors: odd size, empty class, non-image file, a class only in test/, nothing there")
    func imageFolderErrors() throws {
        do {
            let dir = TemporaryDirectory()
            _ = Self.imageFolder(in: dir, test: false)
            let odd = dir.write("train/dog/odd.png", testPNG(width: 5, height: 3, colourType: 2, samples: [UInt8](repeating: 9, count: 45)))
            #expect(throws: DataError.mixedImageSizes(odd, shape: [3, 3, 5], expected: [3, 3, 4])) {
                try ImageFolder.load(directory: dir.path, split: .train)
            }
            #expect(DataError.mixedImageSizes(odd, shape: [3, 3, 5], expected: [3, 3, 4]).description.hasPrefix("\(odd): image is 3×3×5"))
        }
        do {
            let dir = TemporaryDirectory()
            _ = Self.imageFolder(in: dir, test: false)
            try FileManager.default.createDirectory(atPath: dir.path + "/train/fox", withIntermediateDirectories: true)
            #expect(throws: DataError.noImages(dir.path + "/train/fox")) { try ImageFolder.load(directory: dir.path, split: .train) }
        }
        do {
            let dir = TemporaryDirectory()
            _ = Self.imageFolder(in: dir, test: false)
            let notes = dir.write("train/cat/notes.txt", Array("hello".utf8))
            #expect(throws: DataError.badImage(.unknownFormat(notes))) { try ImageFolder.load(directory: dir.path, split: .train) }
            try FileManager.default.removeItem(atPath: notes)
            let broken = dir.write("train/cat/broken.png", Array(testPNG(width: 4, height: 3, colourType: 0, samples: [UInt8](repeating: 1, count: 12)).prefix(40)))
            #expect(throws: DataError.badImage(.truncated(broken, what: "PNG ends without IEND"))) {
                try ImageFolder.load(directory: dir.path, split: .train)
            }
        }
        do {
            let dir = TemporaryDirectory()
            _ = Self.imageFolder(in: dir)
            dir.write("test/yak/a.png", testPNG(width: 4, height: 3, colourType: 0, samples: [UInt8](repeating: 1, count: 12)))
            #expect(throws: DataError.unknownClass(dir.path + "/test", name: "yak")) { try ImageFolder.load(directory: dir.path, split: .test) }
        }
        let empty = TemporaryDirectory()
        #expect(throws: DataError.unknownLayout(empty.path)) { try DataSource.detect(empty.path) }
        #expect(throws: DataError.missingFile(empty.path + "/nope")) { try DataSource.detect(empty.path + "/nope") }
        try FileManager.default.createDirectory(atPath: empty.path + "/train", withIntermediateDirectories: true)
        #expect(throws: DataError.noImages(empty.path + "/train")) { try DataSource.detect(empty.path).load(.train) }
    }

    // MARK: validation split

    @Test("--val-split: per class, a partition, the same for the same seed and different for another")
    func holdOutIsSeededPerClass() throws {
        // 3 classes of 20, 10 and 1 images, interleaved.
        var labels: [UInt8] = []
        for i in 0..<20 { labels.append(0); if i < 10 { labels.append(1) }; if i == 0 { labels.append(2) } }
        let data = Dataset(images: labels.indices.map { UInt8($0) }, labels: labels, rows: 1, cols: 1)
        let (train, held) = try data.holdOut(0.2, seed: 7)
        #expect(held.labels.filter { $0 == 0 }.count == 4 && held.labels.filter { $0 == 1 }.count == 2)
        #expect(!held.labels.contains(2) && train.labels.contains(2))
        // The pixel is the image's index: together they are every image once, each part in file order.
        #expect((train.images + held.images).sorted() == data.images)
        #expect(train.images == train.images.sorted() && held.images == held.images.sorted())
        #expect(train.classes == data.classes && held.classes == data.classes)

        let again = try data.holdOut(0.2, seed: 7)
        #expect(again.train == train && again.held == held)
        let other = try data.holdOut(0.2, seed: 8)
        #expect(other.held.images != held.images)
        #expect(throws: DataError.badValSplit("fraction 1.0 is not between 0 and 1")) { try data.holdOut(1, seed: 0) }
    }

    // MARK: normalisation

    @Test("measured normalisation: each channel's mean and std over the chosen samples, as computed naively")
    func measuredNormalization() throws {
        var g = SeededGenerator(seed: 11)
        let (channels, plane, samples) = (3, 6, 5)
        let bytes = (0..<(channels * plane * samples)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        let chosen = [4, 1, 3]
        let data = try LabeledImages(bytes: bytes, sampleShape: [channels, 2, 3], indices: chosen, labels: [0, 1, 0], classes: 2)
        let measured = try InputNormalization.measured(from: data, channels: channels)
        #expect(measured.channels == 3)
        for c in 0..<channels {
            let values = chosen.flatMap { s in (0..<plane).map { Double(bytes[s * channels * plane + c * plane + $0]) / 255 } }
            let mean = values.reduce(0, +) / Double(values.count)
            let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
            #expect(abs(Double(measured.means[c]) - mean) < 1e-6 && abs(Double(measured.stds[c]) - std) < 1e-6,
                    "channel \(c): \(measured.means[c]) \(measured.stds[c]) vs \(mean) \(std)")
        }
        // A constant channel gets std 1, not a division by zero.
        let flat = try InputNormalization.measured(bytes: [7, 7, 7, 7], valuesPerSample: 2, channels: 2)
        #expect(flat.stds == [1, 1] && flat.means.allSatisfy { abs($0 - 7.0 / 255) < 1e-7 })

        // fill and apply scale each plane by its own channel's mean and std.
        let norm = try InputNormalization(means: [0.1, 0.5, 0.9], stds: [0.2, 0.3, 0.4])
        var input = [Float](repeating: .nan, count: 2 * channels * plane)
        [1, 0].withUnsafeBufferPointer { order in
            input.withUnsafeMutableBufferPointer { data.fill(input: $0.baseAddress!, targets: nil, order: order, start: 0, count: 2, normalization: norm) }
        }
        for b in 0..<2 {
            let sample = chosen[[1, 0][b]]
            for c in 0..<channels {
                for j in 0..<plane {
                    let x = Float(bytes[sample * channels * plane + c * plane + j])
                    let expected = (x / 255 - norm.means[c]) / norm.stds[c]
                    #expect(abs(input[b * channels * plane + c * plane + j] - expected) <= 1e-5 * max(1, abs(expected)))
                }
            }
        }
        let one = Array(bytes.prefix(channels * plane))
        let applied = try norm.apply(one)
        for i in one.indices {
            let c = i / plane
            #expect(abs(applied[i] - (Float(one[i]) / 255 - norm.means[c]) / norm.stds[c]) <= 1e-5 * max(1, abs(applied[i])))
        }
        // The scalar spelling is still one channel for all.
        let scalar = try InputNormalization(means: [0.1307], stds: [0.3081])
        #expect(InputNormalization.mnist == scalar && InputNormalization.mnist.mean == 0.1307)
    }

    @Test("bad per-channel scaling is a typed error: in the initialiser, in measuring, applying, training and evaluating")
    func badNormalization() throws {
        #expect(throws: TrainingDataError.self) { try InputNormalization(means: [0.1, 0.2], stds: [1]) }
        #expect(throws: TrainingDataError.self) { try InputNormalization(means: [], stds: []) }
        #expect(throws: TrainingDataError.self) { try InputNormalization(means: [0], stds: [0]) }
        #expect(throws: TrainingDataError.self) { try InputNormalization(means: [.nan], stds: [1]) }
        #expect(throws: TrainingDataError.self) { try InputNormalization.measured(bytes: [1, 2, 3], valuesPerSample: 3, channels: 2) }
        #expect(throws: TrainingDataError.self) { try InputNormalization.measured(bytes: [1, 2], valuesPerSample: 2, samples: [5], channels: 1) }
        let three = try InputNormalization(means: [0, 0, 0], stds: [1, 1, 1])
        #expect(throws: TrainingDataError.self) { try three.apply([1, 2, 3, 4]) }
        // Grey samples with a three-channel scaling: fit and evaluate say so instead of trapping.
        let data = try LabeledImages(bytes: [UInt8](repeating: 9, count: 2 * 16), sampleShape: [1, 4, 4], labels: [0, 1], classes: 2)
        let network = try Architecture(input: [1, 4, 4], spec: "flatten, dense 2").build()
        let trainer = try Trainer(network: network, loss: .softmaxCrossEntropy,
                                  optimizer: try SGD(parameters: network.parameters, learningRate: 0.1), batchSize: 2, normalization: three)
        #expect(throws: TrainingError.normalizationChannels(normalization: 3, sample: [1, 4, 4])) {
            try trainer.fit(data, epochs: 0..<1) { _ in }
        }
        #expect(throws: TrainingError.normalizationChannels(normalization: 3, sample: [1, 4, 4])) {
            try network.evaluate(data, loss: .softmaxCrossEntropy, normalization: three)
        }
    }

    // MARK: model files

    @Test("model files keep class names (commas included) and per-channel normalisation; old digit files still load")
    func modelClassesAndNormalization() throws {
        let names = ["cat", "dog, big", "emu"]
        let norm = try InputNormalization(means: [0.49, 0.48, 0.45], stds: [0.25, 0.24, 0.26])
        let model = try Model(.init(architecture: Architecture(input: [3, 8, 8], spec: "conv 2 3, relu, flatten, dense 3"),
                                    loss: .softmaxCrossEntropy, classes: names, normalization: norm))
        let dir = TemporaryDirectory()
        let path = dir.path + "/m.safetensors"
        try model.save(to: path)
        let (loaded, file) = try Model.load(path: path)
        #expect(loaded.info == model.info && loaded.info.classes == names && loaded.info.normalization == norm)
        #expect(file.metadata["digits"] == nil && file.metadata["input_mean"] == "0.49,0.48,0.45")
        #expect(loaded.info.digits.isEmpty)

        // A file written before class names: `digits` and one mean and std.
        let mnist = try Model(.init(architecture: .lenet(classes: 2), loss: .softmaxCrossEntropy, digits: [3, 8], normalization: .mnist))
        var old = mnist.file()
        old.metadata["classes"] = nil
        #expect(old.metadata["digits"] == "3,8" && old.metadata["input_mean"] == "0.1307" && old.metadata["input_std"] == "0.3081")
        let back = try Model(file: old, path: "old")
        #expect(back.info.classes == ["3", "8"] && back.info.digits == [3, 8] && back.info.normalization == .mnist)

        // Normalisation for another number of channels than the input has is refused.
        #expect(throws: ModelFileError.self) {
            try Model(.init(architecture: Architecture(input: [3, 8, 8], spec: "flatten, dense 2"), loss: .softmaxCrossEntropy,
                            classes: ["a", "b"], normalization: try InputNormalization(means: [0, 0], stds: [1, 1])))
        }
        // The colour model predicts from planar pixels normalised per channel.
        let pixels = (0..<192).map { UInt8($0) }
        let input = try loaded.input(pixels: pixels)
        #expect(abs(input.scalars[64] - (64 / 255 - 0.48) / 0.24) < 1e-5 && abs(input.scalars[191] - (191 / 255 - 0.45) / 0.26) < 1e-5)
    }
}
