import Foundation
import Testing
import ConvKitFiles

/// JPEG through libjpeg-turbo (Sources/ConvKitFiles/Data/JPEG.swift), against the fixtures of
/// Fixtures/jpeg/ (made by make_jpegs.py beside them, with the exact source of each as Netpbm).
/// Most tests need a build with JPEG; one checks what a build without it says.
@Suite struct JPEGTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/jpeg")

    static func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name)))
    }

    /// The largest and the mean absolute difference between two images' samples.
    static func difference(_ a: RasterImage, _ b: RasterImage) -> (max: Int, mean: Double) {
        let d = zip(a.pixels, b.pixels).map { abs(Int($0) - Int($1)) }
        return (d.max() ?? 0, Double(d.reduce(0, +)) / Double(max(d.count, 1)))
    }

    static let file = "<image bytes>"

    /// Each JPEG against its source, within what quality 95 (90 for the 4:2:0 one) loses on these
    /// smooth images. libjpeg-turbo 2.1.5 gives max/mean 5/0.59 (rgb), 2/0.08 (grey), 8/0.99
    /// (rgb-420); the bounds leave room for another version's rounding, while a swapped channel,
    /// a flipped row or a wrong colour conversion (tens of levels off) does not pass.
    @Test(.enabled(if: RasterImage.readsJPEG), arguments: [
        ("rgb.jpg", "rgb.ppm", 3, 8, 1.0), ("grey.jpg", "grey.pgm", 1, 4, 0.5), ("rgb-420.jpg", "rgb.ppm", 3, 14, 2.0),
    ])
    func decodesCloseToItsSource(_ jpeg: String, _ source: String, _ channels: Int, _ maxDiff: Int, _ meanDiff: Double) throws {
        let image = try RasterImage.decode(try Self.fixture(jpeg), file: jpeg)
        let expected = try RasterImage.decode(try Self.fixture(source), file: source)
        #expect(image.channels == channels && image.shape == [channels, 48, 64] && expected.shape == image.shape)
        let (largest, mean) = Self.difference(image, expected)
        print("\(jpeg): max difference \(largest), mean \(String(format: "%.3f", mean)) from \(source)")
        #expect(largest <= maxDiff && mean <= meanDiff, "\(jpeg): max \(largest), mean \(mean)")
    }

    @Test(.enabled(if: RasterImage.readsJPEG))
    func greyReadersAndFilesByContent() throws {
        let dir = TemporaryDirectory()
        // The name does not matter, the first bytes do.
        let path = dir.write("photo.png", try Self.fixture("rgb.jpg"))
        let colour = try RasterImage.read(path: path)
        #expect(colour.shape == [3, 48, 64])
        // GreyImage (a grey model's `predict --image`) takes colour JPEGs by luma, as it does PPM.
        #expect(try GreyImage.read(path: path, width: 64, height: 48).pixels == colour.converted(toChannels: 1).pixels)
        let grey = try GreyImage.decode(try Self.fixture("grey.jpg"))
        #expect(grey.pixels == (try RasterImage.decode(try Self.fixture("grey.jpg"))).pixels)
        // An image folder of one grey and one colour JPEG: grey repeated into RGB.
        dir.write("set/train/a/x.jpeg", try Self.fixture("grey.jpg"))
        dir.write("set/train/b/y.jpg", try Self.fixture("rgb.jpg"))
        let set = try ImageFolder.load(directory: dir.path + "/set", split: .train)
        #expect(set.sampleShape == [3, 48, 64] && set.labels == [0, 1])
        #expect(Array(set.image(0)) == grey.pixels + grey.pixels + grey.pixels)
    }

    /// Every prefix of a JPEG, not only its half: libjpeg would decode most of them (the missing
    /// part grey) with a warning, which ConvKit makes an error.
    @Test(.enabled(if: RasterImage.readsJPEG))
    func truncatedIsATypedError() throws {
        let jpeg = try Self.fixture("rgb.jpg")
        #expect {
            try RasterImage.decode(Array(jpeg.prefix(jpeg.count / 2)))
        } throws: { error in
            guard case .truncated(Self.file, let what) = error as? ImageError else { return false }
            return what.hasPrefix("JPEG data ends early")
        }
        for n in 3..<jpeg.count {
            #expect(throws: ImageError.self, "\(n) of \(jpeg.count) bytes") { try RasterImage.decode(Array(jpeg.prefix(n))) }
        }
        // Only SOI and the first byte of a marker.
        #expect(throws: ImageError.self) { try RasterImage.decode([0xFF, 0xD8, 0xFF]) }
        let grey = try Self.fixture("grey.jpg")
        #expect { try GreyImage.decode(Array(grey.prefix(grey.count / 2))) } throws: { error in
            if case .truncated = error as? ImageError { return true } else { return false }
        }
    }

    @Test(.enabled(if: RasterImage.readsJPEG))
    func corruptIsATypedError() throws {
        let jpeg = try Self.fixture("rgb.jpg")
        let sos = try #require((0..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xDA })
        // The frame header's component IDs overwritten: the scan names components there are not.
        let sof = try #require((0..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        var header = jpeg
        for k in [10, 13, 16] { header[sof + k] = 0x77 }
        #expect {
            try RasterImage.decode(header)
        } throws: { error in
            guard case .malformed(Self.file, let reason) = error as? ImageError else { return false }
            return reason.hasPrefix("JPEG: ")
        }
        // Stray bytes in the entropy-coded data that libjpeg notices (it skips to the next marker)
        // are an error, not an image with a grey tail.
        var scan = jpeg
        for k in 0..<16 { scan[900 + k] ^= 0x5A }
        #expect(sos < 900)
        #expect(throws: ImageError.self) { try RasterImage.decode(scan) }
        // Anywhere else: an error or an image of the right shape (JPEG has no checksum), never a trap.
        for at in stride(from: 3, to: jpeg.count - 8, by: 8) {
            var bytes = jpeg
            for k in 0..<8 { bytes[at + k] = 0xFF - bytes[at + k] }
            if let image = try? RasterImage.decode(bytes) { #expect(image.shape == [3, 48, 64], "overwritten at \(at)") }
        }
    }

    /// SOF0's height and width set to 65000: refused from the header, before the 12 GB of pixels
    /// (the message gives the size, which only the header check knows).
    @Test(.enabled(if: RasterImage.readsJPEG))
    func hugeDeclaredSizeIsRefusedBeforeDecoding() throws {
        var jpeg = try Self.fixture("rgb.jpg")
        let sof = try #require((0..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        // FF C0, length (2), precision (1), height (2), width (2).
        jpeg[sof + 5] = 0xFD; jpeg[sof + 6] = 0xE8; jpeg[sof + 7] = 0xFD; jpeg[sof + 8] = 0xE8
        #expect(throws: ImageError.malformed(Self.file, reason: "JPEG size 65000×65000 is too large (at most \(GreyImage.maxPixels) pixels)")) {
            try RasterImage.decode(jpeg)
        }
        // An image folder's bound is smaller: the unpatched 64×48 against 1 000 pixels.
        #expect(throws: ImageError.malformed(Self.file, reason: "JPEG size 64×48 is too large (at most 1000 pixels)")) {
            try RasterImage.decode(try Self.fixture("rgb.jpg"), maxPixels: 1000)
        }
    }

    @Test(.enabled(if: RasterImage.readsJPEG))
    func cmykIsRefused() throws {
        #expect(throws: ImageError.unsupportedJPEGColourspace("cmyk.jpg", colourspace: "CMYK")) {
            try RasterImage.decode(try Self.fixture("cmyk.jpg"), file: "cmyk.jpg")
        }
    }

    /// Runs with or without JPEG: only FF D8 FF is taken for a JPEG.
    @Test func notAJPEG() {
        #expect(throws: ImageError.unknownFormat(Self.file)) { try RasterImage.decode([0xFF, 0xD8, 0x00, 0x01]) }
        #expect(throws: ImageError.unknownFormat(Self.file)) { try RasterImage.decode([0xFF]) }
        #expect(ImageError.unknownFormat("x").description == "x: neither PNG, JPEG nor Netpbm (PGM P5/P2, PPM P6/P3)")
        if RasterImage.readsJPEG {
            // SOI, then anything.
            #expect(throws: ImageError.self) { try RasterImage.decode([0xFF, 0xD8, 0xFF] + Array("not a JPEG at all".utf8)) }
        }
    }

    /// A build without libjpeg-turbo (CONVKIT_JPEG=0; CI's TSan step): one line naming the package.
    @Test(.enabled(if: !RasterImage.readsJPEG))
    func withoutJPEGSupportTheErrorSaysWhatToInstall() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("set/train/a/x.jpg", try Self.fixture("rgb.jpg"))
        #expect(throws: ImageError.noJPEGSupport(path)) { try RasterImage.read(path: path) }
        #expect(throws: ImageError.noJPEGSupport(path)) { try GreyImage.read(path: path) }
        let text = ImageError.noJPEGSupport(path).description
        #expect(text.contains("libturbojpeg0-dev") && !text.contains("\n"), "\(text)")
        #expect(throws: DataError.badImage(.noJPEGSupport(path))) { try ImageFolder.load(directory: dir.path + "/set", split: .train) }
    }
}
