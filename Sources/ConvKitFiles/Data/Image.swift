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

    /// Reads a PGM (P5 or P2), PPM (P6 or P3, to grey), PNG or JPEG (colour to grey; see
    /// `RasterImage.readsJPEG`) file, chosen by its first bytes rather than its name.
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
        let ppm = bytes.count >= 2 && bytes[0] == UInt8(ascii: "P") && (bytes[1] == UInt8(ascii: "6") || bytes[1] == UInt8(ascii: "3"))
        if ppm || bytes.starts(with: JPEG.signature) {
            let colour = try RasterImage.decode(bytes, file: file, maxPixels: maxPixels).converted(toChannels: 1)
            return GreyImage(unchecked: colour.width, colour.height, colour.pixels)
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
    case unsupportedJPEGColourspace(String, colourspace: String)
    /// A JPEG, in a build without libjpeg-turbo (`RasterImage.readsJPEG` is false).
    case noJPEGSupport(String)

    public var description: String {
        switch self {
        case .missingFile(let f): return "\(f): no such file"
        case .unreadable(let f, let reason): return "\(f): cannot read (\(reason))"
        case .unknownFormat(let f): return "\(f): neither PNG, JPEG nor Netpbm (PGM P5/P2, PPM P6/P3)"
        case .truncated(let f, let what): return "\(f): truncated (\(what))"
        case .malformed(let f, let reason): return "\(f): \(reason)"
        case .wrongSize(let f, let w, let h, let ew, let eh): return "\(f): image is \(w)×\(h), expected \(ew)×\(eh)"
        case .unsupportedDepth(let f, let depth): return "\(f): bit depth \(depth) is not supported (only 8)"
        case .unsupportedColourType(let f, let type):
            return "\(f): PNG colour type \(type) is not supported (grey 0, RGB 2, grey+alpha 4, RGBA 6)"
        case .interlaced(let f): return "\(f): interlaced PNG is not supported"
        case .badCRC(let f, let chunk): return "\(f): CRC mismatch in PNG chunk \(chunk)"
        case .badCompression(let f, let why): return "\(f): image data: \(why)"
        case .unsupportedJPEGColourspace(let f, let space): return "\(f): JPEG colourspace \(space) is not supported (grey, YCbCr or RGB)"
        case .noJPEGSupport(let f):
            return "\(f): a JPEG, but this ConvKit was built without libjpeg-turbo; install libturbojpeg0-dev (Homebrew: jpeg-turbo) and rebuild"
        }
    }
}

/// An 8-bit image of one (grey) or three (RGB) channels, as a network takes it: channel-planar,
/// channels × height × width. Alpha is dropped, not composited: a data set's images are what
/// their colour samples say.
public struct RasterImage: Sendable, Equatable {
    public let channels: Int
    public let width: Int
    public let height: Int
    /// channels × height × width, each channel's plane row-major.
    public let pixels: [UInt8]

    /// Throws `ShapeError` unless `pixels` holds exactly channels × height × width values and
    /// channels is 1 or 3.
    public init(channels: Int, width: Int, height: Int, pixels: [UInt8]) throws(ShapeError) {
        let (plane, overflow) = width.multipliedReportingOverflow(by: height)
        guard channels == 1 || channels == 3, width > 0, height > 0, !overflow,
              plane.multipliedReportingOverflow(by: channels) == (pixels.count, false) else {
            throw ShapeError("\(pixels.count) values for a \(width)×\(height) image of \(channels) channels")
        }
        self.init(unchecked: channels, width, height, pixels)
    }

    init(unchecked channels: Int, _ width: Int, _ height: Int, _ pixels: [UInt8]) {
        self.channels = channels
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// channels × height × width.
    public var shape: [Int] { [channels, height, width] }

    /// Whether this build reads JPEG: true when Package.swift found libjpeg-turbo's TurboJPEG
    /// (Debian's libturbojpeg0-dev) and `CONVKIT_JPEG=0` did not turn it off. When false, a JPEG
    /// file throws `ImageError.noJPEGSupport`, whose text says what to install.
    public static var readsJPEG: Bool { JPEG.available }

    /// Reads a PNG (grey, grey+alpha, RGB, RGBA), JPEG (grey, colour; see `readsJPEG`) or Netpbm
    /// file (P5/P2 grey, P6/P3 RGB), chosen by its first bytes, not its name. Images of more than
    /// `maxPixels` pixels are refused before their pixels are allocated.
    public static func read(path: String, maxPixels: Int = GreyImage.maxPixels) throws(ImageError) -> RasterImage {
        let bytes: [UInt8]
        switch FileBytes.load(path, limit: 1 << 28) {
        case .bytes(let b): bytes = b
        case .missing: throw .missingFile(path)
        case .failed(let reason): throw .unreadable(path, reason: reason)
        }
        return try decode(bytes, file: path, maxPixels: maxPixels)
    }

    public static func decode(_ bytes: [UInt8], file: String = "<image bytes>", maxPixels: Int = GreyImage.maxPixels) throws(ImageError) -> RasterImage {
        let width: Int, height: Int, stored: Int, samples: [UInt8]
        if bytes.starts(with: PNG.signature) {
            (width, height, stored, samples) = try PNG.decodeSamples(bytes, file: file, maxPixels: maxPixels)
        } else if bytes.count >= 2, bytes[0] == UInt8(ascii: "P"), (UInt8(ascii: "2")...UInt8(ascii: "6")).contains(bytes[1]),
                  bytes[1] != UInt8(ascii: "4") {
            (width, height, stored, samples) = try PGM.decodeSamples(bytes, file: file, maxPixels: maxPixels)
        } else if bytes.starts(with: JPEG.signature) {
            (width, height, stored, samples) = try JPEG.decodeSamples(bytes, file: file, maxPixels: maxPixels)
        } else {
            throw .unknownFormat(file)
        }
        // Grey+alpha keeps grey, RGBA keeps RGB; interleaved samples become planes.
        let channels = stored >= 3 ? 3 : 1
        let plane = width * height
        var pixels = [UInt8](repeating: 0, count: channels * plane)
        for c in 0..<channels {
            for i in 0..<plane { pixels[c * plane + i] = samples[i * stored + c] }
        }
        return RasterImage(unchecked: channels, width, height, pixels)
    }

    /// The image with `channels` channels: grey repeated into R, G and B, or RGB to grey by
    /// Rec. 601 luma (as `GreyImage` reads colour files).
    public func converted(toChannels target: Int) -> RasterImage {
        if target == channels { return self }
        let plane = width * height
        if channels == 1 { return RasterImage(unchecked: target, width, height, Array([[UInt8]](repeating: pixels, count: target).joined())) }
        var grey = [UInt8](repeating: 0, count: plane)
        for i in 0..<plane {
            let r = 299 * Int(pixels[i]), g = 587 * Int(pixels[plane + i]), b = 114 * Int(pixels[2 * plane + i])
            grey[i] = UInt8((r + g + b + 500) / 1000)
        }
        return target == 1 ? RasterImage(unchecked: 1, width, height, grey) : RasterImage(unchecked: 1, width, height, grey).converted(toChannels: target)
    }
}
