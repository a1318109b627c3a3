import ConvKit
/// An 8-bit greyscale image, such as a digit to classify: 0 = black, 255 = white.
public struct GreyImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// height × width, row-major.
    public let pixels: [UInt8]

    /// Throws `ShapeError` unless `pixels` holds exactly width × height values.
    public init(width: Int, height: Int, pixels: [UInt8]) throws(ShapeError) {
        guard width >= 0, height >= 0, width.multipliedReportingOverflow(by: height) == (pixels.count, false) else {
            throw ShapeError("\(pixels.count) pixels for \(width)×\(height)")
        }
        self.init(unchecked: width, height, pixels)
    }

    init(unchecked width: Int, _ height: Int, _ pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// No digit image comes near this; it keeps a forged header from reaching an allocation.
    public static let maxPixels = 1 << 26

    /// Reads a PGM (P5 or P2) or PNG file, chosen by its first bytes rather than its name.
    public static func read(path: String) throws(ImageError) -> GreyImage {
        let bytes: [UInt8]
        switch FileBytes.load(path, limit: 1 << 28) {
        case .bytes(let b): bytes = b
        case .missing: throw .missingFile(path)
        case .failed(let reason): throw .unreadable(path, reason: reason)
        }
        return try decode(bytes, file: path)
    }

    public static func decode(_ bytes: [UInt8], file: String = "<image bytes>") throws(ImageError) -> GreyImage {
        if bytes.starts(with: PNG.signature) { return try PNG.decode(bytes, file: file) }
        if bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), bytes[1] == UInt8(ascii: "5") || bytes[1] == UInt8(ascii: "2") {
            return try PGM.decode(bytes, file: file)
        }
        throw .unknownFormat(file)
    }

    /// Reads an image that must be `width` × `height`, as a digit for an MNIST model must be 28 × 28.
    public static func read(path: String, width: Int, height: Int) throws(ImageError) -> GreyImage {
        let image = try read(path: path)
        guard image.width == width, image.height == height else {
            throw .wrongSize(path, width: image.width, height: image.height, expectedWidth: width, expectedHeight: height)
        }
        return image
    }
}

/// Why an image could not be read; each case names the file, in one line.
public enum ImageError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    case unreadable(String, reason: String)
    case unknownFormat(String)
    case truncated(String, what: String)
    case malformed(String, reason: String)
    case wrongSize(String, width: Int, height: Int, expectedWidth: Int, expectedHeight: Int)
    case unsupportedDepth(String, bitDepth: Int)
    case unsupportedColourType(String, colourType: Int)
    case interlaced(String)
    case badCRC(String, chunk: String)
    case badCompression(String, CompressionError)

    public var description: String {
        switch self {
        case .missingFile(let f): return "\(f): no such file"
        case .unreadable(let f, let reason): return "\(f): cannot read (\(reason))"
        case .unknownFormat(let f): return "\(f): neither PNG nor binary/ASCII PGM (P5/P2)"
        case .truncated(let f, let what): return "\(f): truncated (\(what))"
        case .malformed(let f, let reason): return "\(f): \(reason)"
        case .wrongSize(let f, let w, let h, let ew, let eh): return "\(f): image is \(w)×\(h), expected \(ew)×\(eh)"
        case .unsupportedDepth(let f, let depth): return "\(f): bit depth \(depth) is not supported (only 8)"
        case .unsupportedColourType(let f, let type):
            return "\(f): PNG colour type \(type) is not supported (grey 0, RGB 2, grey+alpha 4, RGBA 6)"
        case .interlaced(let f): return "\(f): interlaced PNG is not supported"
        case .badCRC(let f, let chunk): return "\(f): CRC mismatch in PNG chunk \(chunk)"
        case .badCompression(let f, let why): return "\(f): image data: \(why)"
        }
    }
}
