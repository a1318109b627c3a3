// The `conv` line of an architecture: kernel size, padding, stride and bias in any order.

extension Architecture {
    /// `conv FILTERS SIZE|HxW` then, in any order, `pad P|same`, `stride S`, `untied|nobias`.
    /// `pad same` keeps the input's size: (K−1)/2, for odd kernels with stride 1 only.
    static func convolution(_ args: [String], input: [Int]) throws(ShapeError) -> Conv2D {
        let usage = "usage: conv FILTERS SIZE|HxW [pad P|same] [stride S] [untied|nobias]"
        guard args.count >= 2 else { throw ShapeError(usage) }
        func number(_ word: String, _ what: String, from low: Int, to high: Int = 1 << 20) throws(ShapeError) -> Int {
            guard let n = Int(word), n >= low, n <= high else {
                throw ShapeError("\(what) must be a whole number from \(low) to \(high), got '\(word)'")
            }
            return n
        }
        let filters = try number(args[0], "filters", from: 1)
        var size: [Int] = []
        for part in args[1].split(separator: "x", omittingEmptySubsequences: false) { size.append(try number(String(part), "kernel size", from: 1)) }
        guard size.count <= 2 else { throw ShapeError("kernel size is SIZE or HxW, got '\(args[1])'") }
        let (kh, kw) = (size[0], size.last!)

        var pad: String?, stride: Int?, bias: Conv2D.Bias?
        var rest = args.dropFirst(2)[...]
        while let word = rest.popFirst() {
            switch word {
            case "pad", "stride":
                guard let value = rest.popFirst() else { throw ShapeError("conv '\(word)' needs a value; \(usage)") }
                if word == "pad" {
                    guard pad == nil else { throw ShapeError("conv has 'pad' twice") }
                    pad = value
                } else {
                    guard stride == nil else { throw ShapeError("conv has 'stride' twice") }
                    stride = try number(value, "stride", from: 1, to: Conv2D.maxPaddingOrStride)
                }
            case "untied", "nobias":
                guard bias == nil else { throw ShapeError("conv bias is one of 'untied' or 'nobias', got both or twice") }
                bias = word == "untied" ? .untied : Conv2D.Bias.none
            default:
                throw ShapeError("conv does not know '\(word)'; \(usage)")
            }
        }
        var padding = 0
        if pad == "same" {
            guard kh % 2 == 1, kw % 2 == 1, (stride ?? 1) == 1 else {
                throw ShapeError("conv 'pad same' needs an odd kernel and stride 1 (got \(kh)x\(kw), stride \(stride ?? 1)); give 'pad P' instead")
            }
            guard kh == kw else { throw ShapeError("conv 'pad same' needs a square kernel (padding is the same on both axes), got \(kh)x\(kw)") }
            padding = (kh - 1) / 2
        } else if let pad {
            padding = try number(pad, "padding", from: 0, to: Conv2D.maxPaddingOrStride)
        }
        return try Conv2D(input: input, filters: filters, kernelHeight: kh, kernelWidth: kw, padding: padding,
                          stride: stride ?? 1, bias: bias ?? .channel)
    }
}
