import Testing
import ConvKitFiles

@Suite struct ImageTests {
    /// A 28×28 digit-like ramp, every value different from its neighbours so filters matter.
    static let digit = try! GreyImage(width: 28, height: 28, pixels: (0..<784).map { UInt8(($0 * 37 + $0 / 28) % 256) })

    @Test func pgmRoundTripsBinaryAndASCII() throws {
        let dir = TemporaryDirectory()
        let p5 = dir.write("d.pgm", PGM.encode(Self.digit))
        let p2 = dir.write("a.pgm", PGM.encode(Self.digit, binary: false))
        #expect(try GreyImage.read(path: p5, width: 28, height: 28) == Self.digit)
        #expect(try GreyImage.read(path: p2, width: 28, height: 28) == Self.digit)
    }

    @Test func pgmCommentsAndMaxval() throws {
        let text = "P2\n# a comment\n3 1 # width and height\n# another\n15\n0 15\n 7\n"
        let image = try GreyImage.decode(Array(text.utf8))
        #expect(image.width == 3 && image.height == 1 && image.pixels == [0, 255, 119])
        #expect(throws: ImageError.self) { try GreyImage.decode(Array("P2 2 1 15 3 16".utf8)) }
        #expect(throws: ImageError.self) { try GreyImage.decode(Array("P5 2 2 65535\n".utf8) + [0, 0, 0, 0]) }
        #expect(throws: ImageError.truncated("<image bytes>", what: "raster has 3 of 4 bytes")) {
            try GreyImage.decode(Array("P5 2 2 255\n".utf8) + [1, 2, 3])
        }
        #expect(throws: ImageError.self) { try GreyImage.decode(Array("P2 2 2 255 1 2 3".utf8)) }
        #expect(throws: ImageError.self) { try GreyImage.decode(Array("P52 2 255\n".utf8) + [1, 2, 3, 4]) }
    }

    @Test func pngGreyRoundTrip() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("d.png", try PNG.encode(Self.digit))
        #expect(try GreyImage.read(path: path, width: 28, height: 28) == Self.digit)
    }

    @Test func pngRGBBecomesGrey() throws {
        let rgb: [UInt8] = [255, 255, 255, 0, 0, 0, 255, 0, 0, 10, 20, 30]
        let image = try GreyImage.decode(try PNG.encode(width: 2, height: 2, channels: 3, pixels: rgb))
        #expect(image.pixels == [255, 0, 76, 18])
    }

    @Test func pngWrongSizeIsReported() throws {
        let dir = TemporaryDirectory()
        let path = dir.write("small.png", try PNG.encode(width: 3, height: 2, channels: 1, pixels: [0, 1, 2, 3, 4, 5]))
        #expect(throws: ImageError.wrongSize(path, width: 3, height: 2, expectedWidth: 28, expectedHeight: 28)) {
            try GreyImage.read(path: path, width: 28, height: 28)
        }
    }

    @Test func pngCRCIsChecked() throws {
        var png = try PNG.encode(Self.digit)
        png[png.count - 20] ^= 0x01  // inside IDAT's data
        #expect(throws: ImageError.badCRC("<image bytes>", chunk: "IDAT")) { try GreyImage.decode(png) }
        var header = try PNG.encode(Self.digit)
        header[16 + 2] ^= 0x80  // IHDR width
        #expect(throws: ImageError.badCRC("<image bytes>", chunk: "IHDR")) { try GreyImage.decode(header) }
    }

    /// Rewrites IHDR byte `index` (0 = first data byte) and fixes the CRC, so only the field is wrong.
    func withIHDR(_ index: Int, _ value: UInt8) throws -> [UInt8] {
        var png = try PNG.encode(width: 2, height: 2, channels: 1, pixels: [0, 1, 2, 3])
        png[16 + index] = value
        let crc = crc32(Array(png[12..<29]))
        png[29] = UInt8(crc >> 24); png[30] = UInt8((crc >> 16) & 0xff); png[31] = UInt8((crc >> 8) & 0xff); png[32] = UInt8(crc & 0xff)
        return png
    }

    @Test func pngUnsupportedHeadersAreRejected() {
        let f = "<image bytes>"
        #expect(throws: ImageError.unsupportedColourType(f, colourType: 3)) { try GreyImage.decode(try withIHDR(9, 3)) }
        #expect(throws: ImageError.unsupportedDepth(f, bitDepth: 16)) { try GreyImage.decode(try withIHDR(8, 16)) }
        #expect(throws: ImageError.interlaced(f)) { try GreyImage.decode(try withIHDR(12, 1)) }
        // The unchanged header still decodes, so the helper itself is sound.
        #expect((try? GreyImage.decode(try withIHDR(9, 0)))?.pixels == [0, 1, 2, 3])
    }

    @Test func pngTruncatedAndFilters() throws {
        let png = try PNG.encode(Self.digit)
        #expect(throws: ImageError.self) { try GreyImage.decode(Array(png.prefix(png.count - 12))) }  // no IEND
        #expect(throws: ImageError.self) { try GreyImage.decode(Array(png.prefix(40))) }
        #expect(throws: ImageError.unknownFormat("<image bytes>")) { try GreyImage.decode([1, 2, 3]) }
        let noHeader = Array(png.prefix(8)) + Array(png[33...])  // IHDR chunk (8 + 13 + 4 bytes) removed
        #expect(throws: ImageError.malformed("<image bytes>", reason: "PNG does not start with IHDR")) {
            try GreyImage.decode(noHeader)
        }
        // Every filter type, from a hand-built stream, against its hand-undone result.
        #expect(try GreyImage.decode(filteredPNG()).pixels == filteredExpected)
    }

    // 5 rows of 3 grey pixels, row y filtered with filter type y (None, Sub, Up, Average, Paeth).
    let filteredExpected: [UInt8] = [10, 200, 30, 15, 40, 100, 20, 250, 90, 22, 37, 70, 200, 100, 50]

    /// Filters by the PNG specification's definitions, then builds the file chunk by chunk, so the
    /// reader is checked against data ConvKit's writer (which uses filter 0 only) never makes.
    func filteredPNG() -> [UInt8] {
        let w = 3, bpp = 1
        var raw: [UInt8] = []
        for y in 0..<5 {
            raw.append(UInt8(y))
            for x in 0..<w {
                let v = Int(filteredExpected[y * w + x])
                let a = x >= bpp ? Int(filteredExpected[y * w + x - bpp]) : 0
                let b = y > 0 ? Int(filteredExpected[(y - 1) * w + x]) : 0
                let c = x >= bpp && y > 0 ? Int(filteredExpected[(y - 1) * w + x - bpp]) : 0
                let p = a + b - c
                let paeth = abs(p - a) <= abs(p - b) && abs(p - a) <= abs(p - c) ? a : (abs(p - b) <= abs(p - c) ? b : c)
                let predictor = [0, a, b, (a + b) / 2, paeth][y]
                raw.append(UInt8(truncatingIfNeeded: v - predictor))
            }
        }
        var size = compressBound(uLong(raw.count))
        var z = [UInt8](repeating: 0, count: Int(size))
        _ = compress2(&z, &size, raw, uLong(raw.count), 9)
        z.removeLast(z.count - Int(size))

        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            return bigEndian32(UInt32(data.count)) + body + bigEndian32(crc32(body))
        }
        let ihdr = bigEndian32(UInt32(w)) + bigEndian32(5) + [8, 0, 0, 0, 0]
        return [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] + chunk("IHDR", ihdr)
            + chunk("tEXt", Array("Comment\0skipped".utf8)) + chunk("IDAT", z) + chunk("IEND", [])
    }
}

import CZlib
func crc32(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBufferPointer { UInt32(CZlib.crc32(0, $0.baseAddress, UInt32($0.count))) }
}
