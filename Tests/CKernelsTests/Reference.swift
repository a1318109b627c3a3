import ConvKit
// Deliberately naive Swift references for every C kernel, accumulated in Double. Each returns,
// beside the values, the sum of the absolute values of the terms behind each output: float
// rounding error is bounded by a multiple of that, which gives every comparison its tolerance.

struct Reference {
    var value: [Double]
    var magnitude: [Double]

    init(count: Int) {
        value = [Double](repeating: 0, count: count)
        magnitude = [Double](repeating: 0, count: count)
    }

    mutating func add(_ i: Int, _ a: Float, _ b: Float) {
        let t = Double(a) * Double(b)
        value[i] += t
        magnitude[i] += abs(t)
    }

    mutating func add(_ i: Int, _ a: Float) {
        value[i] += Double(a)
        magnitude[i] += abs(Double(a))
    }
}

enum Bias: CaseIterable { case none, channel, untied }

/// Y (N,O,OH,OW) = B + Σ_c X[n,c] ⋆ K[o,c]
func referenceConvForward(_ X: [Float], _ K: [Float], _ B: [Float], bias: Bias,
                          N: Int, C: Int, H: Int, W: Int, O: Int, KH: Int, KW: Int) -> Reference {
    let OH = H - KH + 1, OW = W - KW + 1
    var r = Reference(count: N * O * OH * OW)
    for n in 0..<N { for o in 0..<O { for y in 0..<OH { for x in 0..<OW {
        let i = ((n * O + o) * OH + y) * OW + x
        switch bias {
        case .none: break
        case .channel: r.add(i, B[o])
        case .untied: r.add(i, B[(o * OH + y) * OW + x])
        }
        for c in 0..<C { for kh in 0..<KH { for kw in 0..<KW {
            r.add(i, X[((n * C + c) * H + y + kh) * W + x + kw], K[((o * C + c) * KH + kh) * KW + kw])
        } } }
    } } } }
    return r
}

/// dK (O,C,KH,KW) = Σ_n X[n,c] ⋆ dY[n,o]
func referenceConvKernelGrad(_ X: [Float], _ dY: [Float],
                             N: Int, C: Int, H: Int, W: Int, O: Int, KH: Int, KW: Int) -> Reference {
    let OH = H - KH + 1, OW = W - KW + 1
    var r = Reference(count: O * C * KH * KW)
    for o in 0..<O { for c in 0..<C { for kh in 0..<KH { for kw in 0..<KW {
        let i = ((o * C + c) * KH + kh) * KW + kw
        for n in 0..<N { for y in 0..<OH { for x in 0..<OW {
            r.add(i, X[((n * C + c) * H + y + kh) * W + x + kw], dY[((n * O + o) * OH + y) * OW + x])
        } } }
    } } } }
    return r
}

/// dX (N,C,H,W) = Σ_o dY[n,o] *full K[o,c], written from the definition of the full convolution:
/// dX[y][x] = Σ dY[y−kh][x−kw]·K[kh][kw] over the taps that land inside dY.
func referenceConvInputGrad(_ dY: [Float], _ K: [Float],
                            N: Int, C: Int, H: Int, W: Int, O: Int, KH: Int, KW: Int) -> Reference {
    let OH = H - KH + 1, OW = W - KW + 1
    var r = Reference(count: N * C * H * W)
    for n in 0..<N { for c in 0..<C { for y in 0..<H { for x in 0..<W {
        let i = ((n * C + c) * H + y) * W + x
        for o in 0..<O { for kh in 0..<KH { for kw in 0..<KW {
            let yy = y - kh, xx = x - kw
            guard yy >= 0, yy < OH, xx >= 0, xx < OW else { continue }
            r.add(i, dY[((n * O + o) * OH + yy) * OW + xx], K[((o * C + c) * KH + kh) * KW + kw])
        } } }
    } } } }
    return r
}

/// Full correlation of one plane: out[y][x] = Σ in[y+kh−KH+1][x+kw−KW+1]·k[kh][kw], zero outside.
func referenceCorrelateFull(_ input: [Float], _ k: [Float], H: Int, W: Int, KH: Int, KW: Int) -> Reference {
    let FH = H + KH - 1, FW = W + KW - 1
    var r = Reference(count: FH * FW)
    for y in 0..<FH { for x in 0..<FW { for kh in 0..<KH { for kw in 0..<KW {
        let yy = y + kh - KH + 1, xx = x + kw - KW + 1
        guard yy >= 0, yy < H, xx >= 0, xx < W else { continue }
        r.add(y * FW + x, input[yy * W + xx], k[kh * KW + kw])
    } } } }
    return r
}

/// Y (N,O) = X (N,I) · Wtᵀ + b
func referenceDenseForward(_ X: [Float], _ Wt: [Float], _ b: [Float], N: Int, I: Int, O: Int) -> Reference {
    var r = Reference(count: N * O)
    for n in 0..<N { for o in 0..<O {
        r.add(n * O + o, b[o])
        for i in 0..<I { r.add(n * O + o, X[n * I + i], Wt[o * I + i]) }
    } }
    return r
}

func referenceDenseBackward(_ dY: [Float], _ X: [Float], _ Wt: [Float], N: Int, I: Int, O: Int)
    -> (dX: Reference, dWt: Reference, db: Reference) {
    var dX = Reference(count: N * I), dWt = Reference(count: O * I), db = Reference(count: O)
    for n in 0..<N { for o in 0..<O {
        db.add(o, dY[n * O + o])
        for i in 0..<I {
            dX.add(n * I + i, dY[n * O + o], Wt[o * I + i])
            dWt.add(o * I + i, dY[n * O + o], X[n * I + i])
        }
    } }
    return (dX, dWt, db)
}
