// 2-D correlation and the convolutional layer's forward and backward passes.
//
// - The forward pass is a batched valid cross-correlation: Y[n,o] = B[o] + sum_c X[n,c] ⋆ K[o,c].
// - The kernel gradient dK[o,c] = sum_n X[n,c] ⋆ dY[n,o] has a tiny output and its own loop.
// - The input gradient dX[n,c] = sum_o dY[n,o] *full K[o,c] is a scatter: each row of dY[n,o],
//   times the tap K[o,c,kh,kw], lands on row y+kh of dX[n,c], shifted right by kw. Nothing is
//   padded, and no multiply-add meets a padding zero.
// - A single-plane full correlation is a valid one over the input zero-padded by KH-1, KW-1.
// - Zero padding and stride (ck_conv2d_padded_*): see "padding and stride" below.
#include "CKernels.h"
#include "vec.h"

// One convolution: X (N,C,H,W) zero-padded by PH rows above and below and PW columns left and
// right, K (O,C,KH,KW) moved SH rows and SW columns at a time, Y (N,O,OH,OW) with
// OH = (H+2PH-KH)/SH+1, OW = (W+2PW-KW)/SW+1. dX, dK and dY have the shapes of X, K and Y. The
// valid stride-1 kernels below only see PH = PW = 0, SH = SW = 1.
typedef struct { int N, C, H, W, O, KH, KW, OH, OW, PH, PW, SH, SW; } conv_shape;

static conv_shape conv_shape_of(int N, int C, int H, int W, int O, int KH, int KW) {
    return (conv_shape){N, C, H, W, O, KH, KW, H - KH + 1, W - KW + 1, 0, 0, 1, 1};
}

static conv_shape conv_shape_from(ck_conv2d_geometry g) {
    return (conv_shape){g.N, g.C, g.H, g.W, g.O, g.KH, g.KW, (g.H + 2 * g.PH - g.KH) / g.SH + 1,
                        (g.W + 2 * g.PW - g.KW) / g.SW + 1, g.PH, g.PW, g.SH, g.SW};
}

static int is_padded(conv_shape s) { return s.PH != 0 || s.PW != 0; }
static int is_strided(conv_shape s) { return s.SH != 1 || s.SW != 1; }

// Multiply-adds of the valid correlation, ×2; the same count for both gradients.
static double conv_flops(conv_shape s) { return 2.0 * s.N * s.O * s.OH * s.OW * s.C * s.KH * s.KW; }

// s with the kernel size as constants: a FORCE_INLINE callee then unrolls its tap loops.
FORCE_INLINE conv_shape with_kernel(conv_shape s, const int KH, const int KW) {
    s.KH = KH;
    s.KW = KW;
    return s;
}

static float bias_at(const float *B, ck_bias bias, int o, int y, int x, int OH, int OW) {
    switch (bias) {
    case CK_BIAS_CHANNEL: return B[o];
    case CK_BIAS_UNTIED: return B[((size_t)o * OH + y) * OW + x];
    default: return 0.0f;
    }
}

// ================================ scalar variants ==============================================

// Plane Y[n,o] of an unpadded input, any stride; each element summed over c, kh, kw in that order.
static void forward_plane_scalar(float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                                 conv_shape s, int n, int o) {
    float *Yno = Y + ((size_t)n * s.O + o) * s.OH * s.OW;
    for (int y = 0; y < s.OH; y++) {
        NO_VECTORIZE
        for (int x = 0; x < s.OW; x++) {
            float sum = bias_at(B, bias, o, y, x, s.OH, s.OW);
            for (int c = 0; c < s.C; c++) {
                const float *Xc = X + ((size_t)n * s.C + c) * s.H * s.W;
                const float *Kc = K + ((size_t)o * s.C + c) * s.KH * s.KW;
                NO_VECTORIZE
                for (int kh = 0; kh < s.KH; kh++) {
                    NO_VECTORIZE
                    for (int kw = 0; kw < s.KW; kw++)
                        sum += Xc[(y * s.SH + kh) * s.W + x * s.SW + kw] * Kc[kh * s.KW + kw];
                }
            }
            Yno[y * s.OW + x] = sum;
        }
    }
}

// dK[o,c] of an unpadded input, any stride; each element summed over n, y, x in that order.
static void kernel_grad_pair_scalar(float *dK, const float *X, const float *dY, conv_shape s, int o, int c) {
    for (int kh = 0; kh < s.KH; kh++) {
        for (int kw = 0; kw < s.KW; kw++) {
            float sum = 0.0f;
            for (int n = 0; n < s.N; n++) {
                const float *Xc = X + ((size_t)n * s.C + c) * s.H * s.W;
                const float *dYo = dY + ((size_t)n * s.O + o) * s.OH * s.OW;
                for (int y = 0; y < s.OH; y++) {
                    NO_VECTORIZE
                    for (int x = 0; x < s.OW; x++)
                        sum += Xc[(y * s.SH + kh) * s.W + x * s.SW + kw] * dYo[y * s.OW + x];
                }
            }
            dK[(((size_t)o * s.C + c) * s.KH + kh) * s.KW + kw] = sum;
        }
    }
}

// Plane dX[n,c] from the definition of the full convolution, dX[y][x] = sum over o, kh, kw of
// dY[y-kh][x-kw]·K[kh][kw] for the taps that land inside dY, summed in that order. The SIMD
// variant falls back on this (vectorised) for planes narrower than a vector.
FORCE_INLINE void input_grad_plane_direct(float *dX, const float *dY, const float *K, conv_shape s, int n, int c,
                                          const int vectorize) {
    float *dXc = dX + ((size_t)n * s.C + c) * s.H * s.W;
    for (int y = 0; y < s.H; y++) {
        const int kh0 = y - s.OH + 1 > 0 ? y - s.OH + 1 : 0, kh1 = y < s.KH - 1 ? y : s.KH - 1;
        for (int x = 0; x < s.W; x++) {
            const int kw0 = x - s.OW + 1 > 0 ? x - s.OW + 1 : 0, kw1 = x < s.KW - 1 ? x : s.KW - 1;
            float sum = 0.0f;
            for (int o = 0; o < s.O; o++) {
                const float *dYo = dY + ((size_t)n * s.O + o) * s.OH * s.OW;
                const float *Ko = K + ((size_t)o * s.C + c) * s.KH * s.KW;
                for (int kh = kh0; kh <= kh1; kh++) {
                    if (vectorize) {
                        for (int kw = kw0; kw <= kw1; kw++) sum += dYo[(y - kh) * s.OW + x - kw] * Ko[kh * s.KW + kw];
                    } else {
                        NO_VECTORIZE
                        for (int kw = kw0; kw <= kw1; kw++) sum += dYo[(y - kh) * s.OW + x - kw] * Ko[kh * s.KW + kw];
                    }
                }
            }
            dXc[y * s.W + x] = sum;
        }
    }
}

static void input_grad_plane_scalar(float *dX, const float *dY, const float *K, conv_shape s, int n, int c) {
    input_grad_plane_direct(dX, dY, K, s, n, c, 0);
}

static void conv_forward_scalar(float *Y, const float *X, const float *K, const float *B, ck_bias bias, conv_shape s) {
    CK_PARALLEL_FOR(i, s.N * s.O, conv_flops(s), forward_plane_scalar(Y, X, K, B, bias, s, i / s.O, i % s.O));
}

static void conv_backward_kernel_scalar(float *dK, const float *X, const float *dY, conv_shape s) {
    CK_PARALLEL_FOR(i, s.O * s.C, conv_flops(s), kernel_grad_pair_scalar(dK, X, dY, s, i / s.C, i % s.C));
}

static void conv_backward_input_scalar(float *dX, const float *dY, const float *K, conv_shape s) {
    CK_PARALLEL_FOR(i, s.N * s.C, conv_flops(s), input_grad_plane_scalar(dX, dY, K, s, i / s.C, i % s.C));
}

// ================================ SIMD: forward ================================================

// One register tile of the forward correlation of image n (Yn, Xn): OB output channels × R output
// rows × V vectors of VL columns, starting at output channel o0, row y0, column x0. Called with
// constant OB, R, V (OB·R·V ≤ 12), so after inlining the accumulators live in registers: per
// kernel tap the tile loads R·V input vectors and OB broadcast weights for OB·R·V fused
// multiply-adds. AVX2 has 16 vector registers: 12 accumulators, the inputs of one tap and a
// weight still fit.
FORCE_INLINE void forward_tile(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                               conv_shape s, int o0, int y0, int x0, const int OB, const int R, const int V) {
    vf acc[12];
    for (int ob = 0; ob < OB; ob++) {
        for (int r = 0; r < R; r++) {
            for (int v = 0; v < V; v++) {
                const int o = o0 + ob, y = y0 + r, x = x0 + v * VL;
                vf a;
                if (bias == CK_BIAS_CHANNEL) a = vsplat(B[o]);
                else if (bias == CK_BIAS_UNTIED) a = vload(B + ((size_t)o * s.OH + y) * s.OW + x);
                else a = vsplat(0.0f);
                acc[(ob * R + r) * V + v] = a;
            }
        }
    }
    const size_t kstride = (size_t)s.C * s.KH * s.KW;  // from K[o,c] to K[o+1,c]
    for (int c = 0; c < s.C; c++) {
        const float *Xc = Xn + (size_t)c * s.H * s.W + (size_t)y0 * s.W + x0;
        const float *Kc = K + ((size_t)o0 * s.C + c) * s.KH * s.KW;
        for (int kh = 0; kh < s.KH; kh++) {
            for (int kw = 0; kw < s.KW; kw++) {
                vf in[12];
                for (int r = 0; r < R; r++)
                    for (int v = 0; v < V; v++)
                        in[r * V + v] = vload(Xc + (size_t)(r + kh) * s.W + kw + v * VL);
                for (int ob = 0; ob < OB; ob++) {
                    const vf w = vsplat(Kc[ob * kstride + kh * s.KW + kw]);
                    for (int r = 0; r < R; r++)
                        for (int v = 0; v < V; v++)
                            acc[(ob * R + r) * V + v] += w * in[r * V + v];
                }
            }
        }
    }
    for (int ob = 0; ob < OB; ob++)
        for (int r = 0; r < R; r++)
            for (int v = 0; v < V; v++)
                vstore(Yn + ((size_t)(o0 + ob) * s.OH + y0 + r) * s.OW + x0 + v * VL, acc[(ob * R + r) * V + v]);
}

// Rows 0 ..< OH of columns x0 ..< x0 + V·VL in tiles of R rows; the last tile moves up to end
// at OH (needs OH ≥ R), recomputing a few rows.
FORCE_INLINE void forward_column(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                                 conv_shape s, int o0, int x0, const int OB, const int R, const int V) {
    for (int yi = 0; yi < s.OH; yi += R) {
        const int y0 = yi + R <= s.OH ? yi : s.OH - R;
        forward_tile(Yn, Xn, K, B, bias, s, o0, y0, x0, OB, R, V);
    }
}

// Every output of OB channels with tiles of R rows × V vectors (needs OH ≥ R, OW ≥ V·VL). Ragged
// edges are not done element by element: the last row tile moves up to end at OH and the last
// column tile (of 1 or 2 vectors) moves left to end at OW, recomputing a few outputs. Each
// output is summed in the same order by every tile that covers it, so the repeats write equal
// values and the result is still independent of tiling and threads.
FORCE_INLINE void forward_sweep(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                                conv_shape s, int o0, const int OB, const int R, const int V) {
    const int full = s.OW / (V * VL) * (V * VL);  // columns covered by whole tiles
    for (int x0 = 0; x0 < full; x0 += V * VL) forward_column(Yn, Xn, K, B, bias, s, o0, x0, OB, R, V);
    const int rem = s.OW - full;
    if (rem == 0) return;
    // The ragged strip: vr ≤ V vectors wide (and full ≥ V·VL, so the moved tile fits), with
    // taller tiles when it is one vector wide, to keep OB·R·V accumulators.
    const int vr = (rem + VL - 1) / VL, x0 = s.OW - vr * VL;
    if (vr == 1 && s.OH >= R * V) forward_column(Yn, Xn, K, B, bias, s, o0, x0, OB, R * V, 1);
    else if (vr == 1) forward_column(Yn, Xn, K, B, bias, s, o0, x0, OB, R, 1);
    else if (V >= 2 && vr == 2) forward_column(Yn, Xn, K, B, bias, s, o0, x0, OB, R, 2);
    else if (V >= 3) forward_column(Yn, Xn, K, B, bias, s, o0, x0, OB, R, 3);  // a whole tile moved left
}

// Planes narrower than one vector: one element at a time.
static void forward_block_narrow(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                                 conv_shape s, int o0, int OB) {
    for (int ob = 0; ob < OB; ob++) {
        const int o = o0 + ob;
        for (int y = 0; y < s.OH; y++) {
            for (int x = 0; x < s.OW; x++) {
                float sum = bias_at(B, bias, o, y, x, s.OH, s.OW);
                for (int c = 0; c < s.C; c++) {
                    const float *Xc = Xn + (size_t)c * s.H * s.W;
                    const float *Kc = K + ((size_t)o * s.C + c) * s.KH * s.KW;
                    for (int kh = 0; kh < s.KH; kh++)
                        for (int kw = 0; kw < s.KW; kw++) sum += Xc[(y + kh) * s.W + x + kw] * Kc[kh * s.KW + kw];
                }
                Yn[((size_t)o * s.OH + y) * s.OW + x] = sum;
            }
        }
    }
}

// Output channels o0 ..< o0+OB (OB is 4 or 1) of one image. Tile shapes keep 8 to 12
// accumulators (FMA latency 4 × 2 pipes needs 8 in flight): wide rows take 3 vectors, narrow
// ones stack rows instead; a single channel stacks 4 rows.
FORCE_INLINE void forward_block(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                                conv_shape s, int o0, const int OB) {
    const int V = s.OW >= 3 * VL ? 3 : s.OW >= 2 * VL ? 2 : s.OW >= VL ? 1 : 0;
    if (OB == 4 && V == 3) forward_sweep(Yn, Xn, K, B, bias, s, o0, 4, 1, 3);
    else if (OB == 4 && V == 2) forward_sweep(Yn, Xn, K, B, bias, s, o0, 4, 1, 2);
    else if (OB == 4 && V == 1 && s.OH >= 3) forward_sweep(Yn, Xn, K, B, bias, s, o0, 4, 3, 1);
    else if (OB == 4 && V == 1) forward_sweep(Yn, Xn, K, B, bias, s, o0, 4, 1, 1);
    else if (OB == 1 && V == 3 && s.OH >= 4) forward_sweep(Yn, Xn, K, B, bias, s, o0, 1, 4, 3);
    else if (OB == 1 && V == 2 && s.OH >= 6) forward_sweep(Yn, Xn, K, B, bias, s, o0, 1, 6, 2);
    else if (OB == 1 && V == 1 && s.OH >= 8) forward_sweep(Yn, Xn, K, B, bias, s, o0, 1, 8, 1);
    else if (OB == 1 && V == 3) forward_sweep(Yn, Xn, K, B, bias, s, o0, 1, 1, 3);
    else if (OB == 1 && V == 2) forward_sweep(Yn, Xn, K, B, bias, s, o0, 1, 1, 2);
    else if (OB == 1 && V == 1) forward_sweep(Yn, Xn, K, B, bias, s, o0, 1, 1, 1);
    else forward_block_narrow(Yn, Xn, K, B, bias, s, o0, OB);
}

// Output channels 4b ..< 4b+4 of image n (fewer at the end, one at a time).
FORCE_INLINE void forward_channels(float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                                   conv_shape s, int n, int b) {
    float *Yn = Y + (size_t)n * s.O * s.OH * s.OW;
    const float *Xn = X + (size_t)n * s.C * s.H * s.W;
    const int o0 = 4 * b;
    if (o0 + 4 <= s.O) forward_block(Yn, Xn, K, B, bias, s, o0, 4);
    else for (int o = o0; o < s.O; o++) forward_block(Yn, Xn, K, B, bias, s, o, 1);
}

// Item (image n, block b of 4 output channels) of the forward pass. Not inlined: it holds every
// tile shape for 3×3, 5×5 and other kernels, and is called from both loops of CK_PARALLEL_FOR.
// 3×3 and 5×5 kernels get their own copies with the tap loops fully unrolled: with one input
// channel a tile has only 9 taps, and loop overhead would cost a third.
static __attribute__((noinline)) void forward_item(float *Y, const float *X, const float *K, const float *B,
                                                   ck_bias bias, conv_shape s, int n, int b) {
    if (s.KH == 3 && s.KW == 3) forward_channels(Y, X, K, B, bias, with_kernel(s, 3, 3), n, b);
    else if (s.KH == 5 && s.KW == 5) forward_channels(Y, X, K, B, bias, with_kernel(s, 5, 5), n, b);
    else forward_channels(Y, X, K, B, bias, s, n, b);
}

static void conv_forward_simd(float *Y, const float *X, const float *K, const float *B, ck_bias bias, conv_shape s) {
    const int blocks = (s.O + 3) / 4;
    CK_PARALLEL_FOR(i, s.N * blocks, conv_flops(s), forward_item(Y, X, K, B, bias, s, i / blocks, i % blocks));
}

// ================================ SIMD: kernel gradient ========================================

// Images per pass over a block of rows of dK: as many as keep their planes of X[n,c] and dY[n,o]
// (OB channels) within about half of a 32 KB L1, so that the KW shifted loads of X and the OB
// loads of dY hit L1 on every pass (one per kernel row kh), not L2.
static int kernel_grad_images(conv_shape s, int OB) {
    const int bytes = (int)sizeof(float) * (s.H * s.W + OB * s.OH * s.OW);
    const int images = (16 * 1024) / bytes;
    return images < 1 ? 1 : images;
}

// One column vector of one row: acc[ob·KW + kw] += dY[o0+ob, y, x0..] · X[c, y+kh, x0+kw..],
// dY masked to the lanes of `mask` when `masked` (kept out of the main loop: the mask would take
// the sixteenth register).
FORCE_INLINE void kernel_grad_step(vf *acc, const float *xrow, const float *drow, int x0, const int OB,
                                   const int KW, size_t plane, const int masked, vi mask) {
    vf in[12];
    for (int kw = 0; kw < KW; kw++) in[kw] = vload(xrow + x0 + kw);
    for (int ob = 0; ob < OB; ob++) {
        vf d = vload(drow + ob * plane + x0);
        if (masked) d = (vf)((vi)d & mask);
        for (int kw = 0; kw < KW; kw++) acc[ob * KW + kw] += d * in[kw];
    }
}

// Row kh of dK[o,c] for OB output channels o0 ..< o0+OB, images n0 ..< n1, added to the running
// vector sums (OB·KW of them, OB and KW known at compile time, OB·KW ≤ 12): per step the tile loads
// KW shifted input vectors and OB dY vectors for OB·KW fused multiply-adds, so input loads are
// shared by the channels and dY loads by the taps. A ragged last vector of a row is the row's
// last VL columns with the already counted lanes of dY zeroed.
FORCE_INLINE void kernel_grad_row(vf *sums, const float *X, const float *dY, conv_shape s, int o0, const int OB,
                                  int c, int kh, int n0, int n1) {
    const int KW = s.KW, nvec = s.OW / VL, rem = s.OW % VL;
    vi mask;  // lanes of the ragged last vector not yet covered by the full ones
    for (int l = 0; l < VL; l++) mask[l] = l >= VL - rem ? -1 : 0;
    vf acc[12];
    for (int t = 0; t < OB * KW; t++) acc[t] = sums[t];
    for (int n = n0; n < n1; n++) {
        const float *Xc = X + ((size_t)n * s.C + c) * s.H * s.W + (size_t)kh * s.W;
        const float *dYn = dY + ((size_t)n * s.O + o0) * s.OH * s.OW;
        // Down the rows innermost: a long loop with constant strides even when a row is one
        // vector (LeNet's second layer is 8 wide).
        for (int xv = 0; xv < nvec; xv++)
            for (int y = 0; y < s.OH; y++)
                kernel_grad_step(acc, Xc + (size_t)y * s.W, dYn + (size_t)y * s.OW, xv * VL, OB, KW,
                                 (size_t)s.OH * s.OW, 0, mask);
        for (int y = 0; rem != 0 && nvec != 0 && y < s.OH; y++)
            kernel_grad_step(acc, Xc + (size_t)y * s.W, dYn + (size_t)y * s.OW, s.OW - VL, OB, KW,
                             (size_t)s.OH * s.OW, 1, mask);
    }
    for (int t = 0; t < OB * KW; t++) sums[t] = acc[t];
}

// dK[o,c] for channels o0 ..< o0+OB and input channel c. The images go in groups that fit L1
// (kernel_grad_images); each group makes one pass per kernel row, carrying that row's vector
// sums over from the previous group. Each dK element is summed over n, column vectors and y in
// that order, then across lanes: a fixed order.
FORCE_INLINE void kernel_grad_block(float *dK, const float *X, const float *dY, conv_shape s, int o0, const int OB,
                                    int c) {
    const int KW = s.KW, group = kernel_grad_images(s, OB);
    vf sums[s.KH][12];  // on the stack: KH·OB·KW vectors (1.9 KB for a 5×5 kernel)
    for (int kh = 0; kh < s.KH; kh++)
        for (int t = 0; t < OB * KW; t++) sums[kh][t] = vsplat(0.0f);
    for (int n0 = 0; n0 < s.N; n0 += group) {
        const int n1 = n0 + group < s.N ? n0 + group : s.N;
        for (int kh = 0; kh < s.KH; kh++) kernel_grad_row(sums[kh], X, dY, s, o0, OB, c, kh, n0, n1);
    }
    const int narrow = s.OW < VL;  // rows narrower than a vector: no vector steps at all
    for (int ob = 0; ob < OB; ob++) {
        const int o = o0 + ob;
        for (int kh = 0; kh < s.KH; kh++) {
            for (int kw = 0; kw < KW; kw++) {
                float sum = vsum(sums[kh][ob * KW + kw]);
                for (int n = 0; narrow && n < s.N; n++) {
                    const float *Xc = X + ((size_t)n * s.C + c) * s.H * s.W;
                    const float *dYo = dY + ((size_t)n * s.O + o) * s.OH * s.OW;
                    for (int y = 0; y < s.OH; y++)
                        for (int x = 0; x < s.OW; x++) sum += Xc[(y + kh) * s.W + x + kw] * dYo[y * s.OW + x];
                }
                dK[(((size_t)o * s.C + c) * s.KH + kh) * KW + kw] = sum;
            }
        }
    }
}

// Any other kernel width: one tap at a time, a dot product over n, y, x with one accumulator.
static void kernel_grad_pair_any(float *dK, const float *X, const float *dY, conv_shape s, int o, int c) {
    const int nvec = s.OW / VL;
    for (int kh = 0; kh < s.KH; kh++) {
        for (int kw = 0; kw < s.KW; kw++) {
            vf acc = vsplat(0.0f);
            float tail = 0.0f;
            for (int n = 0; n < s.N; n++) {
                const float *Xc = X + ((size_t)n * s.C + c) * s.H * s.W;
                const float *dYo = dY + ((size_t)n * s.O + o) * s.OH * s.OW;
                for (int y = 0; y < s.OH; y++) {
                    for (int xv = 0; xv < nvec; xv++)
                        acc += vload(dYo + y * s.OW + xv * VL) * vload(Xc + (y + kh) * s.W + xv * VL + kw);
                    for (int x = nvec * VL; x < s.OW; x++) tail += Xc[(y + kh) * s.W + x + kw] * dYo[y * s.OW + x];
                }
            }
            dK[(((size_t)o * s.C + c) * s.KH + kh) * s.KW + kw] = vsum(acc) + tail;
        }
    }
}

// Output channels per block of the kernel gradient: 4 for 3-wide kernels, 2 for 5-wide (12 and
// 10 accumulators), 1 for any other width.
static int kernel_grad_channels(int KW) { return KW == 3 ? 4 : KW == 5 ? 2 : 1; }

// Item (block b of output channels, input channel c) of the kernel gradient; see forward_item.
static __attribute__((noinline)) void kernel_grad_item(float *dK, const float *X, const float *dY, conv_shape s,
                                                       int b, int c) {
    const int OB = kernel_grad_channels(s.KW), o0 = b * OB, count = s.O - o0 < OB ? s.O - o0 : OB;
    if (s.KW == 3) {
        const conv_shape s3 = with_kernel(s, s.KH, 3);
        if (count == 4) kernel_grad_block(dK, X, dY, s3, o0, 4, c);
        else if (count == 3) kernel_grad_block(dK, X, dY, s3, o0, 3, c);
        else if (count == 2) kernel_grad_block(dK, X, dY, s3, o0, 2, c);
        else kernel_grad_block(dK, X, dY, s3, o0, 1, c);
    } else if (s.KW == 5) {
        const conv_shape s5 = with_kernel(s, s.KH, 5);
        if (count == 2) kernel_grad_block(dK, X, dY, s5, o0, 2, c);
        else kernel_grad_block(dK, X, dY, s5, o0, 1, c);
    } else {
        kernel_grad_pair_any(dK, X, dY, s, o0, c);
    }
}

static void conv_backward_kernel_simd(float *dK, const float *X, const float *dY, conv_shape s) {
    const int OB = kernel_grad_channels(s.KW), blocks = (s.O + OB - 1) / OB;
    CK_PARALLEL_FOR(i, blocks * s.C, conv_flops(s), kernel_grad_item(dK, X, dY, s, i / s.C, i % s.C));
}

// ================================ SIMD: input gradient =========================================

// Read in place of a dY row that lies outside the plane (stride 0: the same zeros for every o).
static const float zero_row[VL];

// v moved up by t lanes (0 ≤ t < VL): *lo gets lanes t.. (zeros below), *hi the t lanes pushed
// out at the top (in its lanes 0 ..< t, zeros above).
FORCE_INLINE void shift_lanes(vf v, const int t, vf *lo, vf *hi) {
    const vf z = vsplat(0.0f);
    switch (t) {
    case 1: *lo = __builtin_shufflevector(z, v, 0, 8, 9, 10, 11, 12, 13, 14);
            *hi = __builtin_shufflevector(v, z, 7, 8, 8, 8, 8, 8, 8, 8); break;
    case 2: *lo = __builtin_shufflevector(z, v, 0, 0, 8, 9, 10, 11, 12, 13);
            *hi = __builtin_shufflevector(v, z, 6, 7, 8, 8, 8, 8, 8, 8); break;
    case 3: *lo = __builtin_shufflevector(z, v, 0, 0, 0, 8, 9, 10, 11, 12);
            *hi = __builtin_shufflevector(v, z, 5, 6, 7, 8, 8, 8, 8, 8); break;
    case 4: *lo = __builtin_shufflevector(z, v, 0, 0, 0, 0, 8, 9, 10, 11);
            *hi = __builtin_shufflevector(v, z, 4, 5, 6, 7, 8, 8, 8, 8); break;
    case 5: *lo = __builtin_shufflevector(z, v, 0, 0, 0, 0, 0, 8, 9, 10);
            *hi = __builtin_shufflevector(v, z, 3, 4, 5, 6, 7, 8, 8, 8); break;
    case 6: *lo = __builtin_shufflevector(z, v, 0, 0, 0, 0, 0, 0, 8, 9);
            *hi = __builtin_shufflevector(v, z, 2, 3, 4, 5, 6, 7, 8, 8); break;
    case 7: *lo = __builtin_shufflevector(z, v, 0, 0, 0, 0, 0, 0, 0, 8);
            *hi = __builtin_shufflevector(v, z, 1, 2, 3, 4, 5, 6, 7, 8); break;
    default: *lo = v; *hi = z; break;
    }
}

// One register tile of the input gradient of dXc = dX[n,c]: rows j0 ..< j0+R of dX, taps
// kw0 ..< kw0+TW of every kernel row, and the VL columns of dY at x0:
//   acc[t][r] = sum over kh, o of K[o,c,kh,kw0+t] · dY[n,o,j0+r-kh, x0 ..< x0+VL)
// then added to dX[n,c,j0+r, x0+kw0+t ..]. Per (kh, o) the tile loads R dY vectors and TW
// weights for TW·R fused multiply-adds (TW·R ≤ 12, both constant); the adds into dX cost one
// read-modify-write per O·KH multiply-adds. A row j0+r-kh outside dY reads zeros (only in the
// first and last tiles of a plane). When `masked`, the vector is the row's last VL columns
// with the lanes an earlier vector covered zeroed, so they add nothing.
FORCE_INLINE void input_grad_tile(float *dXc, const float *dYn, const float *Kc, conv_shape s, int o0, int o1,
                                  int j0, int x0, int kw0, const int TW, const int R, const int masked, vi mask) {
    vf acc[12];
    for (int t = 0; t < TW * R; t++) acc[t] = vsplat(0.0f);
    const size_t plane = (size_t)s.OH * s.OW, kstride = (size_t)s.C * s.KH * s.KW;
    const int kh0 = j0 - s.OH + 1 > 0 ? j0 - s.OH + 1 : 0, kh1 = j0 + R - 1 < s.KH - 1 ? j0 + R - 1 : s.KH - 1;
    for (int kh = kh0; kh <= kh1; kh++) {
        const float *src[12];
        size_t step[12];
        for (int r = 0; r < R; r++) {
            const int y = j0 + r - kh;
            const int inside = y >= 0 && y < s.OH;
            src[r] = inside ? dYn + (size_t)o0 * plane + (size_t)y * s.OW + x0 : zero_row;
            step[r] = inside ? plane : 0;
        }
        const float *k = Kc + o0 * kstride + kh * s.KW + kw0;
        for (int o = o0; o < o1; o++) {
            vf w[12];
            for (int t = 0; t < TW; t++) w[t] = vsplat(k[(size_t)(o - o0) * kstride + t]);
            for (int r = 0; r < R; r++) {
                vf in = vload(src[r] + (size_t)(o - o0) * step[r]);
                if (masked) in = (vf)((vi)in & mask);
                for (int t = 0; t < TW; t++) acc[t * R + r] += w[t] * in;
            }
        }
    }
    // Tap t adds to columns x0+kw0+t ..: shifted by t lanes, the taps of a row sum to two vectors
    // at x0+kw0 and x0+kw0+VL, so the adds into dX overlap the previous tile's exactly (a
    // partial overlap would stall the load until the store reaches the cache). The second
    // vector is zero past the last tap; in the plane's last row it would reach past the plane,
    // so only the columns inside are added there.
    for (int r = 0; r < R; r++) {
        vf lo = acc[r], hi = vsplat(0.0f);
        for (int t = 1; t < TW; t++) {
            vf l, h;
            shift_lanes(acc[t * R + r], t, &l, &h);
            lo += l;
            hi += h;
        }
        float *p = dXc + (size_t)(j0 + r) * s.W + x0 + kw0;
        vstore(p, vload(p) + lo);
        if (TW == 1) continue;
        if (j0 + r < s.H - 1 || x0 + kw0 + 2 * VL <= s.W) {
            vstore(p + VL, vload(p + VL) + hi);
        } else {
            for (int l = 0; l < VL && x0 + kw0 + VL + l < s.W; l++) p[VL + l] += hi[l];
        }
    }
}

// Rows j0 ..< j0+R of dX[n,c]: every column vector of dY and group of TW taps.
FORCE_INLINE void input_grad_rows(float *dXc, const float *dYn, const float *Kc, conv_shape s, int j0,
                                  const int TW, const int R, int group, vi mask) {
    const int nvec = s.OW / VL;
    for (int o0 = 0; o0 < s.O; o0 += group) {
        const int o1 = o0 + group < s.O ? o0 + group : s.O;
        for (int xv = 0; xv < nvec; xv++)
            for (int kw0 = 0; kw0 < s.KW; kw0 += TW)
                input_grad_tile(dXc, dYn, Kc, s, o0, o1, j0, xv * VL, kw0, TW, R, 0, mask);
        for (int kw0 = 0; s.OW % VL != 0 && kw0 < s.KW; kw0 += TW)
            input_grad_tile(dXc, dYn, Kc, s, o0, o1, j0, s.OW - VL, kw0, TW, R, 1, mask);
    }
}

// Channels of dY per pass of a row tile: as many as keep the RT+KH-1 rows a tile reads from each
// within about half of L1 (16 KB), so every column vector and kernel row after the first finds
// them there. More passes cost one more read-modify-write of dX per tile.
static int input_grad_group(conv_shape s, int RT) {
    const int bytes = (int)sizeof(float) * (RT + s.KH - 1) * s.OW;
    const int group = (16 * 1024) / bytes;
    return group < 8 ? 8 : group;
}

// Plane dX[n,c]: zeroed, then in tiles of RT rows (TW·RT accumulators: 10 for 5-wide kernels,
// 12 for 3-wide, 8 otherwise). Each element of dX is summed over kh and o in registers, then
// over (column vector, tap group) in that order in memory, whatever the thread: a fixed order.
// Needs OW ≥ VL.
FORCE_INLINE void input_grad_plane(float *dX, const float *dY, const float *K, conv_shape s, int n, int c,
                                   const int TW, const int RT) {
    float *dXc = dX + ((size_t)n * s.C + c) * s.H * s.W;
    const float *dYn = dY + (size_t)n * s.O * s.OH * s.OW;
    const float *Kc = K + (size_t)c * s.KH * s.KW;
    memset(dXc, 0, sizeof(float) * s.H * s.W);
    const int group = input_grad_group(s, RT);
    const int rem = s.OW % VL;
    vi mask;  // lanes of the ragged last vector not covered by the full ones
    for (int l = 0; l < VL; l++) mask[l] = l >= VL - rem ? -1 : 0;
    int j0 = 0;
    for (; j0 + RT <= s.H; j0 += RT) input_grad_rows(dXc, dYn, Kc, s, j0, TW, RT, group, mask);
    // The rows left over (fewer than RT, a power of two) in tiles of RT/2, RT/4, ... 1 rows:
    // a constant R for each keeps the accumulators in registers.
    const int left = s.H - j0;
    if (RT > 4 && (left & 4)) { input_grad_rows(dXc, dYn, Kc, s, j0, TW, 4, group, mask); j0 += 4; }
    if (RT > 2 && (left & 2)) { input_grad_rows(dXc, dYn, Kc, s, j0, TW, 2, group, mask); j0 += 2; }
    if (RT > 1 && (left & 1)) input_grad_rows(dXc, dYn, Kc, s, j0, TW, 1, group, mask);
}

// Item (image n, input channel c) of the input gradient; see forward_item.
static __attribute__((noinline)) void input_grad_item(float *dX, const float *dY, const float *K, conv_shape s,
                                                      int n, int c) {
    if (s.OW < VL) input_grad_plane_direct(dX, dY, K, s, n, c, 1);
    else if (s.KH == 3 && s.KW == 3) input_grad_plane(dX, dY, K, with_kernel(s, 3, 3), n, c, 3, 4);
    else if (s.KH == 5 && s.KW == 5) input_grad_plane(dX, dY, K, with_kernel(s, 5, 5), n, c, 5, 2);
    else if (s.KW == 3) input_grad_plane(dX, dY, K, with_kernel(s, s.KH, 3), n, c, 3, 4);
    else if (s.KW == 5) input_grad_plane(dX, dY, K, with_kernel(s, s.KH, 5), n, c, 5, 2);
    else input_grad_plane(dX, dY, K, s, n, c, 1, 8);
}

static void conv_backward_input_simd(float *dX, const float *dY, const float *K, conv_shape s) {
    CK_PARALLEL_FOR(i, s.N * s.C, conv_flops(s), input_grad_item(dX, dY, K, s, i / s.C, i % s.C));
}

// ================================ padding and stride ===========================================
//
// Padding: the input is copied once into a zero-padded workspace and the kernels for an
// unpadded input run on it (for stride 1 the register-tiled ones above, unchanged). The input
// gradient of stride 1 is the valid one's over the padded plane, cropped. Stride > 1 has direct
// kernels: the SIMD ones run along the output channel axis, over K and dY copied channel-last
// (..., OP) with OP = O rounded up to a whole vector and the extra lanes zero, so every lane is
// one output channel, summed in the scalar variant's order.

static size_t padded_size(conv_shape s) { return (size_t)s.N * s.C * (s.H + 2 * s.PH) * (s.W + 2 * s.PW); }
static int channel_vectors(conv_shape s) { return (s.O + VL - 1) / VL; }
static size_t channel_last_kernel_size(conv_shape s) { return (size_t)s.C * s.KH * s.KW * channel_vectors(s) * VL; }
static size_t channel_last_output_size(conv_shape s) { return (size_t)s.N * s.OH * s.OW * channel_vectors(s) * VL; }

// The same convolution over X already padded: no padding left, the same OH and OW.
static conv_shape without_padding(conv_shape s) {
    s.H += 2 * s.PH;
    s.W += 2 * s.PW;
    s.PH = s.PW = 0;
    return s;
}

// Xp (N,C,H+2PH,W+2PW) = X (N,C,H,W) with a border of zeros. Memory-bound: one thread.
static void pad_input(float *Xp, const float *X, conv_shape s) {
    const int HP = s.H + 2 * s.PH, WP = s.W + 2 * s.PW;
    memset(Xp, 0, sizeof(float) * padded_size(s));
    for (size_t p = 0; p < (size_t)s.N * s.C; p++)
        for (int y = 0; y < s.H; y++)
            memcpy(Xp + (p * HP + y + s.PH) * WP + s.PW, X + (p * s.H + y) * s.W, sizeof(float) * s.W);
}

// dX (N,C,H,W) = the inside of dXp (N,C,H+2PH,W+2PW).
static void crop_input(float *dX, const float *dXp, conv_shape s) {
    const int HP = s.H + 2 * s.PH, WP = s.W + 2 * s.PW;
    for (size_t p = 0; p < (size_t)s.N * s.C; p++)
        for (int y = 0; y < s.H; y++)
            memcpy(dX + (p * s.H + y) * s.W, dXp + (p * HP + y + s.PH) * WP + s.PW, sizeof(float) * s.W);
}

// Kt (C,KH,KW,OP) = K (O,C,KH,KW) with the output channel last.
static void channel_last_kernel(float *Kt, const float *K, conv_shape s) {
    const int OP = channel_vectors(s) * VL, taps = s.C * s.KH * s.KW;
    for (int t = 0; t < taps; t++)
        for (int o = 0; o < OP; o++) Kt[(size_t)t * OP + o] = o < s.O ? K[(size_t)o * taps + t] : 0.0f;
}

// dYt (N,OH,OW,OP) = dY (N,O,OH,OW) with the output channel last.
static void channel_last_output(float *dYt, const float *dY, conv_shape s) {
    const int OP = channel_vectors(s) * VL, plane = s.OH * s.OW;
    for (int n = 0; n < s.N; n++)
        for (int p = 0; p < plane; p++)
            for (int o = 0; o < OP; o++)
                dYt[((size_t)n * plane + p) * OP + o] = o < s.O ? dY[((size_t)n * s.O + o) * plane + p] : 0.0f;
}

// Rows kh of K that reach padded row yy of the input gradient, kh0, kh0+SH, ... ≤ kh1: those with
// yy-kh a multiple of SH and (yy-kh)/SH an output row. Empty when kh0 > kh1.
static void taps_reaching(int yy, int K, int S, int OUT, int *k0, int *k1) {
    int lo = yy - (OUT - 1) * S;
    if (lo < 0) lo = 0;
    lo += ((yy - lo) % S);  // up to the next kh ≡ yy (mod S)
    *k0 = lo;
    *k1 = yy < K - 1 ? yy : K - 1;
}

// Scalar input gradient with any padding and stride, from the definition: dX[n,c,y,x] =
// sum over o, kh, kw of dY[n,o,(y+PH-kh)/SH,(x+PW-kw)/SW]·K[o,c,kh,kw] for the taps that land on
// an output, summed in that order. No workspace.
static void input_grad_plane_general_scalar(float *dX, const float *dY, const float *K, conv_shape s, int n, int c) {
    float *dXc = dX + ((size_t)n * s.C + c) * s.H * s.W;
    for (int y = 0; y < s.H; y++) {
        int kh0, kh1;
        taps_reaching(y + s.PH, s.KH, s.SH, s.OH, &kh0, &kh1);
        for (int x = 0; x < s.W; x++) {
            int kw0, kw1;
            taps_reaching(x + s.PW, s.KW, s.SW, s.OW, &kw0, &kw1);
            float sum = 0.0f;
            for (int o = 0; o < s.O; o++) {
                const float *dYo = dY + ((size_t)n * s.O + o) * s.OH * s.OW;
                const float *Ko = K + ((size_t)o * s.C + c) * s.KH * s.KW;
                for (int kh = kh0; kh <= kh1; kh += s.SH) {
                    const int oy = (y + s.PH - kh) / s.SH;
                    NO_VECTORIZE
                    for (int kw = kw0; kw <= kw1; kw += s.SW)
                        sum += dYo[oy * s.OW + (x + s.PW - kw) / s.SW] * Ko[kh * s.KW + kw];
                }
            }
            dXc[y * s.W + x] = sum;
        }
    }
}

// XT outputs (n, o0 ..< o0+VL, y, x0 ..< x0+XT) of a strided forward over an unpadded input, XT
// accumulators of VL channels: per tap one weight vector, XT broadcast inputs. Each lane is
// bias, then sum over c, kh, kw in that order, as forward_plane_scalar.
FORCE_INLINE void strided_forward_tile(float *Y, const float *X, const float *Kt, const float *B, ck_bias bias,
                                       conv_shape s, int n, int o0, int y, int x0, const int XT) {
    const int OP = channel_vectors(s) * VL, count = s.O - o0 < VL ? s.O - o0 : VL;
    vf acc[8];
    for (int t = 0; t < XT; t++) {
        acc[t] = vsplat(0.0f);
        for (int l = 0; l < count; l++) acc[t][l] = bias_at(B, bias, o0 + l, y, x0 + t, s.OH, s.OW);
    }
    for (int c = 0; c < s.C; c++) {
        for (int kh = 0; kh < s.KH; kh++) {
            const float *xrow = X + (((size_t)n * s.C + c) * s.H + (size_t)y * s.SH + kh) * s.W + (size_t)x0 * s.SW;
            const float *krow = Kt + ((size_t)c * s.KH + kh) * s.KW * OP + o0;
            for (int kw = 0; kw < s.KW; kw++) {
                const vf w = vload(krow + (size_t)kw * OP);
                for (int t = 0; t < XT; t++) acc[t] += vsplat(xrow[t * s.SW + kw]) * w;
            }
        }
    }
    for (int t = 0; t < XT; t++)
        for (int l = 0; l < count; l++) Y[(((size_t)n * s.O + o0 + l) * s.OH + y) * s.OW + x0 + t] = acc[t][l];
}

// Item (image n, block b of VL output channels) of the strided forward pass.
static __attribute__((noinline)) void strided_forward_item(float *Y, const float *X, const float *Kt, const float *B,
                                                           ck_bias bias, conv_shape s, int n, int b) {
    for (int y = 0; y < s.OH; y++) {
        int x0 = 0;
        for (; x0 + 8 <= s.OW; x0 += 8) strided_forward_tile(Y, X, Kt, B, bias, s, n, b * VL, y, x0, 8);
        for (; x0 < s.OW; x0++) strided_forward_tile(Y, X, Kt, B, bias, s, n, b * VL, y, x0, 1);
    }
}

// work: channel_last_kernel_size(s) floats.
static void strided_forward_simd(float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                                 conv_shape s, float *work) {
    channel_last_kernel(work, K, s);
    const int blocks = channel_vectors(s);
    CK_PARALLEL_FOR(i, s.N * blocks, conv_flops(s), strided_forward_item(Y, X, work, B, bias, s, i / blocks, i % blocks));
}

// Taps kw0 ..< kw0+KT of row kh of dK[o0 ..< o0+VL, c] over an unpadded input: each lane summed
// over n, y, x in that order, as kernel_grad_pair_scalar. One dY vector per output position
// serves the KT taps.
FORCE_INLINE void strided_kernel_grad_taps(float *dK, const float *X, const float *dYt, conv_shape s, int o0, int c,
                                           int kh, int kw0, const int KT) {
    const int OP = channel_vectors(s) * VL, count = s.O - o0 < VL ? s.O - o0 : VL;
    vf acc[4];
    for (int t = 0; t < KT; t++) acc[t] = vsplat(0.0f);
    for (int n = 0; n < s.N; n++) {
        for (int y = 0; y < s.OH; y++) {
            const float *xrow = X + (((size_t)n * s.C + c) * s.H + (size_t)y * s.SH + kh) * s.W + kw0;
            const float *drow = dYt + (((size_t)n * s.OH + y) * s.OW) * OP + o0;
            for (int x = 0; x < s.OW; x++) {
                const vf d = vload(drow + (size_t)x * OP);
                for (int t = 0; t < KT; t++) acc[t] += vsplat(xrow[x * s.SW + t]) * d;
            }
        }
    }
    for (int t = 0; t < KT; t++)
        for (int l = 0; l < count; l++) dK[(((size_t)(o0 + l) * s.C + c) * s.KH + kh) * s.KW + kw0 + t] = acc[t][l];
}

// Item (block b of VL output channels, input channel c) of the strided kernel gradient.
static __attribute__((noinline)) void strided_kernel_grad_item(float *dK, const float *X, const float *dYt,
                                                               conv_shape s, int b, int c) {
    for (int kh = 0; kh < s.KH; kh++) {
        int kw0 = 0;
        for (; kw0 + 4 <= s.KW; kw0 += 4) strided_kernel_grad_taps(dK, X, dYt, s, b * VL, c, kh, kw0, 4);
        switch (s.KW - kw0) {
        case 3: strided_kernel_grad_taps(dK, X, dYt, s, b * VL, c, kh, kw0, 3); break;
        case 2: strided_kernel_grad_taps(dK, X, dYt, s, b * VL, c, kh, kw0, 2); break;
        case 1: strided_kernel_grad_taps(dK, X, dYt, s, b * VL, c, kh, kw0, 1); break;
        default: break;
        }
    }
}

// work: channel_last_output_size(s) floats.
static void strided_backward_kernel_simd(float *dK, const float *X, const float *dY, conv_shape s, float *work) {
    channel_last_output(work, dY, s);
    const int blocks = channel_vectors(s);
    CK_PARALLEL_FOR(i, blocks * s.C, conv_flops(s), strided_kernel_grad_item(dK, X, work, s, i / s.C, i % s.C));
}

// Plane dX[n,c] for any padding and stride, as input_grad_plane_general_scalar but each element
// a dot product along the output channels: vectors summed over kh, kw, channel vector in that
// order, then across lanes.
static __attribute__((noinline)) void strided_input_grad_item(float *dX, const float *dYt, const float *Kt,
                                                              conv_shape s, int n, int c) {
    const int OP = channel_vectors(s) * VL;
    float *dXc = dX + ((size_t)n * s.C + c) * s.H * s.W;
    for (int y = 0; y < s.H; y++) {
        int kh0, kh1;
        taps_reaching(y + s.PH, s.KH, s.SH, s.OH, &kh0, &kh1);
        for (int x = 0; x < s.W; x++) {
            int kw0, kw1;
            taps_reaching(x + s.PW, s.KW, s.SW, s.OW, &kw0, &kw1);
            vf acc = vsplat(0.0f);
            for (int kh = kh0; kh <= kh1; kh += s.SH) {
                const int oy = (y + s.PH - kh) / s.SH;
                for (int kw = kw0; kw <= kw1; kw += s.SW) {
                    const float *d = dYt + (((size_t)n * s.OH + oy) * s.OW + (x + s.PW - kw) / s.SW) * OP;
                    const float *k = Kt + (((size_t)c * s.KH + kh) * s.KW + kw) * OP;
                    for (int v = 0; v < OP; v += VL) acc += vload(d + v) * vload(k + v);
                }
            }
            dXc[y * s.W + x] = vsum(acc);
        }
    }
}

// work: channel_last_kernel_size(s) + channel_last_output_size(s) floats.
static void strided_backward_input_simd(float *dX, const float *dY, const float *K, conv_shape s, float *work) {
    float *Kt = work, *dYt = work + channel_last_kernel_size(s);
    channel_last_kernel(Kt, K, s);
    channel_last_output(dYt, dY, s);
    CK_PARALLEL_FOR(i, s.N * s.C, conv_flops(s), strided_input_grad_item(dX, dYt, Kt, s, i / s.C, i % s.C));
}

// ================================ public entry points ===========================================

// Valid, stride 1.
static void conv_forward_valid(ck_variant v, float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                               conv_shape s) {
    if (v == CK_SIMD) conv_forward_simd(Y, X, K, B, bias, s);
    else conv_forward_scalar(Y, X, K, B, bias, s);
}

void ck_conv2d_forward(ck_variant v, float *Y, const float *X, const float *K, const float *B,
                       ck_bias bias, int N, int C, int H, int W, int O, int KH, int KW) {
    conv_forward_valid(v, Y, X, K, B, bias, conv_shape_of(N, C, H, W, O, KH, KW));
}

void ck_conv2d_backward_kernel(ck_variant v, float *dK, const float *X, const float *dY,
                               int N, int C, int H, int W, int O, int KH, int KW) {
    const conv_shape s = conv_shape_of(N, C, H, W, O, KH, KW);
    if (v == CK_SIMD) conv_backward_kernel_simd(dK, X, dY, s);
    else conv_backward_kernel_scalar(dK, X, dY, s);
}

void ck_conv2d_backward_bias(float *dB, const float *dY, ck_bias bias, int N, int O, int OH, int OW) {
    const size_t plane = (size_t)OH * OW;
    if (bias == CK_BIAS_CHANNEL) {
        // Eight running sums per channel rather than one: a single chain is bound by the add
        // latency (LeNet's first layer sums 37 000 values per channel per batch).
        for (int o = 0; o < O; o++) {
            vf acc = vsplat(0.0f);
            float tail = 0.0f;
            const size_t nvec = plane / VL;
            for (int n = 0; n < N; n++) {
                const float *dYo = dY + ((size_t)n * O + o) * plane;
                for (size_t v = 0; v < nvec; v++) acc += vload(dYo + v * VL);
                for (size_t i = nvec * VL; i < plane; i++) tail += dYo[i];
            }
            dB[o] = vsum(acc) + tail;
        }
    } else if (bias == CK_BIAS_UNTIED) {
        memcpy(dB, dY, sizeof(float) * O * plane);
        for (int n = 1; n < N; n++) {
            const float *dYn = dY + (size_t)n * O * plane;
            #pragma omp simd
            for (size_t i = 0; i < O * plane; i++) dB[i] += dYn[i];
        }
    }
}

// The input gradient scatters straight into dX: no workspace.
size_t ck_conv2d_backward_input_work_size(int N, int C, int H, int W, int O, int KH, int KW) {
    (void)N, (void)C, (void)H, (void)W, (void)O, (void)KH, (void)KW;
    return 0;
}

void ck_conv2d_backward_input(ck_variant v, float *dX, const float *dY, const float *K, float *work,
                              int N, int C, int H, int W, int O, int KH, int KW) {
    (void)work;
    const conv_shape s = conv_shape_of(N, C, H, W, O, KH, KW);
    if (v == CK_SIMD) conv_backward_input_simd(dX, dY, K, s);
    else conv_backward_input_scalar(dX, dY, K, s);
}

// ---- any padding and stride ----

size_t ck_conv2d_padded_forward_work_size(ck_conv2d_geometry g) {
    const conv_shape s = conv_shape_from(g);
    return (is_padded(s) ? padded_size(s) : 0) + (is_strided(s) ? channel_last_kernel_size(s) : 0);
}

void ck_conv2d_padded_forward(ck_variant v, float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                              float *work, ck_conv2d_geometry g) {
    conv_shape s = conv_shape_from(g);
    if (is_padded(s)) {
        pad_input(work, X, s);
        X = work;
        work += padded_size(s);
        s = without_padding(s);
    }
    if (!is_strided(s)) conv_forward_valid(v, Y, X, K, B, bias, s);
    else if (v == CK_SIMD) strided_forward_simd(Y, X, K, B, bias, s, work);
    else conv_forward_scalar(Y, X, K, B, bias, s);
}

size_t ck_conv2d_padded_backward_kernel_work_size(ck_conv2d_geometry g) {
    const conv_shape s = conv_shape_from(g);
    return (is_padded(s) ? padded_size(s) : 0) + (is_strided(s) ? channel_last_output_size(s) : 0);
}

void ck_conv2d_padded_backward_kernel(ck_variant v, float *dK, const float *X, const float *dY, float *work,
                                      ck_conv2d_geometry g) {
    conv_shape s = conv_shape_from(g);
    if (is_padded(s)) {
        pad_input(work, X, s);
        X = work;
        work += padded_size(s);
        s = without_padding(s);
    }
    if (v != CK_SIMD) conv_backward_kernel_scalar(dK, X, dY, s);
    else if (!is_strided(s)) conv_backward_kernel_simd(dK, X, dY, s);
    else strided_backward_kernel_simd(dK, X, dY, s, work);
}

size_t ck_conv2d_padded_backward_input_work_size(ck_conv2d_geometry g) {
    const conv_shape s = conv_shape_from(g);
    if (is_strided(s)) return channel_last_kernel_size(s) + channel_last_output_size(s);
    return is_padded(s) ? padded_size(s) : 0;
}

void ck_conv2d_padded_backward_input(ck_variant v, float *dX, const float *dY, const float *K, float *work,
                                     ck_conv2d_geometry g) {
    const conv_shape s = conv_shape_from(g);
    if (v != CK_SIMD && (is_padded(s) || is_strided(s))) {
        CK_PARALLEL_FOR(i, s.N * s.C, conv_flops(s), input_grad_plane_general_scalar(dX, dY, K, s, i / s.C, i % s.C));
    } else if (is_strided(s)) {
        strided_backward_input_simd(dX, dY, K, s, work);
    } else if (is_padded(s)) {
        // The valid input gradient of the padded plane, then its inside: the border is the
        // gradient of the zeros, and dropped.
        conv_backward_input_simd(work, dY, K, without_padding(s));
        crop_input(dX, work, s);
    } else if (v == CK_SIMD) {
        conv_backward_input_simd(dX, dY, K, s);
    } else {
        conv_backward_input_scalar(dX, dY, K, s);
    }
}

// ================================ single planes =================================================

void ck_correlate_valid(ck_variant v, float *out, const float *in, const float *k,
                        int H, int W, int KH, int KW) {
    conv_forward_valid(v, out, in, k, NULL, CK_BIAS_NONE, conv_shape_of(1, 1, H, W, 1, KH, KW));
}

// The padded plane (H+2KH-2, W+2KW-2), then room for a rotated kernel (KH,KW).
size_t ck_correlate_full_work_size(int H, int W, int KH, int KW) {
    return (size_t)(H + 2 * (KH - 1)) * (W + 2 * (KW - 1)) + (size_t)KH * KW;
}

// Full correlation of one plane with kt: the plane zero-padded by KH-1 rows and KW-1 columns on
// every side, then a valid correlation. With one channel in and out, the scatter of the input
// gradient would do one read-modify-write per multiply-add; the padded copy is cheaper.
static void correlate_full_with(ck_variant v, float *out, const float *in, const float *kt, float *work,
                                int H, int W, int KH, int KW) {
    const int PH = H + 2 * (KH - 1), PW = W + 2 * (KW - 1);
    float *P = work;
    memset(P, 0, sizeof(float) * PH * PW);
    for (int y = 0; y < H; y++) memcpy(P + (size_t)(y + KH - 1) * PW + KW - 1, in + (size_t)y * W, sizeof(float) * W);
    conv_forward_valid(v, out, P, kt, NULL, CK_BIAS_NONE, conv_shape_of(1, 1, PH, PW, 1, KH, KW));
}

void ck_correlate_full(ck_variant v, float *out, const float *in, const float *k, float *work,
                       int H, int W, int KH, int KW) {
    correlate_full_with(v, out, in, k, work, H, W, KH, KW);
}

void ck_convolve_full(ck_variant v, float *out, const float *in, const float *k, float *work,
                      int H, int W, int KH, int KW) {
    float *kr = work + (size_t)(H + 2 * (KH - 1)) * (W + 2 * (KW - 1));  // rot180(k)
    for (int t = 0; t < KH * KW; t++) kr[t] = k[KH * KW - 1 - t];
    correlate_full_with(v, out, in, kr, work, H, W, KH, KW);
}
