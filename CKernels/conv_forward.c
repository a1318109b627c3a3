// The convolution's SIMD forward pass over an unpadded input, stride 1: a batched valid
// cross-correlation Y[n,o] = B[o] + sum_c X[n,c] ⋆ K[o,c] in register tiles of output channels ×
// flat positions, or of output channels × rows × vectors along them (along_rows,
// conv_internal.h); planes of fewer than one vector of positions, or narrower than 8, one
// running sum per output.
//
// Flat positions: output (y, x) is taken as q = y·W + x, a place in a plane as wide as the input,
// so tap (kh, kw) reads the input at q + kh·W + kw for every q, and VL consecutive q's are one
// vector load per tap however wide the rows are. The last KW-1 places of each such row are not
// outputs (x ≥ OW): they are computed and not stored, a waste of (KW-1)/W of the work, where
// vectors along each row would waste the ragged end of every row (a 24-wide row is a vector and
// a half of 16 lanes). q runs over [0, Q), Q = (OH-1)·W + OW: its last read is the plane's last
// element, so nothing past the input is read.
#include "conv_internal.h"
#include "planes.h"

// Q: the flat positions up to the last output.
static inline int flat_positions(ck_conv2d_geometry g) { return (g.OH - 1) * g.W + g.OW; }

// Flat positions q ..< q+VL, q = y·W + x (0 ≤ x < W), of a plane (OH,OW) run over at most
// VL/W + 2 rows (W ≥ 8 here): for each, the lanes lo ..< hi that are outputs, lane l at
// offset + l of the plane.
#define FLAT_SEGMENTS_MAX (VL / 8 + 2)
typedef struct { int count, lo[FLAT_SEGMENTS_MAX], hi[FLAT_SEGMENTS_MAX], offset[FLAT_SEGMENTS_MAX]; } flat_segments;

FORCE_INLINE flat_segments flat_segments_at(int y, int x, ck_conv2d_geometry g) {
    flat_segments s;
    s.count = 0;
    for (int start = -x; start < VL; start += g.W, y++) {  // lane `start` is row y's x = 0
        const int lo = start > 0 ? start : 0, hi = start + g.OW < VL ? start + g.OW : VL;
        if (lo >= hi) continue;
        s.lo[s.count] = lo;
        s.hi[s.count] = hi;
        s.offset[s.count] = y * g.OW - start;
        s.count++;
    }
    return s;
}

// One register tile of image n (Yn, Xn): OB output channels from o0 × V vectors of flat positions
// from q0. Called with constant OB and V (OB·V ≤ CK_TILE_MAX), so after inlining the
// accumulators live in registers: per kernel tap the tile loads V input vectors and broadcasts
// OB weights for OB·V fused multiply-adds. Each output is its bias, then the sum over c, kh, kw
// in that order, whatever tile computes it.
FORCE_INLINE void forward_tile(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                               ck_conv2d_geometry g, int o0, int q0, const int OB, const int V) {
    const size_t plane = (size_t)g.OH * g.OW;
    int row[CK_TILE_MAX], col[CK_TILE_MAX];  // where each vector starts: q0 + v·VL = row·W + col
    row[0] = q0 / g.W;
    col[0] = q0 - row[0] * g.W;
    for (int v = 1; v < V; v++) {
        row[v] = row[v - 1];
        col[v] = col[v - 1] + VL;
        while (col[v] >= g.W) { col[v] -= g.W; row[v]++; }
    }
    vf acc[CK_TILE_MAX];
    for (int v = 0; v < V; v++) {
        const flat_segments s = bias == CK_BIAS_UNTIED ? flat_segments_at(row[v], col[v], g) : (flat_segments){0};
        for (int ob = 0; ob < OB; ob++) {
            vf a = vsplat(bias == CK_BIAS_CHANNEL ? B[o0 + ob] : 0.0f);
            for (int i = 0; i < s.count; i++) a = vload_lanes(a, B + (o0 + ob) * plane + s.offset[i], s.lo[i], s.hi[i]);
            acc[ob * V + v] = a;
        }
    }
    const size_t kstride = (size_t)g.C * g.KH * g.KW;  // from K[o,c] to K[o+1,c]
    for (int c = 0; c < g.C; c++) {
        const float *Xc = Xn + (size_t)c * g.H * g.W + q0;
        const float *Kc = K + ((size_t)o0 * g.C + c) * g.KH * g.KW;
        for (int kh = 0; kh < g.KH; kh++) {
            for (int kw = 0; kw < g.KW; kw++) {
                vf in[CK_TILE_MAX];
                for (int v = 0; v < V; v++) in[v] = vload(Xc + kh * g.W + kw + v * VL);
                for (int ob = 0; ob < OB; ob++) {
                    const vf w = vsplat(Kc[ob * kstride + kh * g.KW + kw]);
                    for (int v = 0; v < V; v++) acc[ob * V + v] += w * in[v];
                }
            }
        }
    }
    for (int v = 0; v < V; v++) {
        const flat_segments s = flat_segments_at(row[v], col[v], g);
        if (s.count == 1 && s.hi[0] - s.lo[0] == VL) {  // all outputs: an unmasked store
            for (int ob = 0; ob < OB; ob++) vstore(Yn + (o0 + ob) * plane + s.offset[0], acc[ob * V + v]);
            continue;
        }
        for (int ob = 0; ob < OB; ob++)
            for (int i = 0; i < s.count; i++)
                vstore_lanes(Yn + (o0 + ob) * plane + s.offset[i], acc[ob * V + v], s.lo[i], s.hi[i]);
    }
}

// Tile widths, in vectors: AVX-512's 32 registers hold 4 channels × 6 vectors (24 accumulators,
// 6 inputs and a weight), AVX2's 16 hold 4 × 3.
#define FLAT_V (CK_VREGS == 32 ? 6 : 3)

// A tile of OB channels at q0 of vr vectors, 1 ≤ vr ≤ FLAT_V, vr a variable.
FORCE_INLINE void forward_tile_any(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                                   ck_conv2d_geometry g, int o0, int q0, const int OB, int vr) {
    switch (vr) {
    case 1: forward_tile(Yn, Xn, K, B, bias, g, o0, q0, OB, 1); break;
    case 2: forward_tile(Yn, Xn, K, B, bias, g, o0, q0, OB, 2); break;
#if FLAT_V == 6
    case 4: forward_tile(Yn, Xn, K, B, bias, g, o0, q0, OB, 4); break;
    case 5: forward_tile(Yn, Xn, K, B, bias, g, o0, q0, OB, 5); break;
    case 6: forward_tile(Yn, Xn, K, B, bias, g, o0, q0, OB, 6); break;
#endif
    default: forward_tile(Yn, Xn, K, B, bias, g, o0, q0, OB, 3); break;
    }
}

// Every flat position of OB channels (needs Q ≥ VL): whole tiles, then the rest in one tile of
// as many vectors as it needs, moved left to end at Q, recomputing a few positions. Each output
// is summed in the same order by every tile that covers it, so the repeats store equal values
// and the result does not depend on the tiling.
FORCE_INLINE void forward_sweep(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                                ck_conv2d_geometry g, int o0, const int OB) {
    const int Q = flat_positions(g), T = FLAT_V * VL;
    int q0 = 0;
    for (; q0 + T <= Q; q0 += T) forward_tile(Yn, Xn, K, B, bias, g, o0, q0, OB, FLAT_V);
    if (q0 == Q) return;
    const int vr = (Q - q0 + VL - 1) / VL;
    if (vr * VL <= Q) {
        forward_tile_any(Yn, Xn, K, B, bias, g, o0, Q - vr * VL, OB, vr);
    } else {  // a plane narrower than its vectors: whole vectors from 0, then one ending at Q
        forward_tile_any(Yn, Xn, K, B, bias, g, o0, 0, OB, vr - 1);
        forward_tile(Yn, Xn, K, B, bias, g, o0, Q - VL, OB, 1);
    }
}

// One register tile along rows (conv_internal.h, along_rows): OB channels × T vectors, vector t
// at row[t] of the tile (from y0) and column col[t]; with PAIRED every third vector holds two
// rows' ends, the 8 outputs from col[t] of its row and of the next (paired_row_ends). Per tap it loads T input vectors and broadcasts OB weights for
// OB·T fused multiply-adds. Each output is its bias, then the sum over c, kh, kw in that order,
// whatever tile computes it, so outputs two tiles share are stored equal.
FORCE_INLINE void row_tile_at(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                              ck_conv2d_geometry g, int o0, int y0, const int OB, const int T, const int *row,
                              const int *col, const int PAIRED) {
    vf acc[CK_TILE_MAX];
    for (int ob = 0; ob < OB; ob++)
        for (int t = 0; t < T; t++) {
            const int o = o0 + ob;
            vf a = vsplat(bias == CK_BIAS_CHANNEL ? B[o] : 0.0f);
            if (bias == CK_BIAS_UNTIED) {
                const float *b = B + ((size_t)o * g.OH + y0 + row[t]) * g.OW + col[t];
                a = PAIRED && t % 3 == 2 ? vload_split(b, g.OW) : vload(b);
            }
            acc[ob * T + t] = a;
        }
    const size_t kstride = (size_t)g.C * g.KH * g.KW;
    for (int c = 0; c < g.C; c++) {
        const float *Xc = Xn + (size_t)c * g.H * g.W + (size_t)y0 * g.W;
        const float *Kc = K + ((size_t)o0 * g.C + c) * g.KH * g.KW;
        for (int kh = 0; kh < g.KH; kh++)
            for (int kw = 0; kw < g.KW; kw++) {
                vf in[CK_TILE_MAX];
                for (int t = 0; t < T; t++) {
                    const float *x = Xc + (size_t)(row[t] + kh) * g.W + col[t] + kw;
                    in[t] = PAIRED && t % 3 == 2 ? vload_split(x, g.W) : vload(x);
                }
                for (int ob = 0; ob < OB; ob++) {
                    const vf w = vsplat(Kc[ob * kstride + kh * g.KW + kw]);
                    for (int t = 0; t < T; t++) acc[ob * T + t] += w * in[t];
                }
            }
    }
    for (int ob = 0; ob < OB; ob++)
        for (int t = 0; t < T; t++) {
            float *y = Yn + ((size_t)(o0 + ob) * g.OH + y0 + row[t]) * g.OW + col[t];
            if (PAIRED && t % 3 == 2) vstore_split(y, acc[ob * T + t], g.OW);
            else vstore(y, acc[ob * T + t]);
        }
}

// R rows × V vectors from column xs, the last vector of a row moved left to end at OW (needs
// OW ≥ VL), so every store is a whole vector, where flat vectors that straddle a row end take
// masked stores split across cache lines.
FORCE_INLINE void row_tile(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                           ck_conv2d_geometry g, int o0, int y0, const int OB, const int R, const int V, int xs) {
    int row[CK_TILE_MAX], col[CK_TILE_MAX];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) {
            row[r * V + v] = r;
            col[r * V + v] = xs + v * VL + VL <= g.OW ? xs + v * VL : g.OW - VL;
        }
    row_tile_at(Yn, Xn, K, B, bias, g, o0, y0, OB, R * V, row, col, 0);
}

// Rows of V vectors from column xs for OB channels, R rows a tile (the last tile moved up to end
// at OH).
FORCE_INLINE void row_sweep(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                            ck_conv2d_geometry g, int o0, const int OB, const int R, const int V, int xs) {
    for (int y = 0; y < g.OH; y += R) row_tile(Yn, Xn, K, B, bias, g, o0, y + R <= g.OH ? y : g.OH - R, OB, R, V, xs);
}

// 4 channels × R rows × V vectors: 24 accumulators on AVX-512, 12 on AVX2.
#define ROW_ACC (CK_VREGS == 32 ? 24 : 12)

// Rows of a vector and a half (paired_row_ends: OW = 24, 16 lanes): two rows at a time in three
// vectors, each row's first 16 columns and, in one vector, both rows' last 8. Tiles of 2 row
// pairs (24 accumulators for 4 channels).
FORCE_INLINE void row_pair_tile(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                                ck_conv2d_geometry g, int o0, int y0, const int OB) {
    const int row[6] = {0, 1, 0, 2, 3, 2}, col[6] = {0, 0, VL, 0, 0, VL};
    row_tile_at(Yn, Xn, K, B, bias, g, o0, y0, OB, 6, row, col, 1);
}

FORCE_INLINE int row_sweep_any(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                               ck_conv2d_geometry g, int o0, const int OB) {
    const int V = along_rows(g) ? (g.OW + VL - 1) / VL : 0;
    if (V && paired_row_ends(g)) {
        for (int y = 0; y < g.OH; y += 4) row_pair_tile(Yn, Xn, K, B, bias, g, o0, y + 4 <= g.OH ? y : g.OH - 4, OB);
        return 1;
    }
    if (V == 4 && ROW_ACC >= 16) {  // 4 channels × 4 vectors on AVX-512
        row_sweep(Yn, Xn, K, B, bias, g, o0, OB, 1, 4, 0);
    } else if (V == 4 && g.OH >= 3) {  // in AVX2's 12: the first 3 vectors a row at a time, the last 3 rows at a time
        row_sweep(Yn, Xn, K, B, bias, g, o0, OB, 1, 3, 0);
        row_sweep(Yn, Xn, K, B, bias, g, o0, OB, 3, 1, g.OW - VL);
    } else if (V == 1 && g.OH >= ROW_ACC / (4 * 1)) {
        row_sweep(Yn, Xn, K, B, bias, g, o0, OB, ROW_ACC / (4 * 1), 1, 0);
    } else if (V == 2 && g.OH >= ROW_ACC / (4 * 2)) {
        row_sweep(Yn, Xn, K, B, bias, g, o0, OB, ROW_ACC / (4 * 2), 2, 0);
    } else if (V == 3 && g.OH >= ROW_ACC / (4 * 3)) {
        row_sweep(Yn, Xn, K, B, bias, g, o0, OB, ROW_ACC / (4 * 3), 3, 0);
    } else {
        return 0;
    }
    return 1;
}

// Planes of fewer than VL flat positions: a block of rows at a time, each output its own running
// sum (up to 32 independent multiply-add chains, where one chain per output waited on the FMA
// latency at every step). Each output is still summed over c, kh, kw in that order, from its
// bias: the same numbers as one element at a time.
static void forward_block_narrow(float *Yn, const float *Xn, const float *K, const float *B, ck_bias bias,
                                 ck_conv2d_geometry g, int o0, int OB) {
    enum { CHAINS = 32 };
    const int R = CHAINS / g.OW;  // OW < VL ≤ 16 (or W < 8), so at least 2 rows
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

// Output channels 4b ..< 4b+4 of image n (fewer at the end, one at a time).
FORCE_INLINE void forward_channels(float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                                   ck_conv2d_geometry g, int n, int b) {
    float *Yn = Y + (size_t)n * g.O * g.OH * g.OW;
    const float *Xn = X + (size_t)n * g.C * g.H * g.W;
    const int o0 = 4 * b;
    if (flat_positions(g) < VL || g.W < 8) {
        forward_block_narrow(Yn, Xn, K, B, bias, g, o0, o0 + 4 <= g.O ? 4 : g.O - o0);
    } else if (o0 + 4 <= g.O) {
        if (!row_sweep_any(Yn, Xn, K, B, bias, g, o0, 4)) forward_sweep(Yn, Xn, K, B, bias, g, o0, 4);
    } else {
        for (int o = o0; o < g.O; o++) forward_sweep(Yn, Xn, K, B, bias, g, o, 1);
    }
}

// Item (image n, block b of 4 output channels) of the forward pass, and with `stats` the block's
// planes' batch-norm statistics (plane_statistics) while the planes are in L1, where a pass of
// batch norm's own would read them back from L3. Not inlined: it holds every tile shape for 3×3,
// 5×5 and other kernels, and is called from both loops of CK_PARALLEL_FOR. 3×3 and 5×5 kernels
// get their own copies with the tap loops fully unrolled: with one input channel a tile has only
// 9 taps, and loop overhead would cost a third.
static __attribute__((noinline)) void forward_item(float *Y, float *stats, const float *X, const float *K,
                                                   const float *B, ck_bias bias, ck_conv2d_geometry g, int n, int b) {
    if (g.KH == 3 && g.KW == 3) forward_channels(Y, X, K, B, bias, with_kernel(g, 3, 3), n, b);
    else if (g.KH == 5 && g.KW == 5) forward_channels(Y, X, K, B, bias, with_kernel(g, 5, 5), n, b);
    else forward_channels(Y, X, K, B, bias, g, n, b);
    if (!stats) return;
    const int plane = g.OH * g.OW, o1 = 4 * b + 4 < g.O ? 4 * b + 4 : g.O;
    for (int o = 4 * b; o < o1; o++) {
        const size_t p = (size_t)n * g.O + o;
        plane_statistics(CK_SIMD, stats + p * 2, Y + p * plane, plane);
    }
}

// One image (g.N = 1) on the calling thread: for a caller that splits the images itself.
void conv_forward_simd_image(float *Y, float *stats, const float *X, const float *K, const float *B, ck_bias bias,
                             ck_conv2d_geometry g) {
    for (int b = 0; b < (g.O + 3) / 4; b++) forward_item(Y, stats, X, K, B, bias, g, 0, b);
}

// Image n padded into Xp, then its forward pass.
static void forward_padded_image_in(float *Y, float *stats, const float *X, const float *K, const float *B,
                                    ck_bias bias, ck_conv2d_geometry g, int n, float *Xp) {
    conv_pad_image(Xp, X, g, n);
    ck_conv2d_geometry one = without_padding(g);
    one.N = 1;
    conv_forward_simd_image(Y + (size_t)n * g.O * g.OH * g.OW, stats ? stats + (size_t)n * g.O * 2 : NULL, Xp, K, B,
                            bias, one);
}

static void forward_padded_image(float *Y, float *stats, const float *X, const float *K, const float *B, ck_bias bias,
                                 ck_conv2d_geometry g, int n, float *slots) {
    if (slots)
        return forward_padded_image_in(Y, stats, X, K, B, bias, g, n, slots + (size_t)n * padded_image_size(g));
    float Xp[padded_image_size(g)];  // ≤ PADDED_IMAGE_MAX
    forward_padded_image_in(Y, stats, X, K, B, bias, g, n, Xp);
}

void conv_forward_simd_padded_images(float *Y, float *stats, const float *X, const float *K, const float *B,
                                     ck_bias bias, ck_conv2d_geometry g, float *slots) {
    CK_PARALLEL_FOR(n, g.N, conv_flops(g), forward_padded_image(Y, stats, X, K, B, bias, g, n, slots));
}

void conv_forward_simd(float *Y, float *stats, const float *X, const float *K, const float *B, ck_bias bias,
                       ck_conv2d_geometry g) {
    const int blocks = (g.O + 3) / 4;
    CK_PARALLEL_FOR(i, g.N * blocks, conv_flops(g), forward_item(Y, stats, X, K, B, bias, g, i / blocks, i % blocks));
}
