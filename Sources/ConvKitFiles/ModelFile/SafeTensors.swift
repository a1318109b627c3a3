import ConvKit
import Foundation

/// The safetensors format (Hugging Face), which PyTorch reads: an 8-byte little-endian header
/// length N, N bytes of JSON mapping each tensor name to its dtype, shape and byte range in the
/// data section, optional string metadata under "__metadata__", then the raw little-endian data.
/// F32 tensors, and I64 ones for counts (batch norm's `num_batches_tracked`, which PyTorch keeps
/// as an int64 of shape []): those are held as floats, exact up to 2²⁴, and named in
/// `integerTensors`.
public struct SafeTensorsFile: Sendable, Equatable {
    /// In data-section order, which is the order `encode` writes them in.
    public var tensors: [(name: String, tensor: Tensor)]
    public var metadata: [String: String]
    /// The tensors stored as I64: whole numbers, written rounded.
    public var integerTensors: Set<String>

    public init(tensors: [(name: String, tensor: Tensor)] = [], metadata: [String: String] = [:], integerTensors: Set<String> = []) {
        self.tensors = tensors
        self.metadata = metadata
        self.integerTensors = integerTensors
    }

    public subscript(name: String) -> Tensor? {
        tensors.first { $0.name == name }?.tensor
    }

    public static func == (a: SafeTensorsFile, b: SafeTensorsFile) -> Bool {
        a.metadata == b.metadata && a.integerTensors == b.integerTensors && a.tensors.map(\.name) == b.tensors.map(\.name)
            && a.tensors.map(\.tensor) == b.tensors.map(\.tensor)
    }

    /// A header this large means a corrupt or hostile file, not a model.
    static let maxHeaderLength: UInt64 = 100_000_000
    static let maxFileSize = 1 << 34

    public static func read(path: String) throws(ModelFileError) -> SafeTensorsFile {
        switch FileBytes.load(path, limit: maxFileSize) {
        case .bytes(let bytes): return try decode(bytes: bytes, file: path)
        case .missing: throw .missingFile(path)
        case .failed(let reason): throw .unreadable(path, reason: reason)
        }
    }

    /// Decodes a whole file's bytes; `file` only names it in errors.
    public static func decode(bytes: [UInt8], file: String = "<safetensors bytes>") throws(ModelFileError) -> SafeTensorsFile {
        guard bytes.count >= 8 else { throw .tooShort(file, size: bytes.count) }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard length <= maxHeaderLength, length <= UInt64(bytes.count - 8) else {
            throw .badHeaderLength(file, length: length, fileSize: bytes.count)
        }
        let headerEnd = 8 + Int(length)
        let entries = try parseHeader(Data(bytes[8..<headerEnd]), file: file)
        let dataSize = bytes.count - headerEnd

        var metadata: [String: String] = [:]
        var ranges: [(name: String, shape: [Int], begin: Int, end: Int, integer: Bool)] = []
        // Sorted, so a file with several faults reports the same one on every run.
        for (name, value) in entries.sorted(by: { $0.key < $1.key }) {
            if name == "__metadata__" {
                metadata = try parseMetadata(value, file: file)
            } else {
                let entry = try parseEntry(name: name, value: value, file: file, dataSize: dataSize)
                ranges.append((name, entry.shape, entry.begin, entry.end, entry.integer))
            }
        }

        // The data section must be covered exactly: no overlaps, no unclaimed bytes.
        ranges.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var covered = 0
        for (k, r) in ranges.enumerated() {
            if r.begin < covered { throw .overlap(file, first: ranges[k - 1].name, second: r.name) }
            if r.begin > covered { throw .hole(file, from: covered, to: r.begin) }
            covered = r.end
        }
        if covered != dataSize { throw .hole(file, from: covered, to: dataSize) }

        let tensors = ranges.map { r in
            let base = headerEnd + r.begin
            if r.integer {
                var scalars = [Float](repeating: 0, count: (r.end - r.begin) / 8)
                for i in scalars.indices {
                    var bits: UInt64 = 0
                    for k in 0..<8 { bits |= UInt64(bytes[base + 8 * i + k]) << (8 * UInt64(k)) }
                    scalars[i] = Float(Int64(bitPattern: bits))
                }
                return (name: r.name, tensor: Tensor(unchecked: r.shape, scalars))
            }
            var scalars = [Float](repeating: 0, count: (r.end - r.begin) / 4)
            for i in scalars.indices {
                let at = base + 4 * i
                let bits = UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
                scalars[i] = Float(bitPattern: bits)
            }
            return (name: r.name, tensor: Tensor(unchecked: r.shape, scalars))
        }
        return SafeTensorsFile(tensors: tensors, metadata: metadata, integerTensors: Set(ranges.filter(\.integer).map(\.name)))
    }

    private static func parseHeader(_ json: Data, file: String) throws(ModelFileError) -> [String: Any] {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: json, options: [.fragmentsAllowed])
        } catch {
            // Foundation's messages may span lines; the CLI shows one.
            let reason = error.localizedDescription.split(whereSeparator: \.isNewline).joined(separator: " ")
            throw .headerNotJSON(file, reason: reason)
        }
        guard let entries = object as? [String: Any] else { throw .headerNotObject(file) }
        return entries
    }

    private static func parseMetadata(_ value: Any, file: String) throws(ModelFileError) -> [String: String] {
        guard let dict = value as? [String: Any] else { throw .badMetadata(file, reason: "is not an object") }
        var metadata: [String: String] = [:]
        for (key, v) in dict {
            guard let s = v as? String else { throw .badMetadata(file, reason: "value of \"\(key)\" is not a string") }
            metadata[key] = s
        }
        return metadata
    }

    private static func parseEntry(name: String, value: Any, file: String, dataSize: Int) throws(ModelFileError)
        -> (shape: [Int], begin: Int, end: Int, integer: Bool)
    {
        guard let entry = value as? [String: Any] else {
            throw .badField(file, tensor: name, field: "entry", reason: "is not an object")
        }
        for field in ["dtype", "shape", "data_offsets"] where entry[field] == nil {
            throw .missingField(file, tensor: name, field: field)
        }
        guard let dtype = entry["dtype"] as? String else {
            throw .badField(file, tensor: name, field: "dtype", reason: "is not a string")
        }
        guard dtype == "F32" || dtype == "I64" else { throw .unsupportedDtype(file, tensor: name, dtype: dtype) }
        let width = dtype == "I64" ? 8 : 4

        guard let shapeValues = entry["shape"] as? [Any] else {
            throw .badField(file, tensor: name, field: "shape", reason: "is not an array")
        }
        var shape: [Int] = []
        var elements = 1
        for v in shapeValues {
            guard let d = integer(v) else { throw .badShape(file, tensor: name, reason: "has a non-integer dimension") }
            guard d >= 0 else { throw .badShape(file, tensor: name, reason: "has negative dimension \(d)") }
            let (product, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow, product <= Int.max / 8 else { throw .badShape(file, tensor: name, reason: "element count overflows") }
            elements = product
            shape.append(d)
        }

        guard let offsets = entry["data_offsets"] as? [Any], offsets.count == 2,
              let begin = integer(offsets[0]), let end = integer(offsets[1]) else {
            throw .badField(file, tensor: name, field: "data_offsets", reason: "is not a pair of integers")
        }
        guard begin >= 0, begin <= end, end <= dataSize else {
            throw .offsetsOutOfRange(file, tensor: name, begin: begin, end: end, dataSize: dataSize)
        }
        if end - begin != elements * width {
            throw .sizeMismatch(file, tensor: name, shape: shape, bytes: end - begin)
        }
        return (shape, begin, end, width == 8)
    }

    // JSON numbers arrive as NSNumber, and so do booleans (`is Bool` holds for both, so the
    // boolean is recognised by its C type "c"). Only exact integers pass: not 1.5, not true.
    private static func integer(_ value: Any) -> Int? {
        guard let number = value as? NSNumber, String(cString: number.objCType) != "c" else { return nil }
        if let i = value as? Int { return i }
        if let d = value as? Double, d.rounded() == d, abs(d) < 9.0e18 { return Int(d) }
        return nil
    }
}
