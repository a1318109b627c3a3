#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension SafeTensorsFile {
    /// The file's bytes: header in tensor order (metadata first), padded with spaces to a
    /// multiple of 8 so the data section starts aligned, then each tensor's data, contiguous.
    /// Tensor names must be unique and not "__metadata__" (`ModelFileError.badTensorName`).
    public func encode() throws(ModelFileError) -> [UInt8] {
        var seen = Set<String>()
        for (name, _) in tensors where name == "__metadata__" || !seen.insert(name).inserted {
            throw .badTensorName(name)
        }

        // The header is written by hand rather than by JSONSerialization so the key order is the
        // tensor order and the bytes are the same on every run.
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for (name, tensor) in tensors {
            let integer = integerTensors.contains(name)
            let end = offset + (integer ? 8 : 4) * tensor.count
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonString(name)):{\"dtype\":\"\(integer ? "I64" : "F32")\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array("{\(fields.joined(separator: ","))}".utf8)
        while header.count % 8 != 0 { header.append(0x20) }

        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + header.count + offset)
        let length = UInt64(header.count)
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: length >> (8 * UInt64(i)))) }
        bytes += header
        for (name, tensor) in tensors {
            if integerTensors.contains(name) {
                for x in tensor.scalars {
                    let bits = UInt64(bitPattern: Int64(exactly: x.rounded()) ?? 0)
                    for k in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: bits >> (8 * UInt64(k)))) }
                }
                continue
            }
            for x in tensor.scalars {
                let bits = x.bitPattern
                bytes.append(UInt8(truncatingIfNeeded: bits))
                bytes.append(UInt8(truncatingIfNeeded: bits >> 8))
                bytes.append(UInt8(truncatingIfNeeded: bits >> 16))
                bytes.append(UInt8(truncatingIfNeeded: bits >> 24))
            }
        }
        return bytes
    }

    /// Writes atomically: a crash or full disk leaves either the old file or the new one, never a
    /// half-written model. Temp file in the same directory (so rename cannot cross file systems),
    /// fsync, rename over the target, then fsync the directory so the rename itself is durable.
    public func write(path: String) throws(ModelFileError) {
        try writeAtomically(encode(), to: path)
    }
}

/// Shared by every writer of files the user keeps (models, images, ONNX exports): `bytes` to
/// `path` through a temporary file in the same directory, fsync and rename, so a crash or a full
/// disk leaves the old file or the new one, never half of one.
public func writeAtomically(_ bytes: [UInt8], to path: String) throws(ModelFileError) {
    let directory: String
    if let slash = path.lastIndex(of: "/") {
        directory = slash == path.startIndex ? "/" : String(path[..<slash])
    } else {
        directory = "."
    }
    let name = path.split(separator: "/").last.map(String.init) ?? path
    var template = Array("\(directory)/.\(name).tmp-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else { throw .writeFailed(path, reason: "temporary file: \(FileBytes.errorString())") }
    let tempPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)

    func fail(_ what: String) -> ModelFileError {
        let error = ModelFileError.writeFailed(path, reason: "\(what): \(FileBytes.errorString())")
        unlink(tempPath)
        return error
    }

    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 {
            if errno == EINTR { continue }
            let error = fail("write")
            close(fd)
            throw error
        }
        done += n
    }
    // mkstemp creates 0600; a model file is an ordinary document.
    fchmod(fd, 0o644)
    if fsync(fd) != 0 { let error = fail("fsync"); close(fd); throw error }
    if close(fd) != 0 { throw fail("close") }
    if rename(tempPath, path) != 0 { throw fail("rename") }

    let dirFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dirFD >= 0 {
        // Best effort: some file systems refuse fsync on a directory, and the data is already safe.
        _ = fsync(dirFD)
        close(dirFD)
    }
}

/// A JSON string literal: quotes, backslashes and control characters escaped (RFC 8259).
func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
