// The convolution's SIMD forward pass over an unpadded input, stride 1: a batched valid
// cross-correlation Y[n,o] = B[o] + sum_c X[n,c] ⋆ K[o,c] in register tiles of output channels,
// rows and column vectors.
#include "conv_internal.h"

// One register tile of the forward correlation of image n (Yn, Xn): OB output channels × R output
// rows × V vectors of VL columns, starting at output channel o0, row y0, column x0. Called with
// constant OB, R, V (OB·R·V ≤ CK_TILE_MAX), so after inlining the accumulators live in registers: per
// kernel tap the tile loads R·V input vectors and OB broadcast weights for OB·R·V fused
// multiply-adds. AVX2 has 16 vector registers: 12 accumulators, the inputs of one tap and a
// weight still fit; AVX-512's 32 hold 24 with 6 inputs and a weight.
FORCE_INLINE void forward_tile(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                               ck_conv2d_geometry g, int o0, int y0, int x0, const int OB, const int R, const int V) {
    vf acc[CK_TILE_MAX];
    for (int ob = 0; ob < OB; ob++) {
        for (int r = 0; r < R; r++) {
            for (int v = 0; v < V; v++) {
                const int o = o0 + ob, y = y0 + r, x = x0 + v * VL;
                vf a;
                if (bias == CK_BIAS_CHANNEL) a = vsplat(B[o]);
                else if (bias == CK_BIAS_UNTIED) a = vload(B + ((size_t)o * g.OH + y) * g.OW + x);
                else a = vsplat(0.0f);
                acc[(ob * R + r) * V + v] = a;
            }
        }
    }
    const size_t kstride = (size_t)g.C * g.KH * g.KW;  // from K[o,c] to K[o+1,c]
    for (int c = 0; c < g.C; c++) {
        const float *Xc = Xn + (size_t)c * g.H * g.W + (size_t)y0 * g.W + x0;
        const float *Kc = K + ((size_t)o0 * g.C + c) * g.KH * g.KW;
        for (int kh = 0; kh < g.KH; kh++) {
            for (int kw = 0; kw < g.KW; kw++) {
                vf in[CK_TILE_MAX];
                for (int r = 0; r < R; r++)
                    for (int v = 0; v < V; v++)
                        in[r * V + v] = vload(Xc + (size_t)(r + kh) * g.W + kw + v * VL);
                for (int ob = 0; ob < OB; ob++) {
                    const vf w = vsplat(Kc[ob * kstride + kh * g.KW + kw]);
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
                vstore(Yn + ((size_t)(o0 + ob) * g.OH + y0 + r) * g.OW + x0 + v * VL, acc[(ob * R + r) * V + v]);
}

// Rows 0 ..< OH of columns x0 ..< x0 + V·VL in tiles of R rows; the last tile moves up to end
// at OH (needs OH ≥ R), recomputing a few rows.
FORCE_INLINE void forward_column(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                                 ck_conv2d_geometry g, int o0, int x0, const int OB, const int R, const int V) {
    for (int yi = 0; yi < g.OH; yi += R) {
        const int y0 = yi + R <= g.OH ? yi : g.OH - R;
        forward_tile(Yn, Xn, K, B, bias, g, o0, y0, x0, OB, R, V);
    }
}

// Every output of OB channels with tiles of R rows × V vectors (needs OH ≥ R, OW ≥ V·VL). Ragged
// edges are not done element by element: the last row tile moves up to end at OH and the last
// column tile (of 1 or 2 vectors) moves left to end at OW, recomputing a few outputs. Each
// output is summed in the same order by every tile that covers it, so the repeats write equal
// values and the result is still independent of tiling and threads.
FORCE_INLINE void forward_sweep(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                                ck_conv2d_geometry g, int o0, const int OB, const int R, const int V) {
    const int full = g.OW / (V * VL) * (V * VL);  // columns covered by whole tiles
    for (int x0 = 0; x0 < full; x0 += V * VL) forward_column(Yn, Xn, K, B, bias, g, o0, x0, OB, R, V);
    const int rem = g.OW - full;
    if (rem == 0) return;
    // The ragged strip: vr ≤ V vectors wide (and full ≥ V·VL, so the moved tile fits), with
    // taller tiles when it is one vector wide, to keep OB·R·V accumulators.
    const int vr = (rem + VL - 1) / VL, x0 = g.OW - vr * VL;
    if (vr == 1 && g.OH >= R * V) forward_column(Yn, Xn, K, B, bias, g, o0, x0, OB, R * V, 1);
    else if (vr == 1) forward_column(Yn, Xn, K, B, bias, g, o0, x0, OB, R, 1);
    else if (V >= 2 && vr == 2) forward_column(Yn, Xn, K, B, bias, g, o0, x0, OB, R, 2);
    else if (V >= 3) forward_column(Yn, Xn, K, B, bias, g, o0, x0, OB, R, 3);  // a whole tile moved left
}

// Planes narrower than one vector: a block of rows at a time, each output its own running sum
// (up to 32 independent multiply-add chains, where one chain per output waited on the FMA
// latency at every step). Each output is still summed over c, kh, kw in that order, from its
// bias: the same numbers as one element at a time.
static void forward_block_narrow(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                                 ck_conv2d_geometry g, int o0, int OB) {
    enum { CHAINS = 32 };
    const int R = CHAINS / g.OW;  // OW < VL ≤ 16, so at least 2 rows
    float acc[CHAINS];
    for (int ob = 0; ob < OB; ob++) {
        const int o = o0 + ob;
        for (int y0 = 0; y0 < g.OH; y0 += R) {
            const int rows = y0 + R <= g.OH ? R : g.OH - y0;
            for (int r = 0; r < rows; r++)
                for (int x = 0; x < g.OW; x++) acc[r * g.OW + x] = bias_at(B, bias, o, y0 + r, x, g.OH, g.OW);
            for (int c = 0; c < g.C; c++) {
                const float *Xc = Xn + (size_t)c * g.H * g.W;
                const float *Kc = K + ((size_t)o * g.C + c) * g.KH * g.KW;
                for (int kh = 0; kh < g.KH; kh++)
                    for (int kw = 0; kw < g.KW; kw++) {
                        const float k = Kc[kh * g.KW + kw];
                        for (int r = 0; r < rows; r++) {
                            const float *row = Xc + (size_t)(y0 + r + kh) * g.W + kw;
                            for (int x = 0; x < g.OW; x++) acc[r * g.OW + x] += row[x] * k;
                        }
                    }
            }
            for (int r = 0; r < rows; r++)
                for (int x = 0; x < g.OW; x++) Yn[((size_t)o * g.OH + y0 + r) * g.OW + x] = acc[r * g.OW + x];
        }
    }
}

// Output channels o0 ..< o0+OB (OB is 4 or 1) of one image. Tile shapes keep 8 to 12
// accumulators (FMA latency 4 × 2 pipes needs 8 in flight): wide rows take 3 vectors, narrow
// ones stack rows instead; a single channel stacks 4 rows.
FORCE_INLINE void forward_block(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                                ck_conv2d_geometry g, int o0, const int OB) {
    const int V = g.OW >= 3 * VL ? 3 : g.OW >= 2 * VL ? 2 : g.OW >= VL ? 1 : 0;
#if CK_VREGS == 32
    // One-vector rows (LeNet's second layer, 8 wide) stack 4 rows instead of 3: 16 accumulators
    // share each weight broadcast. Wider rows measured no faster with 24 (docs/kernels.md, "Bigger
    // tiles where there are 32 registers").
    if (OB == 4 && V == 1 && g.OH >= 4) { forward_sweep(Yn, Xn, K, B, bias, g, o0, 4, 4, 1); return; }
#endif
    if (OB == 4 && V == 3) forward_sweep(Yn, Xn, K, B, bias, g, o0, 4, 1, 3);
    else if (OB == 4 && V == 2) forward_sweep(Yn, Xn, K, B, bias, g, o0, 4, 1, 2);
    else if (OB == 4 && V == 1 && g.OH >= 3) forward_sweep(Yn, Xn, K, B, bias, g, o0, 4, 3, 1);
    else if (OB == 4 && V == 1) forward_sweep(Yn, Xn, K, B, bias, g, o0, 4, 1, 1);
    else if (OB == 1 && V == 3 && g.OH >= 4) forward_sweep(Yn, Xn, K, B, bias, g, o0, 1, 4, 3);
    else if (OB == 1 && V == 2 && g.OH >= 6) forward_sweep(Yn, Xn, K, B, bias, g, o0, 1, 6, 2);
    else if (OB == 1 && V == 1 && g.OH >= 8) forward_sweep(Yn, Xn, K, B, bias, g, o0, 1, 8, 1);
    else if (OB == 1 && V == 3) forward_sweep(Yn, Xn, K, B, bias, g, o0, 1, 1, 3);
    else if (OB == 1 && V == 2) forward_sweep(Yn, Xn, K, B, bias, g, o0, 1, 1, 2);
    else if (OB == 1 && V == 1) forward_sweep(Yn, Xn, K, B, bias, g, o0, 1, 1, 1);
    else forward_block_narrow(Yn, Xn, K, B, bias, g, o0, OB);
}

// Output channels 4b ..< 4b+4 of image n (fewer at the end, one at a time).
FORCE_INLINE void forward_channels(float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                                   ck_conv2d_geometry g, int n, int b) {
    float *Yn = Y + (size_t)n * g.O * g.OH * g.OW;
    const float *Xn = X + (size_t)n * g.C * g.H * g.W;
    const int o0 = 4 * b;
    if (o0 + 4 <= g.O) forward_block(Yn, Xn, K, B, bias, g, o0, 4);
    else for (int o = o0; o < g.O; o++) forward_block(Yn, Xn, K, B, bias, g, o, 1);
}

// Item (image n, block b of 4 output channels) of the forward pass. Not inlined: it holds every
// tile shape for 3×3, 5×5 and other kernels, and is called from both loops of CK_PARALLEL_FOR.
// 3×3 and 5×5 kernels get their own copies with the tap loops fully unrolled: with one input
// channel a tile has only 9 taps, and loop overhead would cost a third.
static __attribute__((noinline)) void forward_item(float *Y, const float *X, const float *K, const float *B,
                                                   ck_bias bias, ck_conv2d_geometry g, int n, int b) {
    if (g.KH == 3 && g.KW == 3) forward_channels(Y, X, K, B, bias, with_kernel(g, 3, 3), n, b);
    else if (g.KH == 5 && g.KW == 5) forward_channels(Y, X, K, B, bias, with_kernel(g, 5, 5), n, b);
    else forward_channels(Y, X, K, B, bias, g, n, b);
}

void conv_forward_simd(float *Y, const float *X, const float *K, const float *B, ck_bias bias, ck_conv2d_geometry g) {
    const int blocks = (g.O + 3) / 4;
    CK_PARALLEL_FOR(i, g.N * blocks, conv_flops(g), forward_item(Y, X, K, B, bias, g, i / blocks, i % blocks));
}
