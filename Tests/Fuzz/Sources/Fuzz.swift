import ConvKit
#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer entry point for every reader of untrusted bytes. Which reader runs is chosen by
/// CONVKIT_FUZZ_TARGET (the names in `fuzzTargets`); see Tests/Fuzz/README.md. Every reader
/// must return or throw its typed error: a trap, an overflow or a sanitizer report is a finding.
nonisolated(unsafe) private var target = ""

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    target = getenv("CONVKIT_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard fuzzTargets.contains(target) else {
        print("set CONVKIT_FUZZ_TARGET to one of \(fuzzTargets.joined(separator: ", "))")
        exit(2)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    readUntrusted(bytes, as: target)
    return 0
}
