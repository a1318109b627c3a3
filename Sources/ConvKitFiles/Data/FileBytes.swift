import ConvKit
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The outcome of reading a whole file, kept free of any one error type so the data, image and
/// model-file readers can each report it in their own words.
enum FileBytes {
    case bytes([UInt8])
    case missing
    case failed(String)

    /// Reads `path` whole. Files above `limit` bytes are refused before anything is allocated.
    static func load(_ path: String, limit: Int) -> FileBytes {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return errno == ENOENT ? .missing : .failed(errorString()) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failed(errorString()) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return .failed("not a regular file") }
        let size = Int(info.st_size)
        guard size <= limit else { return .failed("\(size) bytes, more than the \(limit) allowed") }

        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failed(errorString())
            }
            if n == 0 { break }  // The file shrank while we read it; report what is there.
            done += n
        }
        if done < size { bytes.removeLast(size - done) }
        return .bytes(bytes)
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    static func errorString() -> String { String(cString: strerror(errno)) }
}
