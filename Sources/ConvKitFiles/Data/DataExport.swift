import ConvKit

/// The exact samples a run trains or tests on, written out for another framework to use, and a
/// digest both sides compute from what they hold in memory, so a comparison can refuse to run
/// on different data (Benchmarks/torch_train.py does).
extension LabeledImages {
    /// SHA-256 of the labels and of the samples, in `indices` order: what `digest` is made of.
    public struct Digest: Equatable, Sendable {
        /// The number of samples.
        public var count: Int
        /// SHA-256 of the labels as little-endian 32-bit integers, as hex.
        public var labels: String
        /// SHA-256 of the samples: their bytes, or their floats as little-endian 32-bit values, as hex.
        public var samples: String
    }

    /// The labels, then the samples, in the order `indices` gives (not the shuffled order of an epoch).
    public var digest: Digest {
        var labelBytes: [UInt8] = []
        labelBytes.reserveCapacity(4 * labels.count)
        for label in labels { for shift in stride(from: 0, to: 32, by: 8) { labelBytes.append(UInt8(truncatingIfNeeded: label >> shift)) } }
        return Digest(count: count, labels: SHA256.hexDigest(labelBytes), samples: SHA256.hexDigest(orderedSampleBytes(bigEndian: false)))
    }

    /// Writes `<prefix>-images.idx` and `<prefix>-labels.idx` into `directory`: the samples as an
    /// IDX array (N, sampleShape…) of unsigned bytes (type 08) or floats (0D), the labels as
    /// bytes, or 32-bit integers (0C) past 256 classes. Each file is written atomically.
    public func writeIDX(directory: String, prefix: String) throws(ModelFileError) {
        let float: Bool
        if case .floats = samples { float = true } else { float = false }
        let images = Self.idxHeader(type: float ? 0x0D : 0x08, dimensions: [count] + sampleShape) + orderedSampleBytes(bigEndian: true)
        var labelFile = Self.idxHeader(type: classes <= 256 ? 0x08 : 0x0C, dimensions: [count])
        for label in labels {
            if classes <= 256 { labelFile.append(UInt8(label)) } else { labelFile += Self.bigEndian(UInt32(label)) }
        }
        try writeAtomically(images, to: "\(directory)/\(prefix)-images.idx")
        try writeAtomically(labelFile, to: "\(directory)/\(prefix)-labels.idx")
    }

    /// The used samples one after another; floats as 32-bit values in either byte order.
    private func orderedSampleBytes(bigEndian: Bool) -> [UInt8] {
        let per = valuesPerSample
        switch samples {
        case .bytes(let all):
            var out: [UInt8] = []
            out.reserveCapacity(count * per)
            for i in indices { out += all[(i * per)..<((i + 1) * per)] }
            return out
        case .floats(let all):
            var out: [UInt8] = []
            out.reserveCapacity(4 * count * per)
            for i in indices {
                for v in all[(i * per)..<((i + 1) * per)] {
                    let bits = bigEndian ? v.bitPattern.bigEndian : v.bitPattern.littleEndian
                    withUnsafeBytes(of: bits) { out += $0 }
                }
            }
            return out
        }
    }

    private static func idxHeader(type: UInt8, dimensions: [Int]) -> [UInt8] {
        [0, 0, type, UInt8(dimensions.count)] + dimensions.flatMap { bigEndian(UInt32($0)) }
    }

    private static func bigEndian(_ x: UInt32) -> [UInt8] { [UInt8(x >> 24), UInt8((x >> 16) & 0xff), UInt8((x >> 8) & 0xff), UInt8(x & 0xff)] }
}
