import ConvKit
/// Why a model or checkpoint file could not be read, written or used: its bytes are not
/// safetensors, its content is not a ConvKit model (or not this architecture's), or its training
/// state does not fit the run resuming from it. Each case names the file first, so the CLI can
/// print `description` as its one line of explanation.
public enum ModelFileError: Error, CustomStringConvertible, Equatable {
    // The safetensors format.
    case missingFile(String)
    case unreadable(String, reason: String)
    case tooShort(String, size: Int)
    case badHeaderLength(String, length: UInt64, fileSize: Int)
    case headerNotJSON(String, reason: String)
    case headerNotObject(String)
    case missingField(String, tensor: String, field: String)
    case badField(String, tensor: String, field: String, reason: String)
    case unsupportedDtype(String, tensor: String, dtype: String)
    case badShape(String, tensor: String, reason: String)
    case offsetsOutOfRange(String, tensor: String, begin: Int, end: Int, dataSize: Int)
    case sizeMismatch(String, tensor: String, shape: [Int], bytes: Int)
    case overlap(String, first: String, second: String)
    case hole(String, from: Int, to: Int)
    case badMetadata(String, reason: String)
    case writeFailed(String, reason: String)
    /// A tensor name used twice, or "__metadata__", in a file being written.
    case badTensorName(String)

    // The model it describes. The file is nil for a `Model.Description` made in code.
    /// Metadata that describes no usable model (says why), or a description whose network
    /// does not build or fit its classes.
    case badDescription(String?, reason: String)
    case missingTensor(String, tensor: String, shape: [Int])
    case unexpectedTensor(String, tensor: String)
    case wrongShape(String, tensor: String, found: [Int], expected: [Int])

    // The training state of a checkpoint, against the run restoring it.
    /// A model file without training state.
    case notACheckpoint(String)
    case badCheckpointField(String, key: String, value: String)
    case optimizerMismatch(String, found: String, expected: String)
    case missingState(String, tensor: String)
    case wrongStateSize(String, tensor: String, found: Int, expected: Int)
    case unexpectedState(String, tensor: String)
    case generatorMismatch(String)

    public var description: String {
        switch self {
        case .missingFile(let f):
            return "\(f): no such file"
        case .unreadable(let f, let reason):
            return "\(f): cannot read (\(reason))"
        case .tooShort(let f, let size):
            return "\(f): \(size) bytes is too short for a safetensors file (needs an 8-byte header length)"
        case .badHeaderLength(let f, let length, let fileSize):
            return "\(f): header length \(length) does not fit a \(fileSize)-byte file (or exceeds 100 MB)"
        case .headerNotJSON(let f, let reason):
            return "\(f): header is not valid JSON (\(reason))"
        case .headerNotObject(let f):
            return "\(f): header is not a JSON object"
        case .missingField(let f, let tensor, let field):
            return "\(f): tensor \"\(tensor)\" has no \"\(field)\""
        case .badField(let f, let tensor, let field, let reason):
            return "\(f): tensor \"\(tensor)\" field \"\(field)\" \(reason)"
        case .unsupportedDtype(let f, let tensor, let dtype):
            return "\(f): tensor \"\(tensor)\" has dtype \(dtype); only F32 and I64 are supported"
        case .badShape(let f, let tensor, let reason):
            return "\(f): tensor \"\(tensor)\" shape \(reason)"
        case .offsetsOutOfRange(let f, let tensor, let begin, let end, let dataSize):
            return "\(f): tensor \"\(tensor)\" data_offsets [\(begin), \(end)] outside the \(dataSize)-byte data section"
        case .sizeMismatch(let f, let tensor, let shape, let bytes):
            return "\(f): tensor \"\(tensor)\" has shape \(shape) but \(bytes) bytes of data (F32 needs 4 per element, I64 8)"
        case .overlap(let f, let first, let second):
            return "\(f): tensors \"\(first)\" and \"\(second)\" overlap in the data section"
        case .hole(let f, let from, let to):
            return "\(f): bytes \(from)..<\(to) of the data section belong to no tensor"
        case .badMetadata(let f, let reason):
            return "\(f): __metadata__ \(reason)"
        case .writeFailed(let f, let reason):
            return "\(f): cannot write (\(reason))"
        case .badTensorName(let name):
            return "tensor name \"\(name)\" is used twice or reserved"
        case .badDescription(let f?, let reason):
            return "\(f): \(reason)"
        case .badDescription(nil, let reason):
            return reason
        case .missingTensor(let f, let tensor, let shape):
            return "\(f): tensor \"\(tensor)\" \(shapeText(shape)) is missing for this architecture"
        case .unexpectedTensor(let f, let tensor):
            return "\(f): tensor \"\(tensor)\" is not part of this architecture"
        case .wrongShape(let f, let tensor, let found, let expected):
            return "\(f): tensor \"\(tensor)\" is \(shapeText(found)) but the architecture needs \(shapeText(expected))"
        case .notACheckpoint(let f):
            return "\(f): not a checkpoint (a model without training state)"
        case .badCheckpointField(let f, let key, let value):
            return "\(f): checkpoint field \"\(key)\" has bad value '\(value)'"
        case .optimizerMismatch(let f, let found, let expected):
            return "\(f): checkpoint holds \(found) optimizer state, the run uses \(expected)"
        case .missingState(let f, let tensor):
            return "\(f): checkpoint has no optimizer tensor \"\(tensor)\""
        case .wrongStateSize(let f, let tensor, let found, let expected):
            return "\(f): optimizer tensor \"\(tensor)\" has \(found) values, the model needs \(expected)"
        case .unexpectedState(let f, let tensor):
            return "\(f): optimizer tensor \"\(tensor)\" does not belong to this optimizer"
        case .generatorMismatch(let f):
            return "\(f): the saved generator state does not follow from the seed and epoch (file edited or corrupt)"
        }
    }
}
