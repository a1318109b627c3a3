import Foundation
import Testing
import ConvKit
import ConvKitFiles

/// A short, seeded, always-on cousin of the libFuzzer runs (Tests/Fuzz/README.md): every seed
/// of Tests/Fuzz/corpus/<reader>/ and a few thousand mutations of it go through the same entry
/// point. A reader that traps fails the whole test run, so passing means each returned or threw.
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    static func seeds(_ target: String) throws -> [[UInt8]] {
        let dir = corpus.appendingPathComponent(target)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        return try names.map { [UInt8](try Data(contentsOf: dir.appendingPathComponent($0))) }
    }

    /// libFuzzer's simplest moves: flip, overwrite with an edge value, insert, erase, duplicate
    /// a span, splice in the tail of another seed.
    static func mutate(_ input: [UInt8], _ others: [[UInt8]], _ g: inout SeededGenerator) -> [UInt8] {
        var bytes = input
        for _ in 0...(g.next() % 4) {
            let at = bytes.isEmpty ? 0 : Int(g.next() % UInt64(bytes.count))
            switch g.next() % 7 {
            case 0 where !bytes.isEmpty: bytes[at] ^= UInt8(1 << (g.next() % 8))
            case 1 where !bytes.isEmpty: bytes[at] = [0, 1, 0x7F, 0x80, 0xFF, 0x30, 0x39][Int(g.next() % 7)]
            case 2: bytes.insert(UInt8(truncatingIfNeeded: g.next()), at: at)
            case 3 where !bytes.isEmpty: bytes.removeSubrange(at..<min(bytes.count, at + 1 + Int(g.next() % 8)))
            case 4 where !bytes.isEmpty:
                let span = bytes[at..<min(bytes.count, at + 1 + Int(g.next() % 16))]
                bytes.insert(contentsOf: span, at: Int(g.next() % UInt64(bytes.count + 1)))
            case 5:
                let other = others[Int(g.next() % UInt64(others.count))]
                bytes = Array(bytes.prefix(at)) + other.suffix(Int(g.next() % UInt64(other.count + 1)))
            default:
                if bytes.count >= 4 {
                    // A length or dimension field set to something large.
                    let v = [UInt32.max, 0x8000_0000, 65_536, 0][Int(g.next() % 4)]
                    let i = Int(g.next() % UInt64(bytes.count - 3))
                    for k in 0..<4 { bytes[i + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) }
                }
            }
        }
        return bytes
    }

    /// Seeds that are valid input of their format but not what the reader accepts.
    static let refusedSeeds: Set<String> = ["safetensors/plain-tensors"]  // safetensors, but no model

    @Test("seeds are accepted, mutations are mostly refused with ConvKit's errors", arguments: fuzzTargets)
    func mutations(_ target: String) throws {
        let seeds = try Self.seeds(target)
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.appendingPathComponent(target).path).sorted()
        #expect(!seeds.isEmpty)
        // Without libjpeg-turbo every JPEG is refused (RasterImage.readsJPEG), seeds too.
        let refusesAll = target == "jpeg" && !RasterImage.readsJPEG
        for (name, seed) in zip(names, seeds) {
            let expected = !refusesAll && !Self.refusedSeeds.contains("\(target)/\(name)")
            #expect(readUntrusted(seed, as: target) == expected, "\(target)/\(name)")
        }
        var g = SeededGenerator(seed: 0xF022)
        var accepted = 0
        let rounds = 1500
        for round in 0..<rounds {
            let input = Self.mutate(seeds[round % seeds.count], seeds, &g)
            guard let error = untrustedReadError(input, as: target) else { accepted += 1; continue }
            // A refusal is one of the package's typed errors, not one passed up from Foundation.
            let type = String(reflecting: Swift.type(of: error))
            #expect(type.hasPrefix("ConvKit"), "\(target): refused with \(type): \(error)")
        }
        // Most mutants must be refused (the seeded rates are 1–18%), or the checks are not
        // reached; and some must pass, or the mutator breaks every input at its first byte.
        #expect(accepted <= rounds / 3, "\(target): \(accepted) of \(rounds) mutants accepted")
        if !refusesAll { #expect(accepted >= 1, "\(target): no mutant accepted") }
    }
}
