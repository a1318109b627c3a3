// The convolution's SIMD kernel gradient over an unpadded input, stride 1:
// dK[o,c] = sum_n X[n,c] ⋆ dY[n,o], a tiny output with its own loop.
#include "conv_internal.h"

// Images per pass over a block of rows of dK: as many as keep their planes of X[n,c] and dY[n,o]
// (OB channels) within about half of a 32 KB L1, so that the KW shifted loads of X and the OB
// loads of dY hit L1 on every pass (one per kernel row kh), not L2.
static int kernel_grad_images(ck_conv2d_geometry g, int OB) {
    const int bytes = (int)sizeof(float) * (g.H * g.W + OB * g.OH * g.OW);
    const int images = (16 * 1024) / bytes;
    return images < 1 ? 1 : images;
}

// One column vector of one row: acc[ob·KW + kw] += dY[o0+ob, y, x0..] · X[c, y+kh, x0+kw..],
// dY masked to the lanes of `mask` when `masked` (kept out of the main loop: on AVX2 the mask
// would take the sixteenth register).
FORCE_INLINE void kernel_grad_step(vf *acc, const float *xrow, const float *drow, int x0, const int OB,
                                   const int KW, size_t plane, const int masked, vi mask) {
    vf in[8];
    for (int kw = 0; kw < KW; kw++) in[kw] = vload(xrow + x0 + kw);
    for (int ob = 0; ob < OB; ob++) {
        vf d = vload(drow + ob * plane + x0);
        if (masked) d = (vf)((vi)d & mask);
        for (int kw = 0; kw < KW; kw++) acc[ob * KW + kw] += d * in[kw];
    }
}

// Row kh of dK[o,c] for OB output channels o0 ..< o0+OB, images n0 ..< n1, added to the running
// vector sums (OB·KW of them, OB and KW known at compile time, OB·KW ≤ CK_TILE_MAX): per step the tile loads
// KW shifted input vectors and OB dY vectors for OB·KW fused multiply-adds, so input loads are
// shared by the channels and dY loads by the taps. A ragged last vector of a row is the row's
// last VL columns with the already counted lanes of dY zeroed.
FORCE_INLINE void kernel_grad_row(vf *sums, const float *X, const float *dY, ck_conv2d_geometry g, int o0, const int OB,
                                  int c, int kh, int n0, int n1) {
    const int KW = g.KW, nvec = g.OW / VL, rem = g.OW % VL;
    vi mask;  // lanes of the ragged last vector not yet covered by the full ones
    for (int l = 0; l < VL; l++) mask[l] = l >= VL - rem ? -1 : 0;
    vf acc[CK_TILE_MAX];
    for (int t = 0; t < OB * KW; t++) acc[t] = sums[t];
    for (int n = n0; n < n1; n++) {
        const float *Xc = X + ((size_t)n * g.C + c) * g.H * g.W + (size_t)kh * g.W;
        const float *dYn = dY + ((size_t)n * g.O + o0) * g.OH * g.OW;
        // Down the rows innermost: a long loop with constant strides even when a row is one
        // vector (LeNet's second layer is 8 wide).
        for (int xv = 0; xv < nvec; xv++)
            for (int y = 0; y < g.OH; y++)
                kernel_grad_step(acc, Xc + (size_t)y * g.W, dYn + (size_t)y * g.OW, xv * VL, OB, KW,
                                 (size_t)g.OH * g.OW, 0, mask);
        for (int y = 0; rem != 0 && nvec != 0 && y < g.OH; y++)
            kernel_grad_step(acc, Xc + (size_t)y * g.W, dYn + (size_t)y * g.OW, g.OW - VL, OB, KW,
                             (size_t)g.OH * g.OW, 1, mask);
    }
    for (int t = 0; t < OB * KW; t++) sums[t] = acc[t];
}

// dK[o,c] for channels o0 ..< o0+OB and input channel c. The images go in groups that fit L1
// (kernel_grad_images); each group makes one pass per kernel row, carrying that row's vector
// sums over from the previous group. Each dK element is summed over n, column vectors and y in
// that order, then across lanes: a fixed order.
FORCE_INLINE void kernel_grad_block(float *dK, const float *X, const float *dY, ck_conv2d_geometry g, int o0, const int OB,
                                    int c) {
    const int KW = g.KW, group = kernel_grad_images(g, OB);
    vf sums[g.KH][CK_TILE_MAX];  // on the stack: KH·OB·KW vectors (4 KB for a 5×5 kernel on AVX-512)
    for (int kh = 0; kh < g.KH; kh++)
        for (int t = 0; t < OB * KW; t++) sums[kh][t] = vsplat(0.0f);
    for (int n0 = 0; n0 < g.N; n0 += group) {
        const int n1 = n0 + group < g.N ? n0 + group : g.N;
        for (int kh = 0; kh < g.KH; kh++) kernel_grad_row(sums[kh], X, dY, g, o0, OB, c, kh, n0, n1);
    }
    for (int ob = 0; ob < OB; ob++)
        for (int kh = 0; kh < g.KH; kh++)
            for (int kw = 0; kw < KW; kw++) dK[(((size_t)(o0 + ob) * g.C + c) * g.KH + kh) * KW + kw] = vsum(sums[kh][ob * KW + kw]);
}

// Any other kernel width: one tap at a time, a dot product over n, y, x with one accumulator.
static void kernel_grad_pair_any(float *dK, const float *X, const float *dY, ck_conv2d_geometry g, int o, int c) {
    const int nvec = g.OW / VL;
    for (int kh = 0; kh < g.KH; kh++) {
        for (int kw = 0; kw < g.KW; kw++) {
            vf acc = vsplat(0.0f);
            float tail = 0.0f;
            for (int n = 0; n < g.N; n++) {
                const float *Xc = X + ((size_t)n * g.C + c) * g.H * g.W;
                const float *dYo = dY + ((size_t)n * g.O + o) * g.OH * g.OW;
                for (int y = 0; y < g.OH; y++) {
                    for (int xv = 0; xv < nvec; xv++)
                        acc += vload(dYo + y * g.OW + xv * VL) * vload(Xc + (y + kh) * g.W + xv * VL + kw);
                    for (int x = nvec * VL; x < g.OW; x++) tail += Xc[(y + kh) * g.W + x + kw] * dYo[y * g.OW + x];
                }
            }
            dK[(((size_t)o * g.C + c) * g.KH + kh) * g.KW + kw] = vsum(acc) + tail;
        }
    }
}

// Output channels per block of the kernel gradient: on AVX2 4 for 3-wide kernels, 2 for 5-wide
// (12 and 10 accumulators), on AVX-512 8 and 4 (24 and 20); 1 for any other width. The block
// does not change the order of any dK element's sum.
#if CK_VREGS == 32
#define KG_OB3 8
#define KG_OB5 4
#else
#define KG_OB3 4
#define KG_OB5 2
#endif
static int kernel_grad_channels(int KW) { return KW == 3 ? KG_OB3 : KW == 5 ? KG_OB5 : 1; }

// Item (block b of output channels, input channel c) of the kernel gradient; see forward_item.
static __attribute__((noinline)) void kernel_grad_item(float *dK, const float *X, const float *dY, ck_conv2d_geometry g,
                                                       int b, int c) {
    const int OB = kernel_grad_channels(g.KW), o0 = b * OB, count = g.O - o0 < OB ? g.O - o0 : OB;
    if (g.KW == 3) {
        const ck_conv2d_geometry g3 = with_kernel(g, g.KH, 3);
        if (KG_OB3 == 8 && count == 8) kernel_grad_block(dK, X, dY, g3, o0, 8, c);
        else if (KG_OB3 == 8 && count >= 4) {  // 4 then the rest, one tile each
            kernel_grad_block(dK, X, dY, g3, o0, 4, c);
            for (int o = o0 + 4; o < o0 + count; o++) kernel_grad_block(dK, X, dY, g3, o, 1, c);
        } else if (count == 4) kernel_grad_block(dK, X, dY, g3, o0, 4, c);
        else if (count == 3) kernel_grad_block(dK, X, dY, g3, o0, 3, c);
        else if (count == 2) kernel_grad_block(dK, X, dY, g3, o0, 2, c);
        else kernel_grad_block(dK, X, dY, g3, o0, 1, c);
    } else if (g.KW == 5) {
        const ck_conv2d_geometry g5 = with_kernel(g, g.KH, 5);
        if (KG_OB5 == 4 && count == 4) kernel_grad_block(dK, X, dY, g5, o0, 4, c);
        else if (count >= 2) {
            kernel_grad_block(dK, X, dY, g5, o0, 2, c);
            if (count == 3) kernel_grad_block(dK, X, dY, g5, o0 + 2, 1, c);
        } else kernel_grad_block(dK, X, dY, g5, o0, 1, c);
    } else {
        kernel_grad_pair_any(dK, X, dY, g, o0, c);
    }
}

void conv_backward_kernel_simd(float *dK, const float *X, const float *dY, ck_conv2d_geometry g) {
    const int OB = kernel_grad_channels(g.KW), blocks = (g.O + OB - 1) / OB;
    CK_PARALLEL_FOR(i, blocks * g.C, conv_flops(g), kernel_grad_item(dK, X, dY, g, i / g.C, i % g.C));
}
