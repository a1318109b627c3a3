import ConvKit
import CZlib

/// PNG (ISO/IEC 15948), the subset a digit image needs: 8-bit, non-interlaced, grey, grey+alpha,
/// RGB or RGBA, colour converted to grey. Every chunk's CRC is checked.
public enum PNG {
    static let signature: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

    static func decode(_ bytes: [UInt8], file: String) throws(ImageError) -> GreyImage {
        let (width, height, channels, samples) = try decodeSamples(bytes, file: file, maxPixels: GreyImage.maxPixels)
        return GreyImage(unchecked: width, height, grey(samples, channels: channels))
    }

    /// Width, height, channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) and the samples,
    /// interleaved row by row. An image of more than `maxPixels` is refused before inflating.
    static func decodeSamples(_ bytes: [UInt8], file: String, maxPixels: Int) throws(ImageError) -> (Int, Int, Int, [UInt8]) {
        var at = signature.count
        var header: (width: Int, height: Int, channels: Int)?
        var compressed: [UInt8] = []
        var sawEnd = false

        while !sawEnd {
            guard bytes.count - at >= 12 else { throw .truncated(file, what: "PNG ends without IEND") }
            let length = Int(bigEndian(bytes, at))
            let type = String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self)
            let critical = bytes[at + 4] & 0x20 == 0  // uppercase first letter
            guard length <= bytes.count - at - 12 else { throw .truncated(file, what: "PNG chunk \(type)") }
            let dataStart = at + 8
            let data = bytes[dataStart..<(dataStart + length)]
            let stored = bigEndian(bytes, dataStart + length)
            let computed = bytes.withUnsafeBufferPointer { b in
                UInt32(crc32(0, b.baseAddress! + at + 4, UInt32(length + 4)))
            }
            guard stored == computed else { throw .badCRC(file, chunk: type) }
            at = dataStart + length + 4

            if (header == nil) != (type == "IHDR") {
                throw .malformed(file, reason: header == nil ? "PNG does not start with IHDR" : "PNG has a second IHDR")
            }
            switch type {
            case "IHDR":
                header = try parseHeader(Array(data), file: file, maxPixels: maxPixels)
            case "IDAT":
                compressed += data
            case "IEND":
                sawEnd = true
            default:
                // Ancillary chunks (lowercase first letter) are safe to skip; unknown critical
                // ones (PLTE aside, which colour images may carry as a hint) are not.
                if critical && type != "PLTE" { throw .malformed(file, reason: "unsupported critical PNG chunk \(type)") }
            }
        }
        guard let (width, height, channels) = header else { throw .malformed(file, reason: "PNG has no IHDR") }

        let stride = width * channels
        let expected = height * (1 + stride)
        let raw: [UInt8]
        do throws(CompressionError) {
            raw = try Gzip.zlibDecompress(compressed, limit: expected)
        } catch {
            throw .badCompression(file, error)
        }
        guard raw.count == expected else { throw .truncated(file, what: "image data has \(raw.count) of \(expected) bytes") }
        let samples = try unfilter(raw, height: height, stride: stride, bpp: channels, file: file)
        return (width, height, channels, samples)
    }

    private static func parseHeader(_ d: [UInt8], file: String, maxPixels: Int) throws(ImageError) -> (Int, Int, Int) {
        guard d.count == 13 else { throw .malformed(file, reason: "PNG IHDR has \(d.count) bytes, not 13") }
        let width = Int(bigEndian(d, 0)), height = Int(bigEndian(d, 4))
        let depth = Int(d[8]), colourType = Int(d[9])
        guard width > 0, height > 0, width <= maxPixels, width * height <= maxPixels else {
            throw .malformed(file, reason: "PNG size \(width)×\(height) is empty or too large")
        }
        guard depth == 8 else { throw .unsupportedDepth(file, bitDepth: depth) }
        let channels: Int
        switch colourType {
        case 0: channels = 1
        case 2: channels = 3
        case 4: channels = 2
        case 6: channels = 4
        default: throw .unsupportedColourType(file, colourType: colourType)
        }
        guard d[10] == 0, d[11] == 0 else { throw .malformed(file, reason: "PNG compression or filter method is not 0") }
        guard d[12] == 0 else { throw .interlaced(file) }
        return (width, height, channels)
    }

    // Undoes the per-row filters (None, Sub, Up, Average, Paeth), which predict each byte from
    // its left (a), upper (b) and upper-left (c) neighbours.
    private static func unfilter(_ raw: [UInt8], height: Int, stride: Int, bpp: Int, file: String) throws(ImageError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: height * stride)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            let src = y * (stride + 1) + 1, row = y * stride, up = row - stride
            for x in 0..<stride {
                let a = x >= bpp ? Int(out[row + x - bpp]) : 0
                let b = y > 0 ? Int(out[up + x]) : 0
                let c = (x >= bpp && y > 0) ? Int(out[up + x - bpp]) : 0
                let predicted: Int
                switch filter {
                case 0: predicted = 0
                case 1: predicted = a
                case 2: predicted = b
                case 3: predicted = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predicted = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c)
                default: throw .malformed(file, reason: "PNG row \(y) has unknown filter type \(filter)")
                }
                out[row + x] = raw[src + x] &+ UInt8(truncatingIfNeeded: predicted)
            }
        }
        return out
    }

    // Rec. 601 luma for colour; alpha composites over black, MNIST's background.
    private static func grey(_ samples: [UInt8], channels: Int) -> [UInt8] {
        if channels == 1 { return samples }
        let n = samples.count / channels
        return (0..<n).map { i in
            let s = i * channels
            let luma = channels >= 3
                ? (299 * Int(samples[s]) + 587 * Int(samples[s + 1]) + 114 * Int(samples[s + 2]) + 500) / 1000
                : Int(samples[s])
            let alpha = channels == 2 || channels == 4 ? Int(samples[s + channels - 1]) : 255
            return UInt8((luma * alpha + 127) / 255)
        }
    }

    /// An 8-bit grey (1 channel) or RGB (3 channels) PNG, rows unfiltered. Throws `ShapeError`
    /// for another channel count, an empty image, a size past PNG's 2^31−1 or a pixel count that
    /// is not width × height × channels.
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) throws(ShapeError) -> [UInt8] {
        guard channels == 1 || channels == 3 else { throw ShapeError("PNG.encode writes grey (1) or RGB (3), not \(channels) channels") }
        guard width > 0, height > 0, width < 1 << 31, height < 1 << 31,
              pixels.count / channels / height == width, pixels.count == width * height * channels else {
            throw ShapeError("\(pixels.count) values for a \(width)×\(height) image of \(channels) channels")
        }
        return encodeChecked(width: width, height: height, channels: channels, pixels: pixels)
    }

    package static func encodeChecked(width: Int, height: Int, channels: Int, pixels: [UInt8]) -> [UInt8] {
        let stride = width * channels
        var raw: [UInt8] = []
        raw.reserveCapacity(height * (stride + 1))
        for y in 0..<height {
            raw.append(0)
            raw += pixels[(y * stride)..<((y + 1) * stride)]
        }
        var ihdr = bigEndianBytes(UInt32(width)) + bigEndianBytes(UInt32(height))
        ihdr += [8, channels == 1 ? 0 : 2, 0, 0, 0]

        var out = signature
        appendChunk(&out, "IHDR", ihdr)
        appendChunk(&out, "IDAT", Gzip.zlibCompress(raw))
        appendChunk(&out, "IEND", [])
        return out
    }

    /// A grey image as PNG; throws `ShapeError` for an empty image.
    public static func encode(_ image: GreyImage) throws(ShapeError) -> [UInt8] {
        try encode(width: image.width, height: image.height, channels: 1, pixels: image.pixels)
    }

    private static func appendChunk(_ out: inout [UInt8], _ type: String, _ data: [UInt8]) {
        let typeAndData = Array(type.utf8) + data
        let crc = typeAndData.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
        out += bigEndianBytes(UInt32(data.count)) + typeAndData + bigEndianBytes(crc)
    }

    private static func bigEndian<C: Collection<UInt8>>(_ b: C, _ i: Int) -> UInt32 where C.Index == Int {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    private static func bigEndianBytes(_ x: UInt32) -> [UInt8] {
        [UInt8(x >> 24), UInt8((x >> 16) & 0xff), UInt8((x >> 8) & 0xff), UInt8(x & 0xff)]
    }
}
