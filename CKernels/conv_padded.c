// Padding and stride. Padding: the input is copied once into a zero-padded workspace and the
// kernels for an unpadded input run on it (for stride 1 the register-tiled ones, unchanged); the
// SIMD input gradient of stride 1 is the valid one's over the padded plane, cropped. Stride > 1
// has direct kernels: the SIMD ones run along the output channel axis, over K and dY copied
// channel-last (..., OP) with OP = O rounded up to a whole vector and the extra lanes zero, so
// every lane is one output channel, summed in the scalar variant's order.
#include "conv_internal.h"

// Xp (N,C,H+2PH,W+2PW) = X (N,C,H,W) with a border of zeros. Memory-bound: one thread.
void conv_pad_input(float *Xp, const float *X, ck_conv2d_geometry g) {
    const int HP = g.H + 2 * g.PH, WP = g.W + 2 * g.PW;
    memset(Xp, 0, sizeof(float) * padded_size(g));
    for (size_t p = 0; p < (size_t)g.N * g.C; p++)
        for (int y = 0; y < g.H; y++)
            memcpy(Xp + (p * HP + y + g.PH) * WP + g.PW, X + (p * g.H + y) * g.W, sizeof(float) * g.W);
}

// dX (N,C,H,W) = the inside of dXp (N,C,H+2PH,W+2PW).
void conv_crop_input(float *dX, const float *dXp, ck_conv2d_geometry g) {
    const int HP = g.H + 2 * g.PH, WP = g.W + 2 * g.PW;
    for (size_t p = 0; p < (size_t)g.N * g.C; p++)
        for (int y = 0; y < g.H; y++)
            memcpy(dX + (p * g.H + y) * g.W, dXp + (p * HP + y + g.PH) * WP + g.PW, sizeof(float) * g.W);
}

// Kt (C,KH,KW,OP) = K (O,C,KH,KW) with the output channel last.
static void channel_last_kernel(float *Kt, const float *K, ck_conv2d_geometry g) {
    const int OP = channel_vectors(g) * VL, taps = g.C * g.KH * g.KW;
    for (int t = 0; t < taps; t++)
        for (int o = 0; o < OP; o++) Kt[(size_t)t * OP + o] = o < g.O ? K[(size_t)o * taps + t] : 0.0f;
}

// dYt (N,OH,OW,OP) = dY (N,O,OH,OW) with the output channel last.
static void channel_last_output(float *dYt, const float *dY, ck_conv2d_geometry g) {
    const int OP = channel_vectors(g) * VL, plane = g.OH * g.OW;
    for (int n = 0; n < g.N; n++)
        for (int p = 0; p < plane; p++)
            for (int o = 0; o < OP; o++)
                dYt[((size_t)n * plane + p) * OP + o] = o < g.O ? dY[((size_t)n * g.O + o) * plane + p] : 0.0f;
}

// Along one axis (kernel size KS, stride SS, output size OS): the taps kh of K that reach padded
// row yy of the input gradient, kh0, kh0+SS, ... ≤ kh1: those with yy-kh a multiple of SS and
// (yy-kh)/SS an output row. Empty when kh0 > kh1. Called with (KH, SH, OH) and (KW, SW, OW).
static void taps_reaching(int yy, int KS, int SS, int OS, int *k0, int *k1) {
    int lo = yy - (OS - 1) * SS;
    if (lo < 0) lo = 0;
    lo += ((yy - lo) % SS);  // up to the next kh ≡ yy (mod SS)
    *k0 = lo;
    *k1 = yy < KS - 1 ? yy : KS - 1;
}

// XT outputs (n, o0 ..< o0+OV·VL, y, x0 ..< x0+XT) of a strided forward over an unpadded input,
// OV·XT accumulators of VL channels: per tap OV weight vectors and XT broadcast inputs. Each
// lane is bias, then sum over c, kh, kw in that order, as forward_plane_scalar.
FORCE_INLINE void strided_forward_tile(float *Y, const float *X, const float *Kt, const float *B, ck_bias bias,
                                       ck_conv2d_geometry g, int n, int o0, int y, int x0, const int OV, const int XT) {
    const int OP = channel_vectors(g) * VL;
    vf acc[2][8];
    for (int j = 0; j < OV; j++) {
        const int oj = o0 + j * VL, count = g.O - oj < VL ? g.O - oj : VL;
        for (int t = 0; t < XT; t++) {
            acc[j][t] = vsplat(0.0f);
            for (int l = 0; l < count; l++) acc[j][t][l] = bias_at(B, bias, oj + l, y, x0 + t, g.OH, g.OW);
        }
    }
    for (int c = 0; c < g.C; c++) {
        for (int kh = 0; kh < g.KH; kh++) {
            const float *xrow = X + (((size_t)n * g.C + c) * g.H + (size_t)y * g.SH + kh) * g.W + (size_t)x0 * g.SW;
            const float *krow = Kt + ((size_t)c * g.KH + kh) * g.KW * OP + o0;
            for (int kw = 0; kw < g.KW; kw++) {
                vf w[2];
                for (int j = 0; j < OV; j++) w[j] = vload(krow + (size_t)kw * OP + j * VL);
                for (int t = 0; t < XT; t++) {
                    const vf in = vsplat(xrow[t * g.SW + kw]);
                    for (int j = 0; j < OV; j++) acc[j][t] += in * w[j];
                }
            }
        }
    }
    for (int j = 0; j < OV; j++) {
        const int oj = o0 + j * VL, count = g.O - oj < VL ? g.O - oj : VL;
        for (int t = 0; t < XT; t++)
            for (int l = 0; l < count; l++) Y[(((size_t)n * g.O + oj + l) * g.OH + y) * g.OW + x0 + t] = acc[j][t][l];
    }
}

// Output channel vectors per block of the strided forward pass: AVX-512's 32 registers hold
// two vectors × 8 columns (16 accumulators, the two weights and a broadcast input); AVX2 one.
#define STRIDED_OV (CK_VREGS == 32 ? 2 : 1)

// Row y of the outputs of OV channel vectors: tiles of 8 columns, the rest in 4, 2 and 1.
FORCE_INLINE void strided_forward_row(float *Y, const float *X, const float *Kt, const float *B, ck_bias bias,
                                      ck_conv2d_geometry g, int n, int o0, int y, const int OV) {
    int x0 = 0;
    for (; x0 + 8 <= g.OW; x0 += 8) strided_forward_tile(Y, X, Kt, B, bias, g, n, o0, y, x0, OV, 8);
    if (x0 + 4 <= g.OW) { strided_forward_tile(Y, X, Kt, B, bias, g, n, o0, y, x0, OV, 4); x0 += 4; }
    if (x0 + 2 <= g.OW) { strided_forward_tile(Y, X, Kt, B, bias, g, n, o0, y, x0, OV, 2); x0 += 2; }
    if (x0 < g.OW) strided_forward_tile(Y, X, Kt, B, bias, g, n, o0, y, x0, OV, 1);
}

// Item (image n, block b of STRIDED_OV·VL output channels) of the strided forward pass; a last
// block with one channel vector takes the one-vector tiles.
static __attribute__((noinline)) void strided_forward_item(float *Y, const float *X, const float *Kt, const float *B,
                                                           ck_bias bias, ck_conv2d_geometry g, int n, int b) {
    const int o0 = b * STRIDED_OV * VL, two = STRIDED_OV == 2 && (channel_vectors(g) - b * STRIDED_OV) >= 2;
    for (int y = 0; y < g.OH; y++) {
        if (two) strided_forward_row(Y, X, Kt, B, bias, g, n, o0, y, 2);
        else strided_forward_row(Y, X, Kt, B, bias, g, n, o0, y, 1);
    }
}

// work: channel_last_kernel_size(g) floats.
void conv_strided_forward_simd(float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                               ck_conv2d_geometry g, float *work) {
    channel_last_kernel(work, K, g);
    const int blocks = (channel_vectors(g) + STRIDED_OV - 1) / STRIDED_OV;
    CK_PARALLEL_FOR(i, g.N * blocks, conv_flops(g), strided_forward_item(Y, X, work, B, bias, g, i / blocks, i % blocks));
}

// Taps kw0 ..< kw0+KT of rows kh0 ..< kh0+KR of dK[o0 ..< o0+OV·VL, c] over an unpadded input:
// each lane summed over n, y, x in that order, as kernel_grad_pair_scalar. The OV dY vectors of an
// output position serve the KR·KT taps, and each broadcast input the OV vectors.
FORCE_INLINE void strided_kernel_grad_taps(float *dK, const float *X, const float *dYt, ck_conv2d_geometry g, int o0,
                                           int c, int kh0, int kw0, const int OV, const int KR, const int KT) {
    const int OP = channel_vectors(g) * VL;
    vf acc[2][3][4];
    for (int j = 0; j < OV; j++)
        for (int r = 0; r < KR; r++)
            for (int t = 0; t < KT; t++) acc[j][r][t] = vsplat(0.0f);
    for (int n = 0; n < g.N; n++) {
        for (int y = 0; y < g.OH; y++) {
            const float *xrow = X + (((size_t)n * g.C + c) * g.H + (size_t)y * g.SH + kh0) * g.W + kw0;
            const float *drow = dYt + (((size_t)n * g.OH + y) * g.OW) * OP + o0;
            for (int x = 0; x < g.OW; x++) {
                vf d[2];
                for (int j = 0; j < OV; j++) d[j] = vload(drow + (size_t)x * OP + j * VL);
                for (int r = 0; r < KR; r++)
                    for (int t = 0; t < KT; t++) {
                        const vf in = vsplat(xrow[(size_t)r * g.W + x * g.SW + t]);
                        for (int j = 0; j < OV; j++) acc[j][r][t] += in * d[j];
                    }
            }
        }
    }
    for (int j = 0; j < OV; j++) {
        const int oj = o0 + j * VL, count = g.O - oj < VL ? g.O - oj : VL;
        for (int r = 0; r < KR; r++)
            for (int t = 0; t < KT; t++)
                for (int l = 0; l < count; l++)
                    dK[(((size_t)(oj + l) * g.C + c) * g.KH + kh0 + r) * g.KW + kw0 + t] = acc[j][r][t][l];
    }
}

// Rows kh0 ..< kh0+KR of dK for OV channel vectors: taps 4 at a time, then the rest.
FORCE_INLINE void strided_kernel_grad_rows(float *dK, const float *X, const float *dYt, ck_conv2d_geometry g, int o0,
                                           int c, int kh0, const int OV, const int KR) {
    int kw0 = 0;
    for (; kw0 + 4 <= g.KW; kw0 += 4) strided_kernel_grad_taps(dK, X, dYt, g, o0, c, kh0, kw0, OV, KR, 4);
    switch (g.KW - kw0) {
    case 3: strided_kernel_grad_taps(dK, X, dYt, g, o0, c, kh0, kw0, OV, KR, 3); break;
    case 2: strided_kernel_grad_taps(dK, X, dYt, g, o0, c, kh0, kw0, OV, KR, 2); break;
    case 1: strided_kernel_grad_taps(dK, X, dYt, g, o0, c, kh0, kw0, OV, KR, 1); break;
    default: break;
    }
}

// Kernel rows per tile of the strided kernel gradient: on AVX-512 3 (with 2 channel vectors, up to
// 24 accumulators), on AVX2 1 (up to 4).
#define STRIDED_KR (CK_VREGS == 32 ? 3 : 1)

// Item (block b of STRIDED_OV·VL output channels, input channel c) of the strided kernel gradient.
static __attribute__((noinline)) void strided_kernel_grad_item(float *dK, const float *X, const float *dYt,
                                                               ck_conv2d_geometry g, int b, int c) {
    const int o0 = b * STRIDED_OV * VL, two = STRIDED_OV == 2 && (channel_vectors(g) - b * STRIDED_OV) >= 2;
    int kh = 0;
    for (; kh + STRIDED_KR <= g.KH; kh += STRIDED_KR) {
        if (two) strided_kernel_grad_rows(dK, X, dYt, g, o0, c, kh, 2, STRIDED_KR);
        else strided_kernel_grad_rows(dK, X, dYt, g, o0, c, kh, 1, STRIDED_KR);
    }
    for (; kh < g.KH; kh++) {
        if (two) strided_kernel_grad_rows(dK, X, dYt, g, o0, c, kh, 2, 1);
        else strided_kernel_grad_rows(dK, X, dYt, g, o0, c, kh, 1, 1);
    }
}

// work: channel_last_output_size(g) floats.
void conv_strided_backward_kernel_simd(float *dK, const float *X, const float *dY, ck_conv2d_geometry g, float *work) {
    channel_last_output(work, dY, g);
    const int blocks = (channel_vectors(g) + STRIDED_OV - 1) / STRIDED_OV;
    CK_PARALLEL_FOR(i, blocks * g.C, conv_flops(g), strided_kernel_grad_item(dK, X, work, g, i / g.C, i % g.C));
}

// Element (y, x) of plane dX[n,c] from dY and K as they are: sum over o, then the taps kh, kw
// (kh0, kh0+SH, ... ≤ kh1; kw0, kw0+SW, ... ≤ kw1) in that order. The scalar variant.
FORCE_INLINE float input_grad_sum(const float *dY, const float *K, ck_conv2d_geometry g, int n, int c, int y, int x,
                                  int kh0, int kh1, int kw0, int kw1) {
    float sum = 0.0f;
    for (int o = 0; o < g.O; o++) {
        const float *dYo = dY + ((size_t)n * g.O + o) * g.OH * g.OW;
        const float *Ko = K + ((size_t)o * g.C + c) * g.KH * g.KW;
        for (int kh = kh0; kh <= kh1; kh += g.SH) {
            const int oy = (y + g.PH - kh) / g.SH;
            NO_VECTORIZE
            for (int kw = kw0; kw <= kw1; kw += g.SW)
                sum += dYo[oy * g.OW + (x + g.PW - kw) / g.SW] * Ko[kh * g.KW + kw];
        }
    }
    return sum;
}

// The same element from dYt and Kt, dY and K with the output channel last: a dot product along
// the output channels, vectors summed over kh, kw, channel vector in that order, then across
// lanes. The SIMD variant.
FORCE_INLINE float input_grad_dot(const float *dYt, const float *Kt, ck_conv2d_geometry g, int n, int c, int y, int x,
                                  int kh0, int kh1, int kw0, int kw1) {
    const int OP = channel_vectors(g) * VL;
    vf acc = vsplat(0.0f);
    for (int kh = kh0; kh <= kh1; kh += g.SH) {
        const int oy = (y + g.PH - kh) / g.SH;
        for (int kw = kw0; kw <= kw1; kw += g.SW) {
            const float *d = dYt + (((size_t)n * g.OH + oy) * g.OW + (x + g.PW - kw) / g.SW) * OP;
            const float *k = Kt + (((size_t)c * g.KH + kh) * g.KW + kw) * OP;
            for (int v = 0; v < OP; v += VL) acc += vload(d + v) * vload(k + v);
        }
    }
    return vsum(acc);
}

// XT elements (y, x), (y, x+SW), ... of the same plane with the same taps, each summed exactly as
// input_grad_dot: XT independent accumulators share each weight load, and the columns of dY
// follow from the first element's without a division. Needs x and x+(XT-1)·SW inside the
// columns every one of whose taps kw0, kw0+SW, ... ≤ kw1 lands on an output column.
FORCE_INLINE void input_grad_dot_tile(float *out, const float *dYt, const float *Kt, ck_conv2d_geometry g, int n,
                                      int c, int y, int x, int kh0, int kh1, int kw0, int kw1, const int XT) {
    const int OP = channel_vectors(g) * VL;
    vf acc[16];
    for (int t = 0; t < XT; t++) acc[t] = vsplat(0.0f);
    for (int kh = kh0; kh <= kh1; kh += g.SH) {
        const int oy = (y + g.PH - kh) / g.SH;
        for (int kw = kw0; kw <= kw1; kw += g.SW) {
            const float *d = dYt + (((size_t)n * g.OH + oy) * g.OW + (x + g.PW - kw) / g.SW) * OP;
            const float *k = Kt + (((size_t)c * g.KH + kh) * g.KW + kw) * OP;
            for (int v = 0; v < OP; v += VL) {
                const vf w = vload(k + v);
                for (int t = 0; t < XT; t++) acc[t] += vload(d + (size_t)t * OP + v) * w;
            }
        }
    }
    for (int t = 0; t < XT; t++) out[t * g.SW] = vsum(acc[t]);
}

// Row y of plane dXc (its taps kh0 ..< kh1) from dYt and Kt. Columns whose taps all land inside
// dY, [xlo, xhi], go SW classes at a time (x ≡ x0 mod SW share their taps) in tiles of 8 and 4
// elements; the border columns and what is left one at a time.
FORCE_INLINE void input_grad_row_channel_last(float *dXc, const float *dYt, const float *Kt, ck_conv2d_geometry g,
                                              int n, int c, int y, int kh0, int kh1) {
    float *row = dXc + (size_t)y * g.W;
    int xlo = g.KW - 1 - g.PW, xhi = (g.OW - 1) * g.SW - g.PW;
    if (xlo < 0) xlo = 0;
    if (xhi > g.W - 1) xhi = g.W - 1;
    for (int x = 0; x < g.W; x++) {
        if (x >= xlo && x <= xhi) continue;
        int kw0, kw1;
        taps_reaching(x + g.PW, g.KW, g.SW, g.OW, &kw0, &kw1);
        row[x] = input_grad_dot(dYt, Kt, g, n, c, y, x, kh0, kh1, kw0, kw1);
    }
    for (int x0 = xlo; x0 < xlo + g.SW && x0 <= xhi; x0++) {
        int kw0, kw1;
        taps_reaching(x0 + g.PW, g.KW, g.SW, g.OW, &kw0, &kw1);
        int x = x0;
        for (; x + 7 * g.SW <= xhi; x += 8 * g.SW)
            input_grad_dot_tile(row + x, dYt, Kt, g, n, c, y, x, kh0, kh1, kw0, kw1, 8);
        for (; x + 3 * g.SW <= xhi; x += 4 * g.SW)
            input_grad_dot_tile(row + x, dYt, Kt, g, n, c, y, x, kh0, kh1, kw0, kw1, 4);
        for (; x <= xhi; x += g.SW) row[x] = input_grad_dot(dYt, Kt, g, n, c, y, x, kh0, kh1, kw0, kw1);
    }
}

// Plane dX[n,c] for any padding and stride, from the definition: dX[n,c,y,x] = sum over o and the
// taps kh, kw that land on an output of dY[n,o,(y+PH-kh)/SH,(x+PW-kw)/SW]·K[o,c,kh,kw], each
// element input_grad_sum. The scalar variant.
FORCE_INLINE void input_grad_plane_any(float *dX, const float *dY, const float *K, ck_conv2d_geometry g, int n, int c) {
    float *dXc = dX + ((size_t)n * g.C + c) * g.H * g.W;
    for (int y = 0; y < g.H; y++) {
        int kh0, kh1;
        taps_reaching(y + g.PH, g.KH, g.SH, g.OH, &kh0, &kh1);
        for (int x = 0; x < g.W; x++) {
            int kw0, kw1;
            taps_reaching(x + g.PW, g.KW, g.SW, g.OW, &kw0, &kw1);
            dXc[y * g.W + x] = input_grad_sum(dY, K, g, n, c, y, x, kh0, kh1, kw0, kw1);
        }
    }
}

static void input_grad_item_scalar(float *dX, const float *dY, const float *K, ck_conv2d_geometry g, int n, int c) {
    input_grad_plane_any(dX, dY, K, g, n, c);
}

// The SIMD variant: the same elements and taps as input_grad_plane_any, each an
// input_grad_dot, row by row in tiles along the row (input_grad_row_channel_last).
static __attribute__((noinline)) void input_grad_item_channel_last(float *dX, const float *dYt, const float *Kt,
                                                                   ck_conv2d_geometry g, int n, int c) {
    float *dXc = dX + ((size_t)n * g.C + c) * g.H * g.W;
    for (int y = 0; y < g.H; y++) {
        int kh0, kh1;
        taps_reaching(y + g.PH, g.KH, g.SH, g.OH, &kh0, &kh1);
        input_grad_row_channel_last(dXc, dYt, Kt, g, n, c, y, kh0, kh1);
    }
}

void conv_backward_input_any(ck_variant v, float *dX, const float *dY, const float *K, ck_conv2d_geometry g,
                             float *work) {
    if (v == CK_SIMD) {
        float *Kt = work, *dYt = work + channel_last_kernel_size(g);
        channel_last_kernel(Kt, K, g);
        channel_last_output(dYt, dY, g);
        CK_PARALLEL_FOR(i, g.N * g.C, conv_flops(g), input_grad_item_channel_last(dX, dYt, Kt, g, i / g.C, i % g.C));
    } else {
        CK_PARALLEL_FOR(i, g.N * g.C, conv_flops(g), input_grad_item_scalar(dX, dY, K, g, i / g.C, i % g.C));
    }
}
