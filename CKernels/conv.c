// 2-D correlation and the convolutional layer's forward and backward passes.
//
// Everything reduces to one batched valid cross-correlation, conv_forward:
// - the layer forward is that correlation plus a bias;
// - a full correlation is a valid one over the input zero-padded by KH-1, KW-1 on each side;
// - the input gradient is a full convolution, i.e. a full correlation with the kernel rotated
//   by 180°, channels transposed: dX[n,c] = sum_o pad(dY[n,o]) ⋆ rot180(K[o,c]).
// The kernel gradient dK[o,c] = sum_n X[n,c] ⋆ dY[n,o] has a tiny output and its own loop.
#include "CKernels.h"
#include "vec.h"

// ================================ scalar variants ==============================================

static float bias_at(const float *B, ck_bias bias, int o, int y, int x, int OH, int OW) {
    switch (bias) {
    case CK_BIAS_CHANNEL: return B[o];
    case CK_BIAS_UNTIED: return B[((size_t)o * OH + y) * OW + x];
    default: return 0.0f;
    }
}

// X (N,C,H,W), K (O,C,KH,KW), Y (N,O,OH,OW); each element summed over c, kh, kw in that order.
static void conv_forward_scalar(float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                                int N, int C, int H, int W, int O, int KH, int KW) {
    const int OH = H - KH + 1, OW = W - KW + 1;
    const double flops = 2.0 * N * O * OH * OW * C * KH * KW;
    #pragma omp parallel for collapse(2) schedule(static) if (flops >= CK_PARALLEL_MIN_FLOPS)
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < O; o++) {
            float *Yno = Y + ((size_t)n * O + o) * OH * OW;
            for (int y = 0; y < OH; y++) {
                NO_VECTORIZE
                for (int x = 0; x < OW; x++) {
                    float s = bias_at(B, bias, o, y, x, OH, OW);
                    for (int c = 0; c < C; c++) {
                        const float *Xc = X + ((size_t)n * C + c) * H * W;
                        const float *Kc = K + ((size_t)o * C + c) * KH * KW;
                        NO_VECTORIZE
                        for (int kh = 0; kh < KH; kh++) {
                            NO_VECTORIZE
                            for (int kw = 0; kw < KW; kw++) {
                                s += Xc[(y + kh) * W + x + kw] * Kc[kh * KW + kw];
                            }
                        }
                    }
                    Yno[y * OW + x] = s;
                }
            }
        }
    }
}

static void conv_backward_kernel_scalar(float *dK, const float *X, const float *dY,
                                        int N, int C, int H, int W, int O, int KH, int KW) {
    const int OH = H - KH + 1, OW = W - KW + 1;
    const double flops = 2.0 * N * O * OH * OW * C * KH * KW;
    #pragma omp parallel for collapse(2) schedule(static) if (flops >= CK_PARALLEL_MIN_FLOPS)
    for (int o = 0; o < O; o++) {
        for (int c = 0; c < C; c++) {
            for (int kh = 0; kh < KH; kh++) {
                for (int kw = 0; kw < KW; kw++) {
                    float s = 0.0f;
                    for (int n = 0; n < N; n++) {
                        const float *Xc = X + ((size_t)n * C + c) * H * W;
                        const float *dYo = dY + ((size_t)n * O + o) * OH * OW;
                        for (int y = 0; y < OH; y++) {
                            NO_VECTORIZE
                            for (int x = 0; x < OW; x++) {
                                s += Xc[(y + kh) * W + x + kw] * dYo[y * OW + x];
                            }
                        }
                    }
                    dK[(((size_t)o * C + c) * KH + kh) * KW + kw] = s;
                }
            }
        }
    }
}

// ================================ SIMD variants =================================================

// One register tile of the forward correlation: OB output channels × R output rows × V vectors
// of VL columns, starting at output channel o0, row y0, column x0. Called with constant OB, R, V
// (OB·R·V ≤ 12), so after inlining the accumulators live in registers: per kernel tap the tile
// loads R·V input vectors and OB broadcast weights for OB·R·V fused multiply-adds. AVX2 has 16
// vector registers: 12 accumulators, the inputs of one tap and a weight still fit.
FORCE_INLINE void conv_tile(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                            int o0, int y0, int x0, const int OB, const int R, const int V,
                            int C, int H, int W, int OH, int OW, int KH, int KW) {
    vf acc[12];
    for (int ob = 0; ob < OB; ob++) {
        for (int r = 0; r < R; r++) {
            for (int v = 0; v < V; v++) {
                const int o = o0 + ob, y = y0 + r, x = x0 + v * VL;
                vf a;
                if (bias == CK_BIAS_CHANNEL) a = vsplat(B[o]);
                else if (bias == CK_BIAS_UNTIED) a = vload(B + ((size_t)o * OH + y) * OW + x);
                else a = vsplat(0.0f);
                acc[(ob * R + r) * V + v] = a;
            }
        }
    }
    const size_t kstride = (size_t)C * KH * KW;  // from K[o,c] to K[o+1,c]
    for (int c = 0; c < C; c++) {
        const float *Xc = Xn + (size_t)c * H * W + (size_t)y0 * W + x0;
        const float *Kc = K + ((size_t)o0 * C + c) * KH * KW;
        for (int kh = 0; kh < KH; kh++) {
            for (int kw = 0; kw < KW; kw++) {
                vf in[12];
                for (int r = 0; r < R; r++)
                    for (int v = 0; v < V; v++)
                        in[r * V + v] = vload(Xc + (size_t)(r + kh) * W + kw + v * VL);
                for (int ob = 0; ob < OB; ob++) {
                    const vf w = vsplat(Kc[ob * kstride + kh * KW + kw]);
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
                vstore(Yn + ((size_t)(o0 + ob) * OH + y0 + r) * OW + x0 + v * VL, acc[(ob * R + r) * V + v]);
}

#define TILE(OB, R, V) \
    conv_tile(Yn, Xn, K, B, bias, o0, y0, x0, OB, R, V, C, H, W, OH, OW, KH, KW)

// Every output of OB channels with tiles of R rows × V vectors (needs OH ≥ R, OW ≥ V·VL). Ragged
// edges are not done element by element: the last row tile moves up to end at OH and the last
// column tile (of 1 or 2 vectors) moves left to end at OW, recomputing a few outputs. Each
// output is summed in the same order by every tile that covers it, so the repeats write equal
// values and the result is still independent of tiling and threads.
FORCE_INLINE void conv_sweep(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                             int o0, const int OB, const int R, const int V,
                             int C, int H, int W, int OH, int OW, int KH, int KW) {
    const int full = OW / (V * VL) * (V * VL);  // columns covered by whole tiles
    for (int yi = 0; yi < OH; yi += R) {
        const int y0 = yi + R <= OH ? yi : OH - R;
        for (int x0 = 0; x0 < full; x0 += V * VL) TILE(OB, R, V);
    }
    const int rem = OW - full;
    if (rem == 0) return;
    // The ragged strip: vr ≤ V vectors wide (and full ≥ V·VL, so the moved tile fits), with
    // taller tiles when it is one vector wide, to keep OB·R·V accumulators.
    const int vr = (rem + VL - 1) / VL, x0 = OW - vr * VL;
    if (vr == 1 && OH >= R * V) {
        for (int yi = 0; yi < OH; yi += R * V) {
            const int y0 = yi + R * V <= OH ? yi : OH - R * V;
            TILE(OB, R * V, 1);
        }
    } else if (vr == 1) {
        for (int yi = 0; yi < OH; yi += R) {
            const int y0 = yi + R <= OH ? yi : OH - R;
            TILE(OB, R, 1);
        }
    } else if (V >= 2 && vr == 2) {
        for (int yi = 0; yi < OH; yi += R) {
            const int y0 = yi + R <= OH ? yi : OH - R;
            TILE(OB, R, 2);
        }
    } else if (V >= 3) {  // vr == 3: more than two vectors left, a whole tile moved left
        for (int yi = 0; yi < OH; yi += R) {
            const int y0 = yi + R <= OH ? yi : OH - R;
            TILE(OB, R, 3);
        }
    }
}

#define SWEEP(OB, R, V) conv_sweep(Yn, Xn, K, B, bias, o0, OB, R, V, C, H, W, OH, OW, KH, KW)

// Output channels o0 ..< o0+OB (OB is 4 or 1) of one image. Tile shapes keep 8 to 12
// accumulators (FMA latency 4 × 2 pipes needs 8 in flight): wide rows take 3 vectors, narrow
// ones stack rows instead; a single channel stacks 4 rows. Planes narrower than one vector, or
// shorter than a tile, are summed one element at a time.
FORCE_INLINE void conv_block(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                             int o0, const int OB, int C, int H, int W, int OH, int OW, int KH, int KW) {
    const int V = OW >= 3 * VL ? 3 : OW >= 2 * VL ? 2 : OW >= VL ? 1 : 0;
    int done = 1;
    if (OB == 4) {
        if (V == 3) SWEEP(4, 1, 3);
        else if (V == 2) SWEEP(4, 1, 2);
        else if (V == 1 && OH >= 3) SWEEP(4, 3, 1);
        else if (V == 1) SWEEP(4, 1, 1);
        else done = 0;
    } else {
        if (V == 3 && OH >= 4) SWEEP(1, 4, 3);
        else if (V == 2 && OH >= 6) SWEEP(1, 6, 2);
        else if (V == 1 && OH >= 8) SWEEP(1, 8, 1);
        else if (V == 3) SWEEP(1, 1, 3);
        else if (V == 2) SWEEP(1, 1, 2);
        else if (V == 1) SWEEP(1, 1, 1);
        else done = 0;
    }
    if (done) return;
    for (int ob = 0; ob < OB; ob++) {
        const int o = o0 + ob;
        for (int y = 0; y < OH; y++) {
            for (int x = 0; x < OW; x++) {
                float s = bias_at(B, bias, o, y, x, OH, OW);
                for (int c = 0; c < C; c++) {
                    const float *Xc = Xn + (size_t)c * H * W;
                    const float *Kc = K + ((size_t)o * C + c) * KH * KW;
                    for (int kh = 0; kh < KH; kh++)
                        for (int kw = 0; kw < KW; kw++)
                            s += Xc[(y + kh) * W + x + kw] * Kc[kh * KW + kw];
                }
                Yn[((size_t)o * OH + y) * OW + x] = s;
            }
        }
    }
}

// One block of up to 4 output channels of one image.
FORCE_INLINE void conv_channels(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                                int o0, int O, int C, int H, int W, int OH, int OW, int KH, int KW) {
    if (o0 + 4 <= O) {
        conv_block(Yn, Xn, K, B, bias, o0, 4, C, H, W, OH, OW, KH, KW);
    } else {
        for (int o = o0; o < O; o++) conv_block(Yn, Xn, K, B, bias, o, 1, C, H, W, OH, OW, KH, KW);
    }
}

// Item (n, block b of 4 output channels) of the forward pass. Not inlined: it holds every
// tile shape for 3×3, 5×5 and other kernels, and is called from both loops of CK_PARALLEL_FOR.
static __attribute__((noinline)) void conv_forward_item(float *Y, const float *X, const float *K, const float *B,
                                                        ck_bias bias, int n, int b, int C, int H, int W, int O,
                                                        int KH, int KW) {
    const int OH = H - KH + 1, OW = W - KW + 1;
    float *Yn = Y + (size_t)n * O * OH * OW;
    const float *Xn = X + (size_t)n * C * H * W;
    // 3×3 and 5×5 kernels get their own copies with the tap loops fully unrolled: with one
    // input channel a tile has only 9 taps, and loop overhead would cost a third.
    if (KH == 3 && KW == 3) conv_channels(Yn, Xn, K, B, bias, 4 * b, O, C, H, W, OH, OW, 3, 3);
    else if (KH == 5 && KW == 5) conv_channels(Yn, Xn, K, B, bias, 4 * b, O, C, H, W, OH, OW, 5, 5);
    else conv_channels(Yn, Xn, K, B, bias, 4 * b, O, C, H, W, OH, OW, KH, KW);
}

static void conv_forward_simd(float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                              int N, int C, int H, int W, int O, int KH, int KW) {
    const int OH = H - KH + 1, OW = W - KW + 1;
    const int blocks = (O + 3) / 4;
    const double flops = 2.0 * N * O * OH * OW * C * KH * KW;
    CK_PARALLEL_FOR(i, N * blocks, flops,
                    conv_forward_item(Y, X, K, B, bias, i / blocks, i % blocks, C, H, W, O, KH, KW));
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

// Row kh of dK[o,c] for OB output channels o0 ..< o0+OB and one input channel c, KW taps, OB and
// KW known at compile time (OB·KW ≤ 12): one vector accumulator per (channel, tap). Per step
// the tile loads KW shifted input vectors and OB dY vectors for OB·KW fused multiply-adds, so
// input loads are shared by the channels and dY loads by the taps. A ragged last vector of a
// row is the row's last VL columns with the already counted lanes of dY zeroed. Each dK element
// is summed over n, y and column vectors in that order, then across lanes: a fixed order.
FORCE_INLINE void kernel_grad_row(float *dK, const float *X, const float *dY, int o0, const int OB, int c,
                                  int kh, const int KW, int N, int C, int H, int W, int O, int KH) {
    const int OH = H - KH + 1, OW = W - KW + 1, nvec = OW / VL, rem = OW % VL;
    vi mask;  // lanes of the ragged last vector not yet covered by the full ones
    for (int l = 0; l < VL; l++) mask[l] = l >= VL - rem ? -1 : 0;
    vf acc[12];
    for (int t = 0; t < OB * KW; t++) acc[t] = vsplat(0.0f);
    for (int n = 0; n < N; n++) {
        const float *Xc = X + ((size_t)n * C + c) * H * W + (size_t)kh * W;
        const float *dYn = dY + ((size_t)n * O + o0) * OH * OW;
        for (int y = 0; y < OH; y++) {
            const float *xrow = Xc + (size_t)y * W, *drow = dYn + (size_t)y * OW;
            for (int xv = 0; xv < nvec; xv++)
                kernel_grad_step(acc, xrow, drow, xv * VL, OB, KW, (size_t)OH * OW, 0, mask);
            if (rem != 0 && nvec != 0)
                kernel_grad_step(acc, xrow, drow, OW - VL, OB, KW, (size_t)OH * OW, 1, mask);
        }
    }
    for (int ob = 0; ob < OB; ob++) {
        const int o = o0 + ob;
        for (int kw = 0; kw < KW; kw++) {
            float s = vsum(acc[ob * KW + kw]);
            if (nvec == 0) {  // rows narrower than a vector
                for (int n = 0; n < N; n++) {
                    const float *Xc = X + ((size_t)n * C + c) * H * W;
                    const float *dYo = dY + ((size_t)n * O + o) * OH * OW;
                    for (int y = 0; y < OH; y++)
                        for (int x = 0; x < OW; x++) s += Xc[(y + kh) * W + x + kw] * dYo[y * OW + x];
                }
            }
            dK[(((size_t)o * C + c) * KH + kh) * KW + kw] = s;
        }
    }
}

// All rows of dK for channels o0 ..< o0+count (count ≤ OBMAX) and input channel c.
FORCE_INLINE void kernel_grad_block(float *dK, const float *X, const float *dY, int o0, int count, const int OBMAX,
                                    int c, const int KW, int N, int C, int H, int W, int O, int KH) {
    for (int kh = 0; kh < KH; kh++) {
        if (count == OBMAX) kernel_grad_row(dK, X, dY, o0, OBMAX, c, kh, KW, N, C, H, W, O, KH);
        else if (OBMAX > 3 && count == 3) kernel_grad_row(dK, X, dY, o0, 3, c, kh, KW, N, C, H, W, O, KH);
        else if (OBMAX > 2 && count == 2) kernel_grad_row(dK, X, dY, o0, 2, c, kh, KW, N, C, H, W, O, KH);
        else kernel_grad_row(dK, X, dY, o0, 1, c, kh, KW, N, C, H, W, O, KH);
    }
}

// Any other kernel size: one tap at a time, a dot product over n, y, x with one accumulator.
static void kernel_grad_pair_any(float *dKoc, const float *X, const float *dY, int o, int c,
                                 int N, int C, int H, int W, int O, int KH, int KW) {
    const int OH = H - KH + 1, OW = W - KW + 1, nvec = OW / VL;
    for (int kh = 0; kh < KH; kh++) {
        for (int kw = 0; kw < KW; kw++) {
            vf acc = vsplat(0.0f);
            float tail = 0.0f;
            for (int n = 0; n < N; n++) {
                const float *Xc = X + ((size_t)n * C + c) * H * W;
                const float *dYo = dY + ((size_t)n * O + o) * OH * OW;
                for (int y = 0; y < OH; y++) {
                    for (int xv = 0; xv < nvec; xv++)
                        acc += vload(dYo + y * OW + xv * VL) * vload(Xc + (y + kh) * W + xv * VL + kw);
                    for (int x = nvec * VL; x < OW; x++)
                        tail += Xc[(y + kh) * W + x + kw] * dYo[y * OW + x];
                }
            }
            dKoc[kh * KW + kw] = vsum(acc) + tail;
        }
    }
}

// Item (block b of output channels, input channel c) of the kernel gradient; see conv_forward_item.
static __attribute__((noinline)) void kernel_grad_item(float *dK, const float *X, const float *dY, int b, int c,
                                                       int OB, int N, int C, int H, int W, int O, int KH, int KW) {
    const int o0 = b * OB, count = O - o0 < OB ? O - o0 : OB;
    if (KW == 3) {
        kernel_grad_block(dK, X, dY, o0, count, 4, c, 3, N, C, H, W, O, KH);
    } else if (KW == 5) {
        kernel_grad_block(dK, X, dY, o0, count, 2, c, 5, N, C, H, W, O, KH);
    } else {
        kernel_grad_pair_any(dK + ((size_t)o0 * C + c) * KH * KW, X, dY, o0, c, N, C, H, W, O, KH, KW);
    }
}

static void conv_backward_kernel_simd(float *dK, const float *X, const float *dY,
                                      int N, int C, int H, int W, int O, int KH, int KW) {
    const int OH = H - KH + 1, OW = W - KW + 1;
    const double flops = 2.0 * N * O * OH * OW * C * KH * KW;
    // Output channels per block: 4 for 3-wide kernels, 2 for 5-wide (12 and 10 accumulators).
    const int OB = KW == 3 ? 4 : KW == 5 ? 2 : 1;
    const int blocks = (O + OB - 1) / OB;
    CK_PARALLEL_FOR(i, blocks * C, flops,
                    kernel_grad_item(dK, X, dY, i / C, i % C, OB, N, C, H, W, O, KH, KW));
}

// ================================ public entry points ===========================================

static void conv_forward(ck_variant v, float *Y, const float *X, const float *K, const float *B,
                         ck_bias bias, int N, int C, int H, int W, int O, int KH, int KW) {
    if (v == CK_SIMD) conv_forward_simd(Y, X, K, B, bias, N, C, H, W, O, KH, KW);
    else conv_forward_scalar(Y, X, K, B, bias, N, C, H, W, O, KH, KW);
}

void ck_conv2d_forward(ck_variant v, float *Y, const float *X, const float *K, const float *B,
                       ck_bias bias, int N, int C, int H, int W, int O, int KH, int KW) {
    conv_forward(v, Y, X, K, B, bias, N, C, H, W, O, KH, KW);
}

void ck_conv2d_backward_kernel(ck_variant v, float *dK, const float *X, const float *dY,
                               int N, int C, int H, int W, int O, int KH, int KW) {
    if (v == CK_SIMD) conv_backward_kernel_simd(dK, X, dY, N, C, H, W, O, KH, KW);
    else conv_backward_kernel_scalar(dK, X, dY, N, C, H, W, O, KH, KW);
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

size_t ck_conv2d_backward_input_work_size(int N, int C, int O, int H, int W, int KH, int KW) {
    const size_t PH = (size_t)H + KH - 1, PW = (size_t)W + KW - 1;  // padded dY plane
    return (size_t)N * O * PH * PW + (size_t)C * O * KH * KW;
}

static void pad_plane(float *Pp, const float *dYp, int OH, int OW, int KH, int KW) {
    const int PH = OH + 2 * (KH - 1), PW = OW + 2 * (KW - 1);
    memset(Pp, 0, sizeof(float) * PH * PW);
    for (int y = 0; y < OH; y++)
        memcpy(Pp + (size_t)(y + KH - 1) * PW + KW - 1, dYp + (size_t)y * OW, sizeof(float) * OW);
}

// P (N,O,H+KH-1,W+KW-1) = dY (N,O,OH,OW) with KH-1 zero rows and KW-1 zero columns on every side.
static void pad_planes(float *P, const float *dY, int N, int O, int OH, int OW, int KH, int KW) {
    const int PH = OH + 2 * (KH - 1), PW = OW + 2 * (KW - 1);
    const double bytes = 4.0 * N * O * PH * PW;
    CK_PARALLEL_FOR(p, N * O, bytes, pad_plane(P + (size_t)p * PH * PW, dY + (size_t)p * OH * OW, OH, OW, KH, KW));
}

void ck_conv2d_backward_input(ck_variant v, float *dX, const float *dY, const float *K, float *work,
                              int N, int C, int H, int W, int O, int KH, int KW) {
    const int OH = H - KH + 1, OW = W - KW + 1;
    const int PH = H + KH - 1, PW = W + KW - 1;
    float *P = work;
    float *Kt = work + (size_t)N * O * PH * PW;  // (C,O,KH,KW): Kt[c,o] = rot180(K[o,c])
    pad_planes(P, dY, N, O, OH, OW, KH, KW);
    for (int o = 0; o < O; o++)
        for (int c = 0; c < C; c++)
            for (int t = 0; t < KH * KW; t++)
                Kt[((size_t)c * O + o) * KH * KW + t] = K[((size_t)o * C + c) * KH * KW + KH * KW - 1 - t];
    conv_forward(v, dX, P, Kt, NULL, CK_BIAS_NONE, N, O, PH, PW, C, KH, KW);
}

void ck_correlate_valid(ck_variant v, float *out, const float *in, const float *k,
                        int H, int W, int KH, int KW) {
    conv_forward(v, out, in, k, NULL, CK_BIAS_NONE, 1, 1, H, W, 1, KH, KW);
}

// Full correlation of one plane with kt: pad, then a valid correlation.
static void correlate_full_with(ck_variant v, float *out, const float *in, const float *kt, float *work,
                                int H, int W, int KH, int KW) {
    float *P = work;  // (H+2KH-2, W+2KW-2)
    pad_planes(P, in, 1, 1, H, W, KH, KW);
    conv_forward(v, out, P, kt, NULL, CK_BIAS_NONE, 1, 1, H + 2 * (KH - 1), W + 2 * (KW - 1), 1, KH, KW);
}

size_t ck_plane_full_work_size(int H, int W, int KH, int KW) {
    return (size_t)(H + 2 * (KH - 1)) * (W + 2 * (KW - 1)) + (size_t)KH * KW;
}

void ck_correlate_full(ck_variant v, float *out, const float *in, const float *k, float *work,
                       int H, int W, int KH, int KW) {
    correlate_full_with(v, out, in, k, work, H, W, KH, KW);
}

void ck_convolve_full(ck_variant v, float *out, const float *in, const float *k, float *work,
                      int H, int W, int KH, int KW) {
    const size_t pad = (size_t)(H + 2 * (KH - 1)) * (W + 2 * (KW - 1));
    float *kr = work + pad;  // rot180(k)
    for (int t = 0; t < KH * KW; t++) kr[t] = k[KH * KW - 1 - t];
    correlate_full_with(v, out, in, kr, work, H, W, KH, KW);
}
