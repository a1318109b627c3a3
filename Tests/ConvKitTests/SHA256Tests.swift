import Testing
import ConvKitFiles

@Suite struct SHA256Tests {
    // FIPS 180-4 / NIST CAVP example vectors.
    @Test(arguments: [
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func knownVectors(message: String, digest: String) {
        #expect(SHA256.hexDigest(Array(message.utf8)) == digest)
    }

    @Test func millionAs() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA256.hexDigest(message) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    // NIST CAVP SHA256ShortMsg.rsp, Len = 8.
    @Test func oneByte() {
        #expect(SHA256.hexDigest([0xd3]) == "28969cdfa74a12c82f3bad960b0b000aca2ac329deea5c2328ebc6f2ba9802c1")
    }

    // Lengths around the 55/56/64-byte padding boundaries, against sha256sum.
    @Test func paddingBoundaries() throws {
        for n in [55, 56, 63, 64, 65, 119, 120] {
            let message = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            #expect(SHA256.hash(message).count == 32)
            #expect(SHA256.hexDigest(message) == referenceDigest(message), "length \(n)")
        }
    }

    // Every length from 0 to 200 (each block-count and tail size the rounds see) and one of many
    // blocks with every byte value, against sha256sum.
    @Test func lengthsAgainstSha256sum() {
        let bytes = (0..<300_007).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 8) }
        var failures: [Int] = []
        for n in Array(0...200) + [4095, 4096, 4097, bytes.count] {
            let message = Array(bytes.prefix(n))
            if SHA256.hexDigest(message) != referenceDigest(message) { failures.append(n) }
        }
        #expect(failures.isEmpty, "lengths \(failures)")
    }
}

import Foundation

private func referenceDigest(_ bytes: [UInt8]) -> String {
    let dir = TemporaryDirectory()
    let file = dir.write("m", bytes)
    let p = Process()
    let out = Pipe()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    p.arguments = [file]
    p.standardOutput = out
    try! p.run()
    p.waitUntilExit()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return String(text.prefix(64))
}
