import ConvKit
/// Why a data set could not be loaded. Each case names the file, so the CLI can print
/// `description` as its one line of explanation.
public enum DataError: Error, CustomStringConvertible, Equatable {
    case missingFile(String)
    case unreadable(String, reason: String)
    case emptyFile(String)
    case badCompression(String, CompressionError)
    case truncatedHeader(String, needed: Int, actual: Int)
    case wrongMagic(String, found: UInt32, expected: UInt32)
    case badDimensions(String, dims: [UInt32], reason: String)
    case truncatedBody(String, expected: Int, actual: Int)
    case trailingBytes(String, expected: Int, actual: Int)
    case countMismatch(images: String, imageCount: Int, labels: String, labelCount: Int)
    case labelOutOfRange(String, index: Int, value: UInt8)
    case checksumMismatch(String, expected: String, actual: String)
    case bundledDataNotFound(searched: [String])
    case badSelection(String)

    public var description: String {
        switch self {
        case .missingFile(let file):
            return "\(file): no such file"
        case .unreadable(let file, let reason):
            return "\(file): cannot read (\(reason))"
        case .emptyFile(let file):
            return "\(file): file is empty"
        case .badCompression(let file, let why):
            return "\(file): \(why)"
        case .truncatedHeader(let file, let needed, let actual):
            return "\(file): truncated IDX header (\(actual) bytes, need \(needed))"
        case .wrongMagic(let file, let found, let expected):
            return "\(file): IDX magic is \(hex(found)), expected \(hex(expected))"
        case .badDimensions(let file, let dims, let reason):
            return "\(file): IDX dimensions \(dims.map(String.init).joined(separator: "×")) \(reason)"
        case .truncatedBody(let file, let expected, let actual):
            return "\(file): truncated, dimensions need \(expected) bytes but the file has \(actual)"
        case .trailingBytes(let file, let expected, let actual):
            return "\(file): \(actual - expected) unexpected bytes after the \(expected) the dimensions call for"
        case .countMismatch(let images, let imageCount, let labels, let labelCount):
            return "\(images) holds \(imageCount) images but \(labels) holds \(labelCount) labels"
        case .labelOutOfRange(let file, let index, let value):
            return "\(file): label \(value) at index \(index) is outside 0–9"
        case .checksumMismatch(let file, let expected, let actual):
            return "\(file): SHA-256 of the content is \(actual), expected \(expected)"
        case .bundledDataNotFound(let searched):
            return "bundled MNIST (Data/mnist) not found above \(searched.joined(separator: " or "))"
        case .badSelection(let why):
            return "bad digit selection: \(why)"
        }
    }

    private func hex(_ x: UInt32) -> String {
        let digits = String(x, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
