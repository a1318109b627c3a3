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
    case labelBeyondClasses(String, index: Int, value: UInt8, classes: Int)
    case imageTooLarge(String, shape: [Int])
    case classNamesMismatch(String, names: Int, classes: Int)
    case tooManyClasses(String, count: Int)
    case noImages(String)
    case mixedImageSizes(String, shape: [Int], expected: [Int])
    case badImage(ImageError)
    case unknownLayout(String)
    case noTestSplit(String)
    case badValSplit(String)
    case tooLarge(String, limit: Int)
    case partialRecord(String, recordSize: Int, actual: Int)
    case unknownClass(String, name: String)

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
            return "bad class selection: \(why)"
        case .labelBeyondClasses(let file, let index, let value, let classes):
            return "\(file): label \(value) at record \(index) is outside 0–\(classes - 1)"
        case .imageTooLarge(let file, let shape):
            return "\(file): images of \(shape.map(String.init).joined(separator: "×")) are past the limit (≤ \(Dataset.maxChannels) channels, ≤ \(Dataset.maxSide)×\(Dataset.maxSide), ≤ \(Dataset.maxValuesPerImage) values)"
        case .classNamesMismatch(let file, let names, let classes):
            return "\(file): \(names) class names for \(classes) classes"
        case .tooManyClasses(let path, let count):
            return "\(path): \(count) classes, at most 256 are supported"
        case .noImages(let path):
            return "\(path): no images"
        case .mixedImageSizes(let file, let shape, let expected):
            return "\(file): image is \(shape.map(String.init).joined(separator: "×")) (channels×height×width), the others are \(expected.map(String.init).joined(separator: "×"))"
        case .badImage(let error):
            return error.description
        case .unknownLayout(let path):
            return "\(path): not a data set (no IDX files, CIFAR .bin files, or train/ image folder)"
        case .noTestSplit(let path):
            return "\(path): no test set"
        case .badValSplit(let why):
            return "bad validation split: \(why)"
        case .partialRecord(let file, let recordSize, let actual):
            return "\(file): \(actual) bytes are not whole \(recordSize)-byte CIFAR records (truncated?)"
        case .unknownClass(let path, let name):
            return "\(path): class folder '\(name)' is not one of train/'s"
        case .tooLarge(let path, let limit):
            return "\(path): more than \(limit) bytes of images"
        }
    }

    private func hex(_ x: UInt32) -> String {
        let digits = String(x, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
