/// SHA-256 (FIPS 180-4), to check that data files are the ones ConvKit was tested with.
public enum SHA256 {
    /// The 32-byte digest of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]

        // The padded tail: message end, 0x80, zeros, then the bit length, filling one or two blocks.
        let fullBlocks = bytes.count / 64
        var tail = Array(bytes[(fullBlocks * 64)...])
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        let bitLength = UInt64(bytes.count) &* 8
        for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }

        var w = [UInt32](repeating: 0, count: 64)
        h.withUnsafeMutableBufferPointer { h in
            w.withUnsafeMutableBufferPointer { w in
                k.withUnsafeBufferPointer { k in
                    bytes.withUnsafeBytes { b in
                        compress(h.baseAddress!, b.baseAddress, blocks: fullBlocks, w.baseAddress!, k.baseAddress!)
                    }
                    tail.withUnsafeBytes { t in
                        compress(h.baseAddress!, t.baseAddress, blocks: t.count / 64, w.baseAddress!, k.baseAddress!)
                    }
                }
            }
        }
        return h.flatMap { word in
            [UInt8(word >> 24), UInt8((word >> 16) & 0xff), UInt8((word >> 8) & 0xff), UInt8(word & 0xff)]
        }
    }

    /// The digest as 64 lowercase hex digits, the way `sha256sum` prints it.
    public static func hexDigest(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        return String(hash(bytes).flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }

    // `blocks` 64-byte blocks into the state, over pointers so no access is bounds-checked, the
    // state kept in locals from block to block. Each round changes only two working variables
    // (d and h, as FIPS 180-4's eight assignments amount to); the other six move one place, which
    // is done by renaming: eight rounds per pass, each passing the variables shifted by one. This
    // and the cheaper Ch/Maj forms took the release build from about 110 to 170-240 MB/s here.
    private static func compress(_ state: UnsafeMutablePointer<UInt32>, _ data: UnsafeRawPointer?, blocks: Int,
                                 _ w: UnsafeMutablePointer<UInt32>, _ k: UnsafePointer<UInt32>) {
        guard blocks > 0, let data else { return }
        var h0 = state[0], h1 = state[1], h2 = state[2], h3 = state[3]
        var h4 = state[4], h5 = state[5], h6 = state[6], h7 = state[7]
        for block in 0..<blocks {
            let p = data + 64 * block
            var t = 0
            while t < 16 {
                w[t] = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 4 * t, as: UInt32.self))
                t += 1
            }
            while t < 64 {
                let x = w[t - 15], y = w[t - 2]
                let s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3)
                let s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >> 10)
                w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
                t += 1
            }
            var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7
            t = 0
            while t < 64 {
                round(a, b, c, &d, e, f, g, &h, k[t] &+ w[t])
                round(h, a, b, &c, d, e, f, &g, k[t + 1] &+ w[t + 1])
                round(g, h, a, &b, c, d, e, &f, k[t + 2] &+ w[t + 2])
                round(f, g, h, &a, b, c, d, &e, k[t + 3] &+ w[t + 3])
                round(e, f, g, &h, a, b, c, &d, k[t + 4] &+ w[t + 4])
                round(d, e, f, &g, h, a, b, &c, k[t + 5] &+ w[t + 5])
                round(c, d, e, &f, g, h, a, &b, k[t + 6] &+ w[t + 6])
                round(b, c, d, &e, f, g, h, &a, k[t + 7] &+ w[t + 7])
                t += 8
            }
            h0 &+= a; h1 &+= b; h2 &+= c; h3 &+= d
            h4 &+= e; h5 &+= f; h6 &+= g; h7 &+= h
        }
        state[0] = h0; state[1] = h1; state[2] = h2; state[3] = h3
        state[4] = h4; state[5] = h5; state[6] = h6; state[7] = h7
    }

    // One round: Ch(e,f,g) = g ^ (e & (f ^ g)) and Maj(a,b,c) = (a & b) | (c & (a | b)) are the
    // standard's (e & f) ^ (~e & g) and (a & b) ^ (a & c) ^ (b & c) with fewer operations.
    @inline(__always)
    private static func round(_ a: UInt32, _ b: UInt32, _ c: UInt32, _ d: inout UInt32,
                              _ e: UInt32, _ f: UInt32, _ g: UInt32, _ h: inout UInt32, _ kw: UInt32) {
        let t1 = h &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ (g ^ (e & (f ^ g))) &+ kw
        d &+= t1
        h = t1 &+ (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) | (c & (a | b)))
    }

    @inline(__always)
    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }

    // First 32 bits of the fractional parts of the cube roots of the first 64 primes.
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]
}
