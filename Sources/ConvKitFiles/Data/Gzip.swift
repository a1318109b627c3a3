import CZlib

/// A compressed stream that zlib could not turn back into bytes.
public enum CompressionError: Error, CustomStringConvertible, Equatable {
    case corrupt(String)
    case truncated
    case tooLarge(limit: Int)

    public var description: String {
        switch self {
        case .corrupt(let why): return "corrupt compressed data (\(why))"
        case .truncated: return "compressed data ends early"
        case .tooLarge(let limit): return "decompresses to more than \(limit) bytes"
        }
    }
}

/// Whole-buffer gzip and zlib (de)compression over the system zlib.
public enum Gzip {
    /// Big enough for MNIST's 47 MB training images, small enough that a hostile file cannot
    /// exhaust memory.
    public static let defaultLimit = 256 << 20

    /// gzip files start with 1f 8b (RFC 1952), which no IDX or PGM file does.
    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    /// The content of a gzip file, all of its members concatenated (as `gunzip` does).
    public static func decompress(_ bytes: [UInt8], limit: Int = defaultLimit) throws(CompressionError) -> [UInt8] {
        // 15 + 32: 32 KiB window, and let zlib detect gzip or zlib headers.
        try inflate(bytes, windowBits: 15 + 32, limit: limit, allowMembers: true, prefix: nil)
    }

    /// The first `prefix` bytes of a gzip file's content (all of it if shorter), inflating no
    /// further. Faults in the compressed data before that point are reported as by `decompress`;
    /// the rest of the file, its CRC and length included, is not looked at, so this is for bytes
    /// known to be whole some other way (a checksum of the file).
    public static func decompress(_ bytes: [UInt8], prefix: Int, limit: Int = defaultLimit) throws(CompressionError) -> [UInt8] {
        try inflate(bytes, windowBits: 15 + 32, limit: limit, allowMembers: true, prefix: max(0, prefix))
    }

    /// A zlib stream (RFC 1950), as in PNG's IDAT chunks.
    static func zlibDecompress(_ bytes: [UInt8], limit: Int) throws(CompressionError) -> [UInt8] {
        try inflate(bytes, windowBits: 15, limit: limit, allowMembers: false, prefix: nil)
    }

    /// A zlib stream (RFC 1950) at the default compression level.
    static func zlibCompress(_ bytes: [UInt8]) -> [UInt8] {
        var size = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        let status = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { i in
                compress2(o.baseAddress, &size, i.baseAddress, uLong(i.count), Z_DEFAULT_COMPRESSION)
            }
        }
        // compress2 fails only on out-of-memory or a too-small buffer, and compressBound rules the
        // second out.
        precondition(status == Z_OK, "zlib compress2 failed with \(status)")
        out.removeLast(out.count - Int(size))
        return out
    }

    private static func inflate(_ input: [UInt8], windowBits: Int32, limit: Int,
                                allowMembers: Bool, prefix: Int?) throws(CompressionError) -> [UInt8] {
        guard input.count <= Int(UInt32.max) else { throw .tooLarge(limit: limit) }
        if prefix == 0 { return [] }
        let result: Result<[UInt8], CompressionError> = input.withUnsafeBufferPointer { inBuf in
            var stream = z_stream()
            guard inflateInit2_(&stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                return .failure(.corrupt("zlib would not initialise"))
            }
            defer { inflateEnd(&stream) }
            stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
            stream.avail_in = UInt32(inBuf.count)

            // The output grows only as data arrives: nothing is sized from a length field.
            // A prefix is the caller's own number, not the file's, so it may size the output.
            var output: [UInt8] = []
            if let prefix { output.reserveCapacity(min(prefix, limit)) }
            var chunk = [UInt8](repeating: 0, count: 1 << 18)
            while true {
                let wanted = min(chunk.count, (prefix ?? Int.max) - output.count)
                let status = chunk.withUnsafeMutableBufferPointer { out -> Int32 in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(wanted)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = wanted - Int(stream.avail_out)
                if produced > limit - output.count { return .failure(.tooLarge(limit: limit)) }
                output.append(contentsOf: chunk[..<produced])
                if output.count == prefix, status == Z_OK || status == Z_STREAM_END { return .success(output) }

                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    if stream.avail_in == 0 { return .success(output) }
                    // Another gzip member may follow; anything else is trailing garbage.
                    let rest = stream.next_in!
                    guard allowMembers, stream.avail_in >= 2, rest[0] == 0x1f, rest[1] == 0x8b else {
                        return .failure(.corrupt("\(stream.avail_in) bytes after the end of the stream"))
                    }
                    inflateReset(&stream)
                case Z_BUF_ERROR where stream.avail_in == 0:
                    return .failure(.truncated)
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                    return .failure(.corrupt(message))
                }
            }
        }
        return try result.get()
    }
}
