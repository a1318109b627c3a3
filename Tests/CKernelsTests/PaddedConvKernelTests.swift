import Testing
import ConvKit
import CKernels

/// One padded, strided convolution: X (N,C,H,W), K (O,C,KH,KW), padding PH rows and PW columns,
/// stride SH rows and SW columns.
struct PaddedConv: CustomStringConvertible {
    let N, C, H, W, O, KH, KW, PH, PW, SH, SW: Int
    init(_ N: Int, _ C: Int, _ H: Int, _ W: Int, _ O: Int, _ KH: Int, _ KW: Int, PH: Int, PW: Int, SH: Int, SW: Int) {
        (self.N, self.C, self.H, self.W, self.O, self.KH, self.KW) = (N, C, H, W, O, KH, KW)
        (self.PH, self.PW, self.SH, self.SW) = (PH, PW, SH, SW)
    }
    /// The same padding P and stride S on both axes, as `Conv2D` has.
    init(_ N: Int, _ C: Int, _ H: Int, _ W: Int, _ O: Int, _ KH: Int, _ KW: Int, P: Int, S: Int) {
        self.init(N, C, H, W, O, KH, KW, PH: P, PW: P, SH: S, SW: S)
    }
    var sameOnBothAxes: Bool { PH == PW && SH == SW }
    var P: Int { PH }
    var S: Int { SH }
    var OH: Int { (H + 2 * PH - KH) / SH + 1 }
    var OW: Int { (W + 2 * PW - KW) / SW + 1 }
    var geometry: ck_conv2d_geometry { convGeometry(N, C, H, W, O, KH, KW, PH: PH, PW: PW, SH: SH, SW: SW) }
    var description: String { "\(N)x\(C)x\(H)x\(W)->\(O),\(KH)x\(KW) pad \(PH),\(PW) stride \(SH),\(SW)" }
}

/// The padded, strided convolution and its three gradients written from one definition,
///   Y[n,o,y,x] = B + Σ_{c,kh,kw} X[n,c,y·S+kh−P,x·S+kw−P]·K[o,c,kh,kw]   (X zero outside),
/// each tap adding its term to Y, to dK (times dY) and to dX (times dY): the gradients are the
/// sums' partial derivatives, with no convolution identity assumed.
func referencePaddedConv(_ s: PaddedConv, X: [Float], K: [Float], B: [Float], bias: Bias, dY: [Float])
    -> (Y: Reference, dK: Reference, dX: Reference) {
    var Y = Reference(count: s.N * s.O * s.OH * s.OW), dK = Reference(count: s.O * s.C * s.KH * s.KW)
    var dX = Reference(count: s.N * s.C * s.H * s.W)
    for n in 0..<s.N { for o in 0..<s.O { for y in 0..<s.OH { for x in 0..<s.OW {
        let i = ((n * s.O + o) * s.OH + y) * s.OW + x
        switch bias {
        case .none: break
        case .channel: Y.add(i, B[o])
        case .untied: Y.add(i, B[(o * s.OH + y) * s.OW + x])
        }
        for c in 0..<s.C { for kh in 0..<s.KH { for kw in 0..<s.KW {
            let (yy, xx) = (y * s.SH + kh - s.PH, x * s.SW + kw - s.PW)
            guard yy >= 0, yy < s.H, xx >= 0, xx < s.W else { continue }
            let xi = ((n * s.C + c) * s.H + yy) * s.W + xx, ki = ((o * s.C + c) * s.KH + kh) * s.KW + kw
            Y.add(i, X[xi], K[ki])
            dK.add(ki, X[xi], dY[i])
            dX.add(xi, dY[i], K[ki])
        } } }
    } } } }
    return (Y, dK, dX)
}

/// The three C entry points on one case; outputs start as NaN so an unwritten element fails.
func runPaddedConv(_ s: PaddedConv, _ v: ck_variant, X: [Float], K: [Float], B: [Float], bias: Bias, dY: [Float])
    -> (Y: [Float], dK: [Float], dX: [Float]) {
    let g = s.geometry
    var Y = [Float](repeating: .nan, count: s.N * s.O * s.OH * s.OW)
    var dK = [Float](repeating: .nan, count: s.O * s.C * s.KH * s.KW)
    var dX = [Float](repeating: .nan, count: s.N * s.C * s.H * s.W)
    var work = [Float](repeating: .nan, count: ck_conv2d_forward_work_size(g))
    ck_conv2d_forward(v, &Y, X, K, bias == .none ? nil : B, bias.c, &work, g)
    work = [Float](repeating: .nan, count: ck_conv2d_backward_kernel_work_size(g))
    ck_conv2d_backward_kernel(v, &dK, X, dY, &work, g)
    work = [Float](repeating: .nan, count: ck_conv2d_backward_input_work_size(g))
    ck_conv2d_backward_input(v, &dX, dY, K, &work, g)
    return (Y, dK, dX)
}

@Suite("Padded and strided convolution kernels against the Swift reference")
struct PaddedConvKernelTests {
    /// Padding 1 and 2 with stride 1 (the valid kernels on a padded copy; rows of 8 and more
    /// reach their vector tiles), stride 2 and 3 with and without padding (the direct kernels),
    /// odd and non-square planes and kernels, an even kernel whose last padded row no position
    /// reaches, C and O above 1 with O below, at and above one vector of 8 channels, batches of
    /// up to 4, and a 1×1 kernel with stride 2; batches of 9, whose padded forward passes pad
    /// image by image (PADDED_IMAGES_MIN per thread), over flat positions and along rows.
    static let shapes: [PaddedConv] = [
        PaddedConv(1, 1, 5, 5, 1, 3, 3, P: 1, S: 1), PaddedConv(2, 3, 7, 9, 5, 3, 3, P: 1, S: 1),
        PaddedConv(2, 2, 11, 13, 4, 5, 5, P: 2, S: 1), PaddedConv(3, 2, 9, 20, 9, 3, 2, P: 1, S: 1),
        PaddedConv(2, 1, 28, 28, 8, 5, 5, P: 2, S: 1), PaddedConv(1, 3, 6, 37, 10, 3, 3, P: 2, S: 1),
        PaddedConv(2, 3, 7, 9, 5, 3, 3, P: 1, S: 2), PaddedConv(2, 2, 11, 13, 17, 5, 4, P: 2, S: 3),
        PaddedConv(3, 2, 8, 7, 3, 3, 3, P: 0, S: 2), PaddedConv(1, 4, 10, 10, 8, 4, 4, P: 1, S: 2),
        PaddedConv(2, 1, 6, 6, 2, 2, 2, P: 1, S: 2), PaddedConv(4, 3, 15, 12, 19, 3, 3, P: 1, S: 3),
        PaddedConv(2, 2, 9, 9, 3, 1, 1, P: 0, S: 2), PaddedConv(1, 2, 3, 3, 2, 3, 3, P: 2, S: 2),
        PaddedConv(2, 5, 13, 11, 16, 3, 5, P: 1, S: 2), PaddedConv(1, 1, 4, 4, 1, 4, 4, P: 0, S: 3),
        // Per axis, as the C geometry allows: padding only on one axis, strides that differ.
        PaddedConv(2, 3, 9, 20, 6, 3, 5, PH: 1, PW: 0, SH: 1, SW: 1), PaddedConv(2, 2, 10, 12, 9, 3, 3, PH: 0, PW: 2, SH: 2, SW: 1),
        PaddedConv(1, 3, 11, 14, 4, 5, 3, PH: 2, PW: 1, SH: 3, SW: 2), PaddedConv(3, 2, 7, 30, 5, 1, 4, PH: 0, PW: 1, SH: 1, SW: 3),
        PaddedConv(9, 5, 14, 14, 7, 3, 3, P: 1, S: 1), PaddedConv(9, 1, 28, 28, 6, 3, 3, P: 1, S: 1),
        // The channel-last kernels pad on the stack: strided forward passes image by image (two
        // channel vectors; three, a last block of one), a padded image past PADDED_IMAGE_MAX
        // padded whole instead, and a kernel gradient whose planes come in chunks of 4 (42×42).
        PaddedConv(9, 3, 11, 10, 20, 3, 3, P: 1, S: 2), PaddedConv(9, 2, 9, 9, 40, 5, 5, P: 2, S: 2),
        PaddedConv(9, 20, 30, 30, 3, 3, 3, P: 1, S: 2), PaddedConv(9, 1, 40, 40, 4, 3, 3, P: 1, S: 2),
        // Strided forward passes in row tiles of 8 columns: rows of 11 (the last tile moved back
        // over 5 columns), an odd row count left over from tiles of two rows, and a 5×4 kernel of
        // stride 3 with two channel vectors.
        PaddedConv(2, 3, 17, 21, 5, 3, 3, P: 1, S: 2), PaddedConv(1, 2, 11, 30, 17, 5, 4, P: 2, S: 3),
        // Padded images past PADDED_IMAGE_MAX, a batch of 8: the forward pass (17 channels of X)
        // and the input gradient's forward pass over dY (17 channels of dY) pad each image into its
        // own slot of the workspace. And the scatter, where it fills 2/5 more lanes than the
        // forward pass (16 lanes, 18×18).
        PaddedConv(8, 17, 30, 30, 2, 3, 3, P: 1, S: 1), PaddedConv(8, 2, 30, 30, 17, 3, 3, P: 1, S: 1),
        PaddedConv(2, 3, 18, 18, 5, 3, 3, P: 0, S: 1),
        // A plane of more than 1024 outputs whose forward pass goes along rows: its kernel
        // gradient over flat positions.
        PaddedConv(2, 2, 34, 34, 3, 3, 3, P: 1, S: 1),
        // Padding that keeps the width, whose SIMD kernel gradient reads X under lane masks on
        // AVX-512 (conv_kernel_grad.c): more rows of padding than the kernel reaches past (whole
        // output rows in it), padding only across, and a plane with more masks than it keeps
        // (the padded copy instead).
        PaddedConv(2, 3, 7, 9, 5, 3, 3, PH: 2, PW: 1, SH: 1, SW: 1), PaddedConv(3, 2, 6, 17, 9, 1, 3, PH: 0, PW: 1, SH: 1, SW: 1),
        PaddedConv(1, 1, 124, 124, 2, 3, 3, P: 1, S: 1),
    ]

    @Test("ck_conv2d_geometry_make: the output size of every shape, each refusal in order")
    func geometryConstructor() {
        for s in Self.shapes {
            let g = s.geometry
            #expect((Int(g.OH), Int(g.OW)) == (s.OH, s.OW), "\(s)")
            #expect([g.N, g.C, g.H, g.W, g.O, g.KH, g.KW, g.PH, g.PW, g.SH, g.SW].map(Int.init)
                    == [s.N, s.C, s.H, s.W, s.O, s.KH, s.KW, s.PH, s.PW, s.SH, s.SW])
        }
        func status(_ N: Int32, _ C: Int32, _ H: Int32, _ W: Int32, _ O: Int32, _ KH: Int32, _ KW: Int32,
                    _ PH: Int32 = 0, _ PW: Int32 = 0, _ SH: Int32 = 1, _ SW: Int32 = 1) -> ck_conv2d_status {
            var g = ck_conv2d_geometry()
            return ck_conv2d_geometry_make(&g, N, C, H, W, O, KH, KW, PH, PW, SH, SW)
        }
        let max = Int32(CK_CONV2D_MAX_PADDING_OR_STRIDE)
        #expect(status(1, 1, 5, 5, 1, 3, 3) == CK_CONV2D_OK)
        #expect(status(0, 1, 5, 5, 1, 3, 3) == CK_CONV2D_EMPTY)
        #expect(status(1, 1, 5, 5, 1, 0, 3) == CK_CONV2D_EMPTY)
        #expect(status(1, 1, 5, 5, 1, 3, 3, -1, 0) == CK_CONV2D_BAD_PADDING)
        #expect(status(1, 1, 5, 5, 1, 3, 3, 0, 3) == CK_CONV2D_BAD_PADDING)    // as large as the kernel
        #expect(status(1, 1, 5, 5, 1, 3, 3, 0, 0, 0, 1) == CK_CONV2D_BAD_STRIDE)
        #expect(status(1, 1, 5, 5, 1, 3, 3, 0, 0, 1, max + 1) == CK_CONV2D_BAD_STRIDE)
        #expect(status(1, 1, 5, 5, 1, 3, 3, 0, 0, 1, max) == CK_CONV2D_OK)
        #expect(status(1, 1, 5, 5, 1, 8, 3, 1, 0) == CK_CONV2D_KERNEL_TOO_LARGE)  // 8 > 5 + 2
        #expect(status(1, 1, 5, 5, 1, 7, 3, 1, 0) == CK_CONV2D_OK)              // 7 ≤ 5 + 2
        #expect(status(1, 1, 3, 3, 1, 3, 3, 2, 2, 2, 2) == CK_CONV2D_OK)
        // Too large, but the sizes are filled in: 65536 channels of a 65536-wide row.
        var g = ck_conv2d_geometry()
        #expect(ck_conv2d_geometry_make(&g, 1, 1, 1, 65536, 65536, 1, 1, 0, 0, 1, 1) == CK_CONV2D_TOO_LARGE)
        #expect((g.OH, g.OW) == (1, 65536))
        #expect(status(1, 1, 1, 65536, 32767, 1, 1) == CK_CONV2D_OK)
        #expect(status(Int32.max, Int32.max, Int32.max, Int32.max, Int32.max, 1, 1) == CK_CONV2D_TOO_LARGE)
    }

    @Test("forward (every bias mode) and kernel, input and bias gradients", arguments: variants)
    func againstReference(variant: ck_variant) {
        var rng = SeededGenerator(seed: 21)
        for s in Self.shapes {
            let X = randomFloats(s.N * s.C * s.H * s.W, &rng), K = randomFloats(s.O * s.C * s.KH * s.KW, &rng)
            let dY = randomFloats(s.N * s.O * s.OH * s.OW, &rng)
            for bias in Bias.allCases {
                let B = randomFloats(bias == .untied ? s.O * s.OH * s.OW : s.O, &rng)
                let got = runPaddedConv(s, variant, X: X, K: K, B: B, bias: bias, dY: dY)
                let want = referencePaddedConv(s, X: X, K: K, B: B, bias: bias, dY: dY)
                expectClose(got.Y, want.Y, "forward \(s) bias \(bias)")
                if bias == .none {
                    expectClose(got.dK, want.dK, "dK \(s)")
                    expectClose(got.dX, want.dX, "dX \(s)")
                }
            }
            // The bias gradient only reads dY, so the existing kernel serves: check it on a
            // strided dY shape.
            var dB = [Float](repeating: .nan, count: s.O * s.OH * s.OW)
            ck_conv2d_backward_bias(&dB, dY, CK_BIAS_UNTIED, Int32(s.N), Int32(s.O), Int32(s.OH), Int32(s.OW))
            var expected = Reference(count: s.O * s.OH * s.OW)
            for n in 0..<s.N { for p in 0..<s.O * s.OH * s.OW { expected.add(p, dY[n * s.O * s.OH * s.OW + p]) } }
            expectClose(dB, expected, "dB untied \(s)")
        }
    }

    /// The forward pass with a batch norm's plane statistics: the same Y as the plain forward
    /// pass, and the statistics of each plane of it as batch norm's own kernel takes them, bit for
    /// bit, whichever kernel ran (the stride-1 ones take them item by item, the others after),
    /// and batch norm's statistics from them equal those from Y. The padded and strided shapes,
    /// valid ones (flat positions, along rows, narrow planes, a last block of fewer than 4
    /// channels), and the fashion preset's two layers at a batch of 4.
    @Test("forward pass with batch norm's plane statistics", arguments: variants)
    func forwardStatistics(variant: ck_variant) {
        var rng = SeededGenerator(seed: 27)
        let valid = [PaddedConv(3, 2, 12, 12, 6, 3, 3, P: 0, S: 1), PaddedConv(2, 3, 20, 20, 9, 3, 3, P: 0, S: 1),
                     PaddedConv(2, 4, 6, 6, 5, 3, 3, P: 0, S: 1), PaddedConv(3, 2, 26, 30, 7, 5, 5, P: 0, S: 1),
                     PaddedConv(4, 1, 28, 28, 32, 3, 3, P: 1, S: 1), PaddedConv(4, 32, 14, 14, 40, 3, 3, P: 1, S: 1)]
        for s in Self.shapes + valid {
            let g = s.geometry
            let X = randomFloats(s.N * s.C * s.H * s.W, &rng), K = randomFloats(s.O * s.C * s.KH * s.KW, &rng)
            let B = randomFloats(s.O, &rng).map { $0 + 5 }  // an offset mean, as a bias gives it
            var Y = [Float](repeating: .nan, count: s.N * s.O * s.OH * s.OW), Ys = Y
            var work = [Float](repeating: .nan, count: ck_conv2d_forward_work_size(g))
            ck_conv2d_forward(variant, &Y, X, K, B, CK_BIAS_CHANNEL, &work, g)
            var stats = [Float](repeating: .nan, count: s.N * s.O * 2)
            ck_conv2d_forward_statistics(variant, &Ys, &stats, X, K, B, CK_BIAS_CHANNEL, &work, g)
            #expect(Ys.map(\.bitPattern) == Y.map(\.bitPattern), "Y \(s)")
            var Yn = [Float](repeating: .nan, count: Y.count)  // no statistics asked for: the plain pass
            ck_conv2d_forward_statistics(variant, &Yn, nil, X, K, B, CK_BIAS_CHANNEL, &work, g)
            #expect(Yn.map(\.bitPattern) == Y.map(\.bitPattern), "Y without statistics \(s)")
            let (n, o, plane) = (Int32(s.N), Int32(s.O), Int32(s.OH * s.OW))
            var separate = [Float](repeating: .nan, count: stats.count)
            ck_batchnorm_plane_statistics(variant, &separate, Y, n, o, plane)
            #expect(stats.map(\.bitPattern) == separate.map(\.bitPattern), "plane statistics \(s)")
            var mean = [Float](repeating: .nan, count: s.O), variance = mean, fromPlanes = mean, fromPlanesVariance = mean
            ck_batchnorm_statistics(variant, &mean, &variance, Y, n, o, plane)
            ck_batchnorm_statistics_of_planes(&fromPlanes, &fromPlanesVariance, stats, n, o, plane)
            #expect(fromPlanes.map(\.bitPattern) == mean.map(\.bitPattern) && fromPlanesVariance.map(\.bitPattern) == variance.map(\.bitPattern),
                    "batch statistics \(s)")
            let expected = referenceBatchStatistics(Y, N: s.N, C: s.O, S: s.OH * s.OW)
            expectRelative(fromPlanes, expected.mean, 1e-5, "mean \(s)")
            expectRelative(fromPlanesVariance, expected.variance, 1e-4, "variance \(s)")
        }
    }

    /// The SIMD input gradient of strided planes and of narrow planes with many channels (the
    /// channel-last kernel) sums each element over o, then the taps, as the scalar variant does,
    /// one input channel a lane: the two agree bit for bit, on shapes with C below, at and above
    /// one and two vectors of 8 and 16.
    @Test("channel-last input gradient: SIMD and scalar bit-identical")
    func channelLastInputGradientMatchesScalar() {
        var rng = SeededGenerator(seed: 26)
        // The 4×4 plane's flat positions would fill 4 of every 6 lanes, its 32 channels whole
        // vectors: channel-last (conv_geometry.c, input_grad_channel_last).
        let narrow = PaddedConv(3, 32, 4, 4, 12, 3, 3, P: 1, S: 1)
        let extra = [PaddedConv(2, 17, 9, 9, 5, 3, 3, P: 1, S: 2), PaddedConv(3, 33, 4, 4, 12, 3, 3, P: 1, S: 2),
                     PaddedConv(2, 16, 6, 6, 8, 1, 1, P: 0, S: 2), PaddedConv(1, 9, 20, 21, 3, 3, 3, P: 1, S: 2)]
        for s in Self.shapes.filter({ $0.SH > 1 || $0.SW > 1 }) + extra + [narrow] {
            let K = randomFloats(s.O * s.C * s.KH * s.KW, &rng), dY = randomFloats(s.N * s.O * s.OH * s.OW, &rng)
            var dX = [[Float]](repeating: [], count: 2)
            for (i, v) in [CK_SCALAR, CK_SIMD].enumerated() {
                dX[i] = [Float](repeating: .nan, count: s.N * s.C * s.H * s.W)
                var work = [Float](repeating: .nan, count: ck_conv2d_backward_input_work_size(s.geometry))
                ck_conv2d_backward_input(v, &dX[i], dY, K, &work, s.geometry)
            }
            #expect(dX[0] == dX[1], "\(s)")
        }
    }

    @Test("the reference itself: padding 1 of a 2×2 plane by hand")
    func referenceByHand() {
        // X = [[1, 2], [3, 4]] padded by 1, a 2×2 kernel of ones, stride 2: each output sees one
        // corner of the padded 4×4 plane, that is one element of X.
        let s = PaddedConv(1, 1, 2, 2, 1, 2, 2, P: 1, S: 2)
        let X: [Float] = [1, 2, 3, 4], K: [Float] = [1, 1, 1, 1], dY: [Float] = [10, 20, 30, 40]
        for v in variants {
            let got = runPaddedConv(s, v, X: X, K: K, B: [], bias: .none, dY: dY)
            let Y: [Float] = [1, 2, 3, 4], dX: [Float] = [10, 20, 30, 40]
            #expect(got.Y == Y)
            #expect(got.dX == dX)
            // dK[kh][kw] sums over the four windows; only one meets X for each tap: K[1][1]
            // meets X[0][0] in window (0,0), K[0][0] meets X[1][1] in window (1,1).
            let dK: [Float] = [160, 90, 40, 10]  // 4·40, 3·30, 2·20, 1·10
            #expect(got.dK == dK)
        }
    }

    /// The forward pass over flat positions needs no workspace where no padding is copied and
    /// flat positions fill the lanes (conv_geometry.c, output_channel_last): each shape's rows fill
    /// more of a row than O fills of whole vectors of channels. The gradients do need one (dY
    /// copied wide or padded), so they get it.
    @Test("padding 0 and stride 1: the forward pass needs no workspace, the same results with none", arguments: variants)
    func validIsUnchanged(variant: ck_variant) throws {
        var rng = SeededGenerator(seed: 22)
        for (N, C, H, W, O, KH, KW) in [(2, 3, 7, 20, 5, 2, 4), (4, 1, 28, 28, 8, 5, 5), (3, 8, 20, 20, 12, 5, 5)] {
            let s = PaddedConv(N, C, H, W, O, KH, KW, P: 0, S: 1)
            try #require(ck_conv2d_forward_work_size(s.geometry) == 0)
            let X = randomFloats(N * C * H * W, &rng), K = randomFloats(O * C * KH * KW, &rng), B = randomFloats(O, &rng)
            let dY = randomFloats(N * O * s.OH * s.OW, &rng)
            let got = runPaddedConv(s, variant, X: X, K: K, B: B, bias: .channel, dY: dY)
            var Y = [Float](repeating: .nan, count: got.Y.count), dK = [Float](repeating: .nan, count: got.dK.count)
            var dX = [Float](repeating: .nan, count: got.dX.count)
            var kernelWork = [Float](repeating: .nan, count: ck_conv2d_backward_kernel_work_size(s.geometry))
            var inputWork = [Float](repeating: .nan, count: ck_conv2d_backward_input_work_size(s.geometry))
            ck_conv2d_forward(variant, &Y, X, K, B, CK_BIAS_CHANNEL, nil, s.geometry)
            ck_conv2d_backward_kernel(variant, &dK, X, dY, &kernelWork, s.geometry)
            ck_conv2d_backward_input(variant, &dX, dY, K, &inputWork, s.geometry)
            #expect(got.Y == Y && got.dK == dK && got.dX == dX, "\(s)")
        }
    }

    /// Every call is above the parallel threshold (2^20 flops), so two threads split the work. A
    /// batch of 6 pads image by image on one thread and whole on two (PADDED_IMAGES_MIN), stride 1
    /// and 2.
    @Test("one thread and two give bit-identical results", arguments: variants,
          [PaddedConv(8, 8, 28, 28, 16, 3, 3, P: 1, S: 1), PaddedConv(8, 8, 28, 28, 16, 3, 3, P: 1, S: 2),
           PaddedConv(4, 3, 30, 30, 20, 5, 5, P: 2, S: 3), PaddedConv(8, 1, 28, 28, 32, 5, 5, P: 2, S: 1),
           PaddedConv(4, 4, 24, 40, 12, 3, 3, PH: 1, PW: 0, SH: 2, SW: 1), PaddedConv(6, 8, 28, 28, 16, 3, 3, P: 1, S: 1),
           PaddedConv(6, 8, 28, 28, 16, 3, 3, P: 1, S: 2),
           // A ResNet's last stage: a narrow plane, and its 1×1 stride-2 projection.
           PaddedConv(8, 32, 4, 4, 64, 3, 3, P: 1, S: 1), PaddedConv(32, 16, 16, 16, 32, 1, 1, P: 0, S: 2)])
    func threadIndependence(variant: ck_variant, s: PaddedConv) {
        #expect(2.0 * Double(s.N * s.O * s.OH * s.OW * s.C * s.KH * s.KW) >= Double(1 << 20))
        var rng = SeededGenerator(seed: 23)
        let X = randomFloats(s.N * s.C * s.H * s.W, &rng), K = randomFloats(s.O * s.C * s.KH * s.KW, &rng)
        let B = randomFloats(s.O * s.OH * s.OW, &rng), dY = randomFloats(s.N * s.O * s.OH * s.OW, &rng)
        let one = withThreads(1) { runPaddedConv(s, variant, X: X, K: K, B: B, bias: .untied, dY: dY) }
        let two = withThreads(2) { runPaddedConv(s, variant, X: X, K: K, B: B, bias: .untied, dY: dY) }
        #expect(one.Y == two.Y, "Y \(s)")
        #expect(one.dK == two.dK, "dK \(s)")
        #expect(one.dX == two.dX, "dX \(s)")
        #expect(!one.Y.contains(where: \.isNaN) && !one.dK.contains(where: \.isNaN) && !one.dX.contains(where: \.isNaN))
    }

    @Test("tensor-level conv2d and its gradients with padding and stride", arguments: Kernels.Variant.allCases)
    func tensorLevel(variant: Kernels.Variant) throws {
        var rng = SeededGenerator(seed: 24)
        for s in Self.shapes where s.sameOnBothAxes {
            let X = randomFloats(s.N * s.C * s.H * s.W, &rng), K = randomFloats(s.O * s.C * s.KH * s.KW, &rng)
            let B = randomFloats(s.O * s.OH * s.OW, &rng), dY = randomFloats(s.N * s.O * s.OH * s.OW, &rng)
            let want = referencePaddedConv(s, X: X, K: K, B: B, bias: .untied, dY: dY)
            let x = try Tensor(shape: [s.N, s.C, s.H, s.W], scalars: X), k = try Tensor(shape: [s.O, s.C, s.KH, s.KW], scalars: K)
            let b = try Tensor(shape: [s.O, s.OH, s.OW], scalars: B), dy = try Tensor(shape: [s.N, s.O, s.OH, s.OW], scalars: dY)
            let y = try conv2d(x, kernel: k, bias: b, padding: s.P, stride: s.S, variant: variant)
            #expect(y.shape == [s.N, s.O, s.OH, s.OW])
            expectClose(y.scalars, want.Y, "conv2d \(s)")
            let dk = try conv2dKernelGradient(input: x, outputGradient: dy, padding: s.P, stride: s.S,
                                              kernelSize: (s.KH, s.KW), variant: variant)
            #expect(dk.shape == k.shape)
            expectClose(dk.scalars, want.dK, "conv2dKernelGradient \(s)")
            let dx = try conv2dInputGradient(outputGradient: dy, kernel: k, padding: s.P, stride: s.S,
                                             inputSize: (s.H, s.W), variant: variant)
            #expect(dx.shape == x.shape)
            expectClose(dx.scalars, want.dX, "conv2dInputGradient \(s)")
            if s.S == 1 {  // sizes follow from the shapes
                #expect(try conv2dKernelGradient(input: x, outputGradient: dy, padding: s.P, variant: variant) == dk)
                #expect(try conv2dInputGradient(outputGradient: dy, kernel: k, padding: s.P, variant: variant) == dx)
            }
        }
    }

    @Test("tensor-level shape errors")
    func tensorErrors() throws {
        var rng = SeededGenerator(seed: 25)
        let x = try Tensor(shape: [2, 3, 7, 7], scalars: randomFloats(2 * 3 * 49, &rng))
        let k = try Tensor(shape: [4, 3, 3, 3], scalars: randomFloats(4 * 27, &rng))
        #expect(throws: ShapeError.self) { try conv2d(x, kernel: k, padding: 3) }          // P ≥ K
        #expect(throws: ShapeError.self) { try conv2d(x, kernel: k, padding: -1) }
        #expect(throws: ShapeError.self) { try conv2d(x, kernel: k, stride: 0) }
        #expect(throws: ShapeError.self) { try conv2d(x, kernel: k, stride: 1 << 40) }
        let big = try Tensor(shape: [4, 3, 10, 10], scalars: randomFloats(4 * 300, &rng))
        #expect(throws: ShapeError.self) { try conv2d(x, kernel: big, padding: 1) }        // 10 > 7 + 2
        #expect(try conv2d(x, kernel: big, padding: 2).shape == [2, 4, 2, 2])             // 10 ≤ 7 + 4
        let dy = try conv2d(x, kernel: k, padding: 1, stride: 2)
        #expect(dy.shape == [2, 4, 4, 4])
        #expect(throws: ShapeError.self) { try conv2dKernelGradient(input: x, outputGradient: dy, padding: 1, stride: 2) }
        #expect(throws: ShapeError.self) { try conv2dInputGradient(outputGradient: dy, kernel: k, padding: 1, stride: 2) }
        #expect(throws: ShapeError.self) {  // 9×9 padded by 1 with stride 2 gives 5×5, not 4×4
            try conv2dInputGradient(outputGradient: dy, kernel: k, padding: 1, stride: 2, inputSize: (9, 9))
        }
        #expect(throws: ShapeError.self) {
            try conv2dKernelGradient(input: x, outputGradient: dy, padding: 1, stride: 2, kernelSize: (5, 5))
        }
        // 8×8 padded by 1 with stride 2 also gives 4×4: both sizes are accepted.
        #expect(try conv2dInputGradient(outputGradient: dy, kernel: k, padding: 1, stride: 2, inputSize: (8, 8)).shape == [2, 3, 8, 8])
    }
}
