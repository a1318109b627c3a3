import ConvKit
/// The IDX format of the MNIST files: a big-endian magic `0x0000 TT RR` (TT the element type,
/// 08 for unsigned bytes; RR the rank), RR big-endian UInt32 dimensions, then the elements.
/// Plain and gzip-compressed files are both accepted.
public enum IDX {
    public static let imagesMagic: UInt32 = 0x0000_0803
    public static let labelsMagic: UInt32 = 0x0000_0801

    /// No real IDX file is near this; it only stops absurd dimensions from reaching an allocation.
    public static let maxBytes = 256 << 20

    /// Images, rank 3 (count × rows × cols), row-major.
    public struct Images: Sendable, Equatable {
        public var count: Int
        public var rows: Int
        public var cols: Int
        public var pixels: [UInt8]
    }

    public static func readImages(path: String) throws(DataError) -> Images {
        try parseImages(readContent(path: path), file: path)
    }

    public static func readLabels(path: String) throws(DataError) -> [UInt8] {
        try parseLabels(readContent(path: path), file: path)
    }

    /// The file's bytes, decompressed if they start with the gzip magic.
    public static func readContent(path: String) throws(DataError) -> [UInt8] {
        let bytes: [UInt8]
        switch FileBytes.load(path, limit: maxBytes) {
        case .bytes(let b): bytes = b
        case .missing: throw .missingFile(path)
        case .failed(let reason): throw .unreadable(path, reason: reason)
        }
        if bytes.isEmpty { throw .emptyFile(path) }
        guard Gzip.isGzip(bytes) else { return bytes }
        let content: [UInt8]
        do throws(CompressionError) {
            content = try Gzip.decompress(bytes, limit: maxBytes)
        } catch {
            throw .badCompression(path, error)
        }
        if content.isEmpty { throw .emptyFile(path) }
        return content
    }

    public static func parseImages(_ bytes: [UInt8], file: String) throws(DataError) -> Images {
        let dims = try header(bytes, file: file, magic: imagesMagic, rank: 3)
        if dims[1] == 0 || dims[2] == 0 { throw .badDimensions(file, dims: dims, reason: "have an empty image size") }
        let offset = 4 + 4 * 3
        return Images(count: Int(dims[0]), rows: Int(dims[1]), cols: Int(dims[2]), pixels: Array(bytes[offset...]))
    }

    /// Labels, rank 1, each a digit 0–9.
    public static func parseLabels(_ bytes: [UInt8], file: String) throws(DataError) -> [UInt8] {
        _ = try header(bytes, file: file, magic: labelsMagic, rank: 1)
        let labels = Array(bytes[8...])
        if let bad = labels.firstIndex(where: { $0 > 9 }) {
            throw .labelOutOfRange(file, index: bad, value: labels[bad])
        }
        return labels
    }

    /// Checks magic, dimensions and that the body is exactly as long as they say; returns the dims.
    private static func header(_ bytes: [UInt8], file: String, magic: UInt32, rank: Int) throws(DataError) -> [UInt32] {
        if bytes.isEmpty { throw .emptyFile(file) }
        if bytes.count < 4 { throw .truncatedHeader(file, needed: 4 + 4 * rank, actual: bytes.count) }
        let found = bigEndian(bytes, at: 0)
        if found != magic { throw .wrongMagic(file, found: found, expected: magic) }
        let headerSize = 4 + 4 * rank
        if bytes.count < headerSize { throw .truncatedHeader(file, needed: headerSize, actual: bytes.count) }

        let dims = (0..<rank).map { bigEndian(bytes, at: 4 + 4 * $0) }
        var elements = 1
        for d in dims {
            let (product, overflow) = elements.multipliedReportingOverflow(by: Int(d))
            if overflow { throw .badDimensions(file, dims: dims, reason: "overflow") }
            elements = product
        }
        if elements > maxBytes - headerSize {
            throw .badDimensions(file, dims: dims, reason: "exceed the \(maxBytes)-byte limit")
        }
        let expected = headerSize + elements
        if bytes.count < expected { throw .truncatedBody(file, expected: expected, actual: bytes.count) }
        if bytes.count > expected { throw .trailingBytes(file, expected: expected, actual: bytes.count) }
        return dims
    }

    private static func bigEndian(_ bytes: [UInt8], at i: Int) -> UInt32 {
        UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3])
    }
}
