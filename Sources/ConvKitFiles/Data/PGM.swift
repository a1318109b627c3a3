/// Netpbm greymaps: P5 (binary) and P2 (ASCII), 8-bit (maxval ≤ 255). The simplest image format
/// there is, so tests and users can make a digit with a text editor.
public enum PGM {
    static func decode(_ bytes: [UInt8], file: String) throws(ImageError) -> GreyImage {
        let (width, height, _, pixels) = try decodeSamples(bytes, file: file, maxPixels: GreyImage.maxPixels)
        return GreyImage(unchecked: width, height, pixels)
    }

    /// P5/P2 greymaps and P6/P3 pixmaps (PPM, RGB): width, height, channels (1 or 3) and the
    /// samples interleaved, scaled to 0–255. More than `maxPixels` pixels is refused before the
    /// raster is allocated.
    static func decodeSamples(_ bytes: [UInt8], file: String, maxPixels: Int) throws(ImageError) -> (Int, Int, Int, [UInt8]) {
        var at = 2
        let kind = bytes[1]
        let binary = kind == UInt8(ascii: "5") || kind == UInt8(ascii: "6")
        let channels = kind == UInt8(ascii: "6") || kind == UInt8(ascii: "3") ? 3 : 1
        let name = "P\(Character(UnicodeScalar(kind)))"
        guard at < bytes.count, isSpace(bytes[at]) || bytes[at] == UInt8(ascii: "#") else {
            throw .malformed(file, reason: "PGM magic \(name) is not followed by whitespace")
        }

        // Header: whitespace-separated width, height, maxval, with '#' comments to end of line.
        func token(_ what: String) throws(ImageError) -> Int {
            while at < bytes.count {
                if bytes[at] == UInt8(ascii: "#") {
                    while at < bytes.count, bytes[at] != 10, bytes[at] != 13 { at += 1 }
                } else if isSpace(bytes[at]) {
                    at += 1
                } else {
                    break
                }
            }
            let start = at
            var value = 0
            while at < bytes.count, (48...57).contains(bytes[at]) {
                value = value * 10 + Int(bytes[at] - 48)
                if value > 1 << 30 { throw .malformed(file, reason: "PGM \(what) is too large") }
                at += 1
            }
            if at == start {
                if at >= bytes.count { throw .truncated(file, what: "PGM header ends before the \(what)") }
                throw .malformed(file, reason: "PGM \(what) is not a number")
            }
            return value
        }

        let width = try token("width"), height = try token("height"), maxval = try token("maxval")
        guard maxval >= 1 else { throw .malformed(file, reason: "PGM maxval is 0") }
        guard maxval <= 255 else { throw .unsupportedDepth(file, bitDepth: 16) }
        guard width > 0, height > 0, width * height <= maxPixels else {
            throw .malformed(file, reason: "PGM size \(width)×\(height) is empty or too large")
        }
        let n = width * height * channels

        var pixels = [UInt8](repeating: 0, count: n)
        if binary {
            // Exactly one whitespace byte separates maxval from the raster.
            guard at < bytes.count, isSpace(bytes[at]) else { throw .truncated(file, what: "no raster after the PGM header") }
            at += 1
            guard bytes.count - at >= n else { throw .truncated(file, what: "raster has \(bytes.count - at) of \(n) bytes") }
            for i in 0..<n { pixels[i] = bytes[at + i] }
        } else {
            for i in 0..<n {
                let v = try token("pixel \(i)")
                if v > maxval { throw .malformed(file, reason: "pixel value \(v) above maxval \(maxval)") }
                pixels[i] = UInt8(v)
            }
        }
        if let bad = pixels.first(where: { Int($0) > maxval }) {
            throw .malformed(file, reason: "pixel value \(bad) above maxval \(maxval)")
        }
        // Scale to the full 0–255 range so every reader sees the same brightness.
        if maxval != 255 {
            for i in 0..<n { pixels[i] = UInt8((Int(pixels[i]) * 255 + maxval / 2) / maxval) }
        }
        return (width, height, channels, pixels)
    }

    /// A P5 (binary) or P2 (ASCII) file with maxval 255.
    public static func encode(_ image: GreyImage, binary: Bool = true) -> [UInt8] {
        var out = Array("\(binary ? "P5" : "P2")\n\(image.width) \(image.height)\n255\n".utf8)
        if binary {
            out += image.pixels
        } else {
            for row in 0..<image.height {
                let line = image.pixels[(row * image.width)..<((row + 1) * image.width)].map(String.init)
                out += Array((line.joined(separator: " ") + "\n").utf8)
            }
        }
        return out
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 32 || (9...13).contains(b) }
}
