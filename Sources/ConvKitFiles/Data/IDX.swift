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
        try content(of: readFile(path: path), file: path)
    }

    /// The file's bytes as stored (gzip or plain), not yet decompressed.
    public static func readFile(path: String) throws(DataError) -> [UInt8] {
        try readIdentifiedFile(path: path).bytes
    }

    /// `readFile`, and the identity of the version read (see `FileBytes.Identity`).
    static func readIdentifiedFile(path: String) throws(DataError) -> (bytes: [UInt8], identity: FileBytes.Identity?) {
        let (file, identity) = FileBytes.loadIdentified(path, limit: maxBytes)
        switch file {
        case .bytes(let bytes):
            if bytes.isEmpty { throw .emptyFile(path) }
            return (bytes, identity)
        case .missing: throw .missingFile(path)
        case .failed(let reason): throw .unreadable(path, reason: reason)
        }
    }

    /// A file's content from its stored bytes: decompressed if they start with the gzip magic.
    /// With `prefix`, only the content's first `prefix` bytes (see `Gzip.decompress(_:prefix:)`).
    public static func content(of bytes: [UInt8], file: String, prefix: Int? = nil) throws(DataError) -> [UInt8] {
        if bytes.isEmpty { throw .emptyFile(file) }
        guard Gzip.isGzip(bytes) else { return prefix.map { Array(bytes.prefix($0)) } ?? bytes }
        let content: [UInt8]
        do throws(CompressionError) {
            if let prefix {
                content = try Gzip.decompress(bytes, prefix: prefix, limit: maxBytes)
            } else {
                content = try Gzip.decompress(bytes, limit: maxBytes)
            }
        } catch {
            throw .badCompression(file, error)
        }
        if content.isEmpty { throw .emptyFile(file) }
        return content
    }

    public static func parseImages(_ bytes: [UInt8], file: String) throws(DataError) -> Images {
        let dims = try header(bytes, file: file, magic: imagesMagic, rank: 3)
        if dims[1] == 0 || dims[2] == 0 { throw .badDimensions(file, dims: dims, reason: "have an empty image size") }
        let offset = 4 + 4 * 3
        return Images(count: Int(dims[0]), rows: Int(dims[1]), cols: Int(dims[2]), pixels: Array(bytes[offset...]))
    }

    /// The first `first` images of an images file (all of them if it holds fewer) and the count
    /// its header gives, from the file's stored bytes, decompressing only the header and those
    /// images. The header gets every check `parseImages` makes except the body's length: what
    /// lies past those images is never read, so this is only for files whose stored bytes were
    /// checked whole (MNIST's checksums).
    public static func leadingImages(of bytes: [UInt8], file: String, first: Int) throws(DataError) -> (images: Images, fileCount: Int) {
        let headerSize = 4 + 4 * 3
        let dims = try header(content(of: bytes, file: file, prefix: headerSize), file: file, magic: imagesMagic, rank: 3, whole: false)
        if dims[1] == 0 || dims[2] == 0 { throw .badDimensions(file, dims: dims, reason: "have an empty image size") }
        let (fileCount, rows, cols) = (Int(dims[0]), Int(dims[1]), Int(dims[2]))
        // header() bounded count × rows × cols by maxBytes, so nothing here overflows.
        let count = min(max(0, first), fileCount)
        let needed = headerSize + count * rows * cols
        let prefix = try content(of: bytes, file: file, prefix: needed)
        if prefix.count < needed {
            throw .truncatedBody(file, expected: headerSize + fileCount * rows * cols, actual: prefix.count)
        }
        return (Images(count: count, rows: rows, cols: cols, pixels: Array(prefix[headerSize...])), fileCount)
    }

    /// Labels, rank 1, any byte: MNIST's are digits 0–9, EMNIST letters' 1–26.
    public static func parseLabels(_ bytes: [UInt8], file: String) throws(DataError) -> [UInt8] {
        _ = try header(bytes, file: file, magic: labelsMagic, rank: 1)
        return Array(bytes[8...])
    }

    /// Checks magic, dimensions and, when `bytes` is the `whole` content, that the body is exactly
    /// as long as they say; returns the dims.
    private static func header(_ bytes: [UInt8], file: String, magic: UInt32, rank: Int, whole: Bool = true) throws(DataError) -> [UInt32] {
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
        if !whole { return dims }
        if bytes.count < expected { throw .truncatedBody(file, expected: expected, actual: bytes.count) }
        if bytes.count > expected { throw .trailingBytes(file, expected: expected, actual: bytes.count) }
        return dims
    }

    private static func bigEndian(_ bytes: [UInt8], at i: Int) -> UInt32 {
        UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3])
    }
}
