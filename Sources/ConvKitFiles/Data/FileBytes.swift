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
        loadIdentified(path, limit: limit).file
    }

    /// Which version of which file was read, without its content: device and inode (the key),
    /// and size, modification and status-change times in ns. Any write changes the change time,
    /// which no user call can set back, so the same identity means the same bytes; to be sure of
    /// that, an identity is only given for a file unchanged while it was read and last changed
    /// over a second before (a write within the file system's timestamp granularity after the
    /// read could otherwise leave every field as it was).
    struct Identity: Equatable {
        var key: String
        var version: String
    }

    /// `load`, and the identity of the bytes read when it can be vouched for.
    static func loadIdentified(_ path: String, limit: Int) -> (file: FileBytes, identity: Identity?) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return (errno == ENOENT ? .missing : .failed(errorString()), nil) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return (.failed(errorString()), nil) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return (.failed("not a regular file"), nil) }
        let size = Int(info.st_size)
        guard size <= limit else { return (.failed("\(size) bytes, more than the \(limit) allowed"), nil) }
        let before = identity(info)
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)

        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
            if n < 0 {
                if errno == EINTR { continue }
                return (.failed(errorString()), nil)
            }
            if n == 0 { break }  // The file shrank while we read it; report what is there.
            done += n
        }
        if done < size { bytes.removeLast(size - done) }

        var after = stat()
        let settled = Int64(now.tv_sec) - 1
        let unchanged = fstat(fd, &after) == 0 && identity(after) == before && done == size
            && Int64(after.changeTime.tv_sec) < settled && Int64(after.modificationTime.tv_sec) < settled
        return (.bytes(bytes), unchanged ? before : nil)
    }

    private static func identity(_ info: stat) -> Identity {
        func ns(_ t: timespec) -> String { "\(Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec))" }
        return Identity(key: "\(info.st_dev)-\(info.st_ino)",
                        version: "\(info.st_size) \(ns(info.modificationTime)) \(ns(info.changeTime))")
    }

    /// Replaces `path` with `bytes` all at once (temporary file in the same directory, then
    /// rename), creating missing directories; false on any failure, leaving no temporary file.
    static func replace(_ path: String, with bytes: [UInt8]) -> Bool {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return false }
        let directory = String(path[..<slash])
        var prefix = ""
        // Existing directories fail with EEXIST, unreachable ones make mkstemp fail below.
        for part in directory.split(separator: "/") {
            prefix += "/" + part
            _ = mkdir(prefix, 0o700)
        }
        var template = Array("\(path).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return false }
        let temporary = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
        if close(fd) != 0 || done < bytes.count || rename(temporary, path) != 0 {
            unlink(temporary)
            return false
        }
        return true
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    static func errorString() -> String { String(cString: strerror(errno)) }
}

private extension stat {
    #if canImport(Darwin)
    var modificationTime: timespec { st_mtimespec }
    var changeTime: timespec { st_ctimespec }
    #else
    var modificationTime: timespec { st_mtim }
    var changeTime: timespec { st_ctim }
    #endif
}
