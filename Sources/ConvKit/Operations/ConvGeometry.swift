import CKernels

/// The dimensions of one convolution, made and checked by the C kernels' one constructor,
/// `ck_conv2d_geometry_make`: X (N, C, H, W) zero-padded by `padding` on every side, K
/// (O, C, KH, KW) moved `stride` rows and columns at a time, Y (N, O, OH, OW). The output size
/// and the checks are C's; Swift only turns a refusal into a `ShapeError`.
struct ConvGeometry {
    /// What the kernels take.
    let c: ck_conv2d_geometry
    /// `CK_CONV2D_OK`, or the first problem `ck_conv2d_geometry_make` found.
    let status: ck_conv2d_status
    /// The sizes as asked for, for messages: C holds them clamped to Int32.
    private let asked: (n: Int, c: Int, h: Int, w: Int, o: Int, kh: Int, kw: Int, padding: Int, stride: Int)

    /// The geometry, unchecked: `status` says whether it is one. Sizes outside Int32 are clamped
    /// (and then refused by C).
    init(n: Int, c: Int, h: Int, w: Int, o: Int, kh: Int, kw: Int, padding: Int, stride: Int) {
        var g = ck_conv2d_geometry()
        let i = { (x: Int) in Int32(clamping: x) }
        let (p, s) = (i(padding), i(stride))
        status = ck_conv2d_geometry_make(&g, i(n), i(c), i(h), i(w), i(o), i(kh), i(kw), p, p, s, s)
        self.c = g
        asked = (n, c, h, w, o, kh, kw, padding, stride)
    }

    /// The geometry, or a `ShapeError` saying what is wrong with it.
    static func checked(n: Int, c: Int, h: Int, w: Int, o: Int, kh: Int, kw: Int, padding: Int,
                        stride: Int) throws(ShapeError) -> ConvGeometry {
        let g = ConvGeometry(n: n, c: c, h: h, w: w, o: o, kh: kh, kw: kw, padding: padding, stride: stride)
        try g.check()
        return g
    }

    /// Throws unless `status` is `CK_CONV2D_OK`, saying why.
    func check() throws(ShapeError) {
        let (n, c, h, w, o, kh, kw, padding, stride) = asked
        let padded = padding == 0 ? "" : " padded by \(padding)"
        switch status {
        case CK_CONV2D_OK: return
        case CK_CONV2D_EMPTY:
            throw ShapeError("a convolution needs positive sizes, got input \(shapeText([n, c, h, w])) and kernel \(shapeText([o, c, kh, kw]))")
        case CK_CONV2D_BAD_PADDING:
            throw ShapeError("padding must be at least 0, less than the kernel size \(kh)×\(kw) and at most \(Self.maxPaddingOrStride), got \(padding)")
        case CK_CONV2D_BAD_STRIDE:
            throw ShapeError("stride must be from 1 to \(Self.maxPaddingOrStride), got \(stride)")
        case CK_CONV2D_KERNEL_TOO_LARGE:
            throw ShapeError("a \(kh)×\(kw) kernel does not fit a \(h)×\(w) input\(padded)")
        default:
            throw ShapeError("a convolution of \(shapeText([n, c, h, w]))\(padded) by \(shapeText([o, c, kh, kw])) needs a buffer of more than \(kernelElementLimit) elements")
        }
    }

    /// `CK_CONV2D_MAX_PADDING_OR_STRIDE`.
    static let maxPaddingOrStride = Int(CK_CONV2D_MAX_PADDING_OR_STRIDE)

    /// Whether C filled in the sizes: they are consistent, though perhaps too large.
    var hasSizes: Bool { status == CK_CONV2D_OK || status == CK_CONV2D_TOO_LARGE }

    /// The same convolution over a batch of `n`.
    func batch(_ n: Int) -> ConvGeometry {
        ConvGeometry(n: n, c: asked.c, h: asked.h, w: asked.w, o: asked.o, kh: asked.kh, kw: asked.kw,
                     padding: asked.padding, stride: asked.stride)
    }

    var O: Int { Int(c.O) }
    var OH: Int { Int(c.OH) }
    var OW: Int { Int(c.OW) }
    /// (N, O, OH, OW).
    var outputShape: [Int] { [Int(c.N), O, OH, OW] }

    /// Floats of workspace each kernel needs.
    var forwardWorkCount: Int { ck_conv2d_forward_work_size(c) }
    var kernelGradientWorkCount: Int { ck_conv2d_backward_kernel_work_size(c) }
    var inputGradientWorkCount: Int { ck_conv2d_backward_input_work_size(c) }
}
