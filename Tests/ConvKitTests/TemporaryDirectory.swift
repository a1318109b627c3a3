import Foundation

/// A fresh directory per test (tests run in parallel), removed when the value is dropped.
final class TemporaryDirectory {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "convkit-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` to `name` inside the directory (creating the folders `name` names) and
    /// returns the full path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let file = path + "/" + name
        if let slash = name.lastIndex(of: "/") {
            try! FileManager.default.createDirectory(atPath: path + "/" + name[..<slash], withIntermediateDirectories: true)
        }
        _ = FileManager.default.createFile(atPath: file, contents: Data(bytes))
        return file
    }

    func contents(_ name: String) -> [UInt8] {
        [UInt8](FileManager.default.contents(atPath: path + "/" + name)!)
    }
}

func bigEndian32(_ x: UInt32) -> [UInt8] {
    [UInt8(x >> 24), UInt8((x >> 16) & 0xff), UInt8((x >> 8) & 0xff), UInt8(x & 0xff)]
}

/// An IDX file from its magic, dimensions and body, any of which a test may get wrong on purpose.
func idxFile(magic: UInt32, dims: [UInt32], body: [UInt8]) -> [UInt8] {
    bigEndian32(magic) + dims.flatMap(bigEndian32) + body
}

/// gzip with the system tool, so the tests do not trust ConvKit's own zlib wrapper to make it.
func gzipped(_ bytes: [UInt8]) -> [UInt8] {
    let dir = TemporaryDirectory()
    let file = dir.write("x", bytes)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/gzip")
    p.arguments = ["-n", file]
    try! p.run()
    p.waitUntilExit()
    return dir.contents("x.gz")
}
