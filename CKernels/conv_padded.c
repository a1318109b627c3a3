// Padding and stride. Padding: the input is copied into a zero-padded workspace, or an image at a
// time onto the stack (conv_pad_image), and the kernels for an unpadded input run on it (for stride
// 1 the register-tiled ones, unchanged); the SIMD input gradient of stride 1 is the valid one's
// over the padded plane, cropped; the SIMD kernel gradient of stride 1 with padding that keeps
// the width reads X as it is under lane masks on AVX-512 (conv_kernel_grad.c). Stride > 1 has direct kernels: the SIMD forward pass and kernel
// gradient run along the output channel axis, over K and dY copied channel-last (..., OP) with OP =
// O rounded up to a whole vector and the extra lanes zero, so every lane is one output channel,
// summed in the scalar variant's order; the SIMD input gradient runs along the input channel axis,
// over K copied input-channel-last.
#include "conv_internal.h"

// The copies of X and dY below are memory-bound, but the convolution they feed is not: they run on
// the team whenever it does (work: the convolution's flops), or one core would copy while the
// other waits. The copies of K are a few kilobytes: they stay on the calling thread (work: their
// size), where a parallel region would cost more than the copy.

// n floats of zeros at out.
static void zero_floats(float *out, size_t n) {
    size_t i = 0;
    for (; i + VL <= n; i += VL) vstore(out + i, vsplat(0.0f));
    if (i < n) vstore_lanes(out + i, vsplat(0.0f), 0, (int)(n - i));
}

// A plane padded, out (H+2PH,W+2PW) from in (H,W): the rows above and below zeroed, then the
// padded rows a vector at a time, each vector's lanes in the input loaded under a mask into
// zeros and stored whole, so the columns of padding cost no stores of their own. A vector column
// at a time, down the rows: its masks are built once (built per row, with memsets for the border,
// they were a quarter of the strided forward pass that pads its 18×18 planes on the stack; a
// memcpy call per row had cost more than the copy, a third of LeNet's second input gradient).
static void pad_plane(float *out, const float *in, ck_conv2d_geometry g) {
    const int WP = g.W + 2 * g.PW;
    zero_floats(out, (size_t)g.PH * WP);
    zero_floats(out + (size_t)(g.PH + g.H) * WP, (size_t)g.PH * WP);
    for (int x0 = 0; x0 < WP; x0 += VL) {
        // Lane l is padded column x0 + l, input column x0 + l - PW: inside for lanes lo ..< hi.
        const int lo = g.PW > x0 ? g.PW - x0 : 0, hi = g.PW + g.W - x0 < VL ? g.PW + g.W - x0 : VL;
        const int end = WP - x0 < VL ? WP - x0 : VL;
        float *col = out + (size_t)g.PH * WP + x0;
        for (int y = 0; y < g.H; y++) {
            const vf v = lo < hi ? vload_lanes(vsplat(0.0f), in + (ptrdiff_t)y * g.W + x0 - g.PW, lo, hi) : vsplat(0.0f);
            vstore_first(col + (size_t)y * WP, v, end);
        }
    }
}

void conv_pad_image(float *Xp, const float *X, ck_conv2d_geometry g, int n) {
    const size_t HW = (size_t)g.H * g.W, padded = (size_t)(g.H + 2 * g.PH) * (g.W + 2 * g.PW);
    for (int c = 0; c < g.C; c++) pad_plane(Xp + c * padded, X + ((size_t)n * g.C + c) * HW, g);
}

// Xp (N,C,H+2PH,W+2PW) = X (N,C,H,W) with a border of zeros.
void conv_pad_input(float *Xp, const float *X, ck_conv2d_geometry g) {
    const size_t HW = (size_t)g.H * g.W, padded = (size_t)(g.H + 2 * g.PH) * (g.W + 2 * g.PW);
    CK_PARALLEL_FOR(p, g.N * g.C, conv_flops(g), pad_plane(Xp + p * padded, X + p * HW, g));
}

static void crop_plane(float *dX, const float *dXp, ck_conv2d_geometry g, size_t p) {
    const int HP = g.H + 2 * g.PH, WP = g.W + 2 * g.PW;
    for (int y = 0; y < g.H; y++)
        memcpy(dX + (p * g.H + y) * g.W, dXp + (p * HP + y + g.PH) * WP + g.PW, sizeof(float) * g.W);
}

// dX (N,C,H,W) = the inside of dXp (N,C,H+2PH,W+2PW).
void conv_crop_input(float *dX, const float *dXp, ck_conv2d_geometry g) {
    CK_PARALLEL_FOR(p, g.N * g.C, conv_flops(g), crop_plane(dX, dXp, g, (size_t)p));
}

// Tap t (of C·KH·KW) of Kt.
static void channel_last_kernel_tap(float *Kt, const float *K, ck_conv2d_geometry g, int t) {
    const int OP = channel_vectors(g) * VL, taps = g.C * g.KH * g.KW;
    for (int o = 0; o < OP; o++) Kt[(size_t)t * OP + o] = o < g.O ? K[(size_t)o * taps + t] : 0.0f;
}

// Kt (C,KH,KW,OP) = K (O,C,KH,KW) with the output channel last.
static void channel_last_kernel(float *Kt, const float *K, ck_conv2d_geometry g) {
    CK_PARALLEL_FOR(t, g.C * g.KH * g.KW, (double)channel_last_kernel_size(g), channel_last_kernel_tap(Kt, K, g, t));
}

// Image n of dYt: 8 positions × 8 channels at a time, transposed in registers (the channels
// past O zero), the last positions one at a time.
static void channel_last_output_image(float *dYt, const float *dY, ck_conv2d_geometry g, int n) {
    const int OP = channel_vectors(g) * VL, plane = g.OH * g.OW;
    const float *dYn = dY + (size_t)n * g.O * plane;
    float *out = dYt + (size_t)n * plane * OP;
    int p = 0;
    for (; p + 8 <= plane; p += 8)
        for (int o0 = 0; o0 < OP; o0 += 8) {
            vf8 r[8];
            for (int l = 0; l < 8; l++) r[l] = o0 + l < g.O ? vload8(dYn + (size_t)(o0 + l) * plane + p) : (vf8){0};
            vtranspose8(r);
            for (int i = 0; i < 8; i++) vstore8(out + (size_t)(p + i) * OP + o0, r[i]);
        }
    for (; p < plane; p++)
        for (int o = 0; o < OP; o++) out[(size_t)p * OP + o] = o < g.O ? dYn[(size_t)o * plane + p] : 0.0f;
}

// dYt (N,OH,OW,OP) = dY (N,O,OH,OW) with the output channel last.
static void channel_last_output(float *dYt, const float *dY, ck_conv2d_geometry g) {
    CK_PARALLEL_FOR(n, g.N, conv_flops(g), channel_last_output_image(dYt, dY, g, n));
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

// XT outputs (n, o0 ..< o0+OV·VL, p0 ..< p0+XT) of a strided forward over an unpadded input, p
// the flat position y·OW+x (a tile may span rows: narrow planes fill it too), OV·XT accumulators
// of VL channels: per tap OV weight vectors and XT broadcast inputs. Each lane is bias, then sum
// over c, kh, kw in that order, as forward_plane_scalar. Bv holds the OV vectors of channel
// biases (zero beyond O, or without bias); an untied bias is read per lane. Tiles of 8 or 16
// positions are transposed in registers 8 × 8 at a time and stored as rows of Y's planes.
FORCE_INLINE void strided_forward_tile(float *Y, const float *X, const float *Kt, const float *B, ck_bias bias,
                                       const vf *Bv, ck_conv2d_geometry g, int n, int o0, int p0, const int OV,
                                       const int XT) {
    const int OP = channel_vectors(g) * VL, plane = g.OH * g.OW;
    int off[16];  // each position's first input, from its input plane's start
    for (int t = 0; t < XT; t++) off[t] = ((p0 + t) / g.OW) * g.SH * g.W + ((p0 + t) % g.OW) * g.SW;
    vf acc[2][16];
    for (int j = 0; j < OV; j++) {
        const int oj = o0 + j * VL, count = g.O - oj < VL ? g.O - oj : VL;
        for (int t = 0; t < XT; t++) {
            acc[j][t] = Bv[j];
            if (bias == CK_BIAS_UNTIED)
                for (int l = 0; l < count; l++) acc[j][t][l] = B[(size_t)(oj + l) * plane + p0 + t];
        }
    }
    for (int c = 0; c < g.C; c++) {
        for (int kh = 0; kh < g.KH; kh++) {
            const float *xrow = X + (((size_t)n * g.C + c) * g.H + kh) * g.W;
            const float *krow = Kt + ((size_t)c * g.KH + kh) * g.KW * OP + o0;
            for (int kw = 0; kw < g.KW; kw++) {
                vf w[2];
                for (int j = 0; j < OV; j++) w[j] = vload(krow + (size_t)kw * OP + j * VL);
                for (int t = 0; t < XT; t++) {
                    const vf in = vsplat(xrow[off[t] + kw]);
                    for (int j = 0; j < OV; j++) acc[j][t] += in * w[j];
                }
            }
        }
    }
    for (int j = 0; j < OV; j++) {
        const int oj = o0 + j * VL, count = g.O - oj < VL ? g.O - oj : VL;
        float *Yo = Y + ((size_t)n * g.O + oj) * plane + p0;
        if (XT % 8 == 0) {
            for (int t = 0; t < XT; t += 8) vstore_transposed(Yo + t, plane, acc[j] + t, count);
        } else {
            for (int t = 0; t < XT; t++)
                for (int l = 0; l < count; l++) Yo[(size_t)l * plane + t] = acc[j][t][l];
        }
    }
}

// Row tiles of 8 along a row of count ≥ 8 elements start at 0, 8, 16, ..., the last moved back to
// end at count (the columns it shares with the one before are summed again, in the same order, and
// stored again): the tile after the one at `at`, or -1 after the last.
static inline int next_tile_of_8(int at, int count) {
    return at + 8 == count ? -1 : at + 16 <= count ? at + 8 : count - 8;
}

// RT rows × CT columns of outputs (n, o0 ..< o0+OV·VL, y0 ..< y0+RT, x0 ..< x0+CT) of a strided
// forward pass over an unpadded input, summed as strided_forward_tile's. With the stride a constant
// each broadcast input is a row pointer plus a constant, one multiply-add with its operand in
// memory; strided_forward_tile's positions span rows, so each has an offset of its own, 16 of them
// reloaded from the stack for every tap (a third of its instructions). Stores a row of 8 positions
// at a time transposed, or lane by lane.
FORCE_INLINE void strided_forward_rows(float *Y, const float *X, const float *Kt, const float *B, ck_bias bias,
                                       const vf *Bv, ck_conv2d_geometry g, int n, int o0, int y0, int x0,
                                       const int OV, const int RT, const int CT) {
    const int OP = channel_vectors(g) * VL, plane = g.OH * g.OW;
    vf acc[2][16];
    for (int j = 0; j < OV; j++) {
        const int oj = o0 + j * VL, count = g.O - oj < VL ? g.O - oj : VL;
        for (int r = 0; r < RT; r++)
            for (int t = 0; t < CT; t++) {
                acc[j][r * CT + t] = Bv[j];
                if (bias == CK_BIAS_UNTIED)
                    for (int l = 0; l < count; l++)
                        acc[j][r * CT + t][l] = B[(size_t)(oj + l) * plane + (y0 + r) * g.OW + x0 + t];
            }
    }
    for (int c = 0; c < g.C; c++) {
        for (int kh = 0; kh < g.KH; kh++) {
            const float *xrow = X + (((size_t)n * g.C + c) * g.H + (size_t)y0 * g.SH + kh) * g.W + (size_t)x0 * g.SW;
            const float *krow = Kt + ((size_t)c * g.KH + kh) * g.KW * OP + o0;
            for (int kw = 0; kw < g.KW; kw++) {
                vf w[2];
                for (int j = 0; j < OV; j++) w[j] = vload(krow + (size_t)kw * OP + j * VL);
                for (int r = 0; r < RT; r++)
                    for (int t = 0; t < CT; t++) {
                        const vf in = vsplat(xrow[(size_t)r * g.SH * g.W + t * g.SW + kw]);
                        for (int j = 0; j < OV; j++) acc[j][r * CT + t] += in * w[j];
                    }
            }
        }
    }
    for (int j = 0; j < OV; j++) {
        const int oj = o0 + j * VL, count = g.O - oj < VL ? g.O - oj : VL;
        for (int r = 0; r < RT; r++) {
            float *Yo = Y + (((size_t)n * g.O + oj) * g.OH + y0 + r) * g.OW + x0;
            if (CT == 8) {
                vstore_transposed(Yo, plane, acc[j] + r * CT, count);
            } else {
                for (int t = 0; t < CT; t++)
                    for (int l = 0; l < count; l++) Yo[(size_t)l * plane + t] = acc[j][r * CT + t][l];
            }
        }
    }
}

// The output plane of OV channel vectors. Rows of 8 or more positions go in row tiles of 8
// columns (next_tile_of_8), 16 accumulators (two rows of one vector, one row of two; AVX2 one row
// of one vector); rows left over one at a time. Other
// planes: flat tiles of 8 positions (16 for one vector of a 3×3 or smaller kernel on AVX-512, 16
// accumulators either way, enough multiply-adds in flight to hide their latency; a 5×5 kernel's
// 25 taps unrolled over 16 positions measured slower), the rest in 8, 4, 2 and 1.
FORCE_INLINE void strided_forward_plane(float *Y, const float *X, const float *Kt, const float *B, ck_bias bias,
                                        const vf *Bv, ck_conv2d_geometry g, int n, int o0, const int OV) {
    if (g.OW >= 8) {
        const int RT = CK_VREGS == 32 && OV == 1 ? 2 : 1;
        int y0 = 0;
        for (; y0 + RT <= g.OH; y0 += RT)
            for (int x0 = 0; x0 >= 0; x0 = next_tile_of_8(x0, g.OW))
                strided_forward_rows(Y, X, Kt, B, bias, Bv, g, n, o0, y0, x0, OV, RT, 8);
        for (; y0 < g.OH; y0++)
            for (int x0 = 0; x0 >= 0; x0 = next_tile_of_8(x0, g.OW))
                strided_forward_rows(Y, X, Kt, B, bias, Bv, g, n, o0, y0, x0, OV, 1, 8);
        return;
    }
    const int plane = g.OH * g.OW;
    int p0 = 0;
    if (CK_VREGS == 32 && OV == 1 && g.KH * g.KW <= 9)
        for (; p0 + 16 <= plane; p0 += 16) strided_forward_tile(Y, X, Kt, B, bias, Bv, g, n, o0, p0, 1, 16);
    for (; p0 + 8 <= plane; p0 += 8) strided_forward_tile(Y, X, Kt, B, bias, Bv, g, n, o0, p0, OV, 8);
    if (p0 + 4 <= plane) { strided_forward_tile(Y, X, Kt, B, bias, Bv, g, n, o0, p0, OV, 4); p0 += 4; }
    if (p0 + 2 <= plane) { strided_forward_tile(Y, X, Kt, B, bias, Bv, g, n, o0, p0, OV, 2); p0 += 2; }
    if (p0 < plane) strided_forward_tile(Y, X, Kt, B, bias, Bv, g, n, o0, p0, OV, 1);
}

// Item (image n, block b of STRIDED_OV·VL output channels) of the strided forward pass; a last
// block with one channel vector takes the one-vector tiles.
FORCE_INLINE void strided_forward_item(float *Y, const float *X, const float *Kt, const float *B, ck_bias bias,
                                       ck_conv2d_geometry g, int n, int b) {
    const int o0 = b * STRIDED_OV * VL, two = STRIDED_OV == 2 && (channel_vectors(g) - b * STRIDED_OV) >= 2;
    vf Bv[2] = {vsplat(0.0f), vsplat(0.0f)};
    if (bias == CK_BIAS_CHANNEL)
        for (int i = 0; i < STRIDED_OV * VL && o0 + i < g.O; i++) Bv[i / VL][i % VL] = B[o0 + i];
    if (two) strided_forward_plane(Y, X, Kt, B, bias, Bv, g, n, o0, 2);
    else strided_forward_plane(Y, X, Kt, B, bias, Bv, g, n, o0, 1);
}

// 3×3 and 5×5 kernels get copies with the tap loops unrolled (a 4×4 plane's tile sums only
// C·KH·KW terms: loop overhead would be a good part of it), 3×3 of stride 2 one with the stride
// a constant too (the row tiles' inputs at constant offsets).
static void strided_forward_item_sized(float *Y, const float *X, const float *Kt, const float *B, ck_bias bias,
                                       ck_conv2d_geometry g, int n, int b) {
    if (g.KH == 3 && g.KW == 3 && g.SH == 2 && g.SW == 2)
        strided_forward_item(Y, X, Kt, B, bias, with_stride(with_kernel(g, 3, 3), 2, 2), n, b);
    else if (g.KH == 3 && g.KW == 3) strided_forward_item(Y, X, Kt, B, bias, with_kernel(g, 3, 3), n, b);
    else if (g.KH == 5 && g.KW == 5) strided_forward_item(Y, X, Kt, B, bias, with_kernel(g, 5, 5), n, b);
    else strided_forward_item(Y, X, Kt, B, bias, g, n, b);
}

// Image n, padded on the stack first (g the padded geometry), all its blocks.
static void strided_forward_image_padded(float *Y, const float *X, const float *Kt, const float *B, ck_bias bias,
                                         ck_conv2d_geometry g, int n) {
    float Xp[padded_image_size(g)];  // ≤ PADDED_IMAGE_MAX (channel_last_pads_images_on_stack)
    conv_pad_image(Xp, X, g, n);
    ck_conv2d_geometry one = without_padding(g);
    one.N = 1;
    const int blocks = (channel_vectors(g) + STRIDED_OV - 1) / STRIDED_OV;
    for (int b = 0; b < blocks; b++)
        strided_forward_item_sized(Y + (size_t)n * g.O * g.OH * g.OW, Xp, Kt, B, bias, one, 0, b);
}

// work: channel_last_kernel_size(g) floats. g unpadded, or padded within
// channel_last_pads_images_on_stack: items of an image each.
void conv_strided_forward_simd(float *Y, const float *X, const float *K, const float *B, ck_bias bias,
                               ck_conv2d_geometry g, float *work) {
    channel_last_kernel(work, K, g);
    const int blocks = (channel_vectors(g) + STRIDED_OV - 1) / STRIDED_OV;
    if (is_padded(g))
        CK_PARALLEL_FOR(n, g.N, conv_flops(g), strided_forward_image_padded(Y, X, work, B, bias, g, n));
    else
        CK_PARALLEL_FOR(i, g.N * blocks, conv_flops(g),
                        strided_forward_item_sized(Y, X, work, B, bias, g, i / blocks, i % blocks));
}

// Padded planes of X per chunk of the strided kernel gradient: as many as fill 32 KB (L1), at least
// one (≤ PADDED_IMAGE_MAX by channel_last_pads_planes_on_stack).
static inline int padded_planes_per_chunk(ck_conv2d_geometry g) {
    const int plane = (g.H + 2 * g.PH) * (g.W + 2 * g.PW), fit = 8 * 1024 / plane;
    return fit > 1 ? fit : 1;
}

// Taps kw0 ..< kw0+KT of rows kh0 ..< kh0+KR of dK[o0 ..< o0+OV·VL, c]: each lane summed over n,
// y, x in that order, as kernel_grad_pair_scalar. The OV dY vectors of an output position serve
// the KR·KT taps, and each broadcast input the OV vectors. gp is the geometry as given: padded, each
// plane (n, c) of X is padded into buf (on the item's stack) before its positions are summed, a
// chunk of planes at a time (a call that pads one plane costs the registers' spills around it:
// a fifth of the time on 8×8 planes).
FORCE_INLINE void strided_kernel_grad_taps(float *dK, const float *X, const float *dYt, ck_conv2d_geometry gp,
                                           float *buf, int o0, int c, int kh0, int kw0, const int OV, const int KR,
                                           const int KT) {
    const ck_conv2d_geometry g = without_padding(gp);
    const int OP = channel_vectors(g) * VL;
    vf acc[2][5][5];
    for (int j = 0; j < OV; j++)
        for (int r = 0; r < KR; r++)
            for (int t = 0; t < KT; t++) acc[j][r][t] = vsplat(0.0f);
    const size_t plane = (size_t)g.H * g.W;
    const int chunk = padded_planes_per_chunk(gp);
    for (int n = 0; n < g.N; n++) {
        const float *Xc = X + ((size_t)n * g.C + c) * gp.H * gp.W;
        if (is_padded(gp)) {
            if (n % chunk == 0)
                for (int m = n; m < n + chunk && m < g.N; m++)
                    pad_plane(buf + (m - n) * plane, X + ((size_t)m * g.C + c) * gp.H * gp.W, gp);
            Xc = buf + (n % chunk) * plane;
        }
        for (int y = 0; y < g.OH; y++) {
            const float *xrow = Xc + ((size_t)y * g.SH + kh0) * g.W + kw0;
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
FORCE_INLINE void strided_kernel_grad_rows(float *dK, const float *X, const float *dYt, ck_conv2d_geometry g,
                                           float *buf, int o0, int c, int kh0, const int OV, const int KR) {
    int kw0 = 0;
    for (; kw0 + 4 <= g.KW; kw0 += 4) strided_kernel_grad_taps(dK, X, dYt, g, buf, o0, c, kh0, kw0, OV, KR, 4);
    switch (g.KW - kw0) {
    case 3: strided_kernel_grad_taps(dK, X, dYt, g, buf, o0, c, kh0, kw0, OV, KR, 3); break;
    case 2: strided_kernel_grad_taps(dK, X, dYt, g, buf, o0, c, kh0, kw0, OV, KR, 2); break;
    case 1: strided_kernel_grad_taps(dK, X, dYt, g, buf, o0, c, kh0, kw0, OV, KR, 1); break;
    default: break;
    }
}

// Kernel rows per tile of the strided kernel gradient: on AVX-512 3 (with 2 channel vectors, up to
// 24 accumulators), on AVX2 1 (up to 4).
#define STRIDED_KR (CK_VREGS == 32 ? 3 : 1)

// Item (block b of STRIDED_OV·VL output channels, input channel c) of the strided kernel gradient.
// On AVX-512 a 3×3 or 5×5 kernel's taps all go in one tile, one pass over the positions: 2 × 9
// or 1 × 25 accumulators (a pass over a row of 5 taps and the row's last tap on its own had left
// 1 to 4 accumulators waiting on the multiply-add latency). Other kernels: rows as below. g as
// given: padded, within channel_last_pads_planes_on_stack.
static __attribute__((noinline)) void strided_kernel_grad_item(float *dK, const float *X, const float *dYt,
                                                               ck_conv2d_geometry g, int b, int c) {
    float buf[is_padded(g) ? padded_planes_per_chunk(g) * (g.H + 2 * g.PH) * (g.W + 2 * g.PW) : 1];
    const int o0 = b * STRIDED_OV * VL, two = STRIDED_OV == 2 && (channel_vectors(g) - b * STRIDED_OV) >= 2;
    if (CK_VREGS == 32 && g.KH == 3 && g.KW == 3) {
        const ck_conv2d_geometry g3 = with_kernel(g, 3, 3);
        if (two) strided_kernel_grad_taps(dK, X, dYt, g3, buf, o0, c, 0, 0, 2, 3, 3);
        else strided_kernel_grad_taps(dK, X, dYt, g3, buf, o0, c, 0, 0, 1, 3, 3);
        return;
    }
    if (CK_VREGS == 32 && g.KH == 5 && g.KW == 5) {
        const ck_conv2d_geometry g5 = with_kernel(g, 5, 5);
        strided_kernel_grad_taps(dK, X, dYt, g5, buf, o0, c, 0, 0, 1, 5, 5);
        if (two) strided_kernel_grad_taps(dK, X, dYt, g5, buf, o0 + VL, c, 0, 0, 1, 5, 5);
        return;
    }
    int kh = 0;
    for (; kh + STRIDED_KR <= g.KH; kh += STRIDED_KR) {
        if (two) strided_kernel_grad_rows(dK, X, dYt, g, buf, o0, c, kh, 2, STRIDED_KR);
        else strided_kernel_grad_rows(dK, X, dYt, g, buf, o0, c, kh, 1, STRIDED_KR);
    }
    for (; kh < g.KH; kh++) {
        if (two) strided_kernel_grad_rows(dK, X, dYt, g, buf, o0, c, kh, 2, 1);
        else strided_kernel_grad_rows(dK, X, dYt, g, buf, o0, c, kh, 1, 1);
    }
}

// work: channel_last_output_size(g) floats. g unpadded, or padded within
// channel_last_pads_planes_on_stack.
void conv_strided_backward_kernel_simd(float *dK, const float *X, const float *dY, ck_conv2d_geometry g, float *work) {
    channel_last_output(work, dY, g);
    const int blocks = (channel_vectors(g) + STRIDED_OV - 1) / STRIDED_OV;
    CK_PARALLEL_FOR(i, blocks * g.C, conv_flops(g), strided_kernel_grad_item(dK, X, work, g, i / g.C, i % g.C));
}

// Element (y, x) of plane dX[n,c] from dY and K as they are: sum over the taps kh, kw (kh0,
// kh0+SH, ... ≤ kh1; kw0, kw0+SW, ... ≤ kw1), then o, in that order. The scalar variant.
FORCE_INLINE float input_grad_sum(const float *dY, const float *K, ck_conv2d_geometry g, int n, int c, int y, int x,
                                  int kh0, int kh1, int kw0, int kw1) {
    float sum = 0.0f;
    for (int kh = kh0; kh <= kh1; kh += g.SH) {
        const int oy = (y + g.PH - kh) / g.SH;
        for (int kw = kw0; kw <= kw1; kw += g.SW) {
            const float *d = dY + (size_t)n * g.O * g.OH * g.OW + (size_t)oy * g.OW + (x + g.PW - kw) / g.SW;
            const float *k = K + (size_t)c * g.KH * g.KW + kh * g.KW + kw;
            NO_VECTORIZE
            for (int o = 0; o < g.O; o++) sum += d[(size_t)o * g.OH * g.OW] * k[(size_t)o * g.C * g.KH * g.KW];
        }
    }
    return sum;
}

// Output channel o of Kc.
static void input_channel_last_kernel_row(float *Kc, const float *K, ck_conv2d_geometry g, int o) {
    const int CP = input_channel_blocks(g) * input_block_width(g), taps = g.KH * g.KW;
    for (int t = 0; t < taps; t++)
        for (int c = 0; c < CP; c++)
            Kc[((size_t)o * taps + t) * CP + c] = c < g.C ? K[((size_t)o * g.C + c) * taps + t] : 0.0f;
}

// Kc (O,KH,KW,CP) = K (O,C,KH,KW) with the input channel last, CP = C rounded up to whole
// blocks, the extra lanes zero.
static void input_channel_last_kernel(float *Kc, const float *K, ck_conv2d_geometry g) {
    CK_PARALLEL_FOR(o, g.O, (double)input_channel_last_kernel_size(g), input_channel_last_kernel_row(Kc, K, g, o));
}

// Kp (O,KH,KW,VL) = K (O,C,KH,KW) with input channel c in lanes 2c and 2c+1, the lanes past 2C
// zero (input_grad_pairs).
static void input_paired_kernel(float *Kp, const float *K, ck_conv2d_geometry g) {
    const int taps = g.KH * g.KW;
    for (int o = 0; o < g.O; o++)
        for (int t = 0; t < taps; t++)
            for (int l = 0; l < VL; l++)
                Kp[((size_t)o * taps + t) * VL + l] = l / 2 < g.C ? K[((size_t)o * g.C + l / 2) * taps + t] : 0.0f;
}

// Along one axis, the elements whose taps are alike: a run start, start+step, ... (count of
// them). Inside [lo, hi] every element reaches all the taps of its residue mod the stride (the
// first tap is that residue, the last KS-1 or the one before it), so a residue's elements are one
// run; each element outside, where padding or the plane's end cuts taps off, is a run of its own.
typedef struct { int start, step, count; } tap_run;

typedef struct { int lo, hi, runs, stride; } tap_runs;

static tap_runs axis_runs(int L, int KS, int SS, int PS, int OS) {
    tap_runs a = {KS - 1 - PS, (OS - 1) * SS - PS, 0, SS};
    if (a.lo < 0) a.lo = 0;
    if (a.hi > L - 1) a.hi = L - 1;
    if (a.lo > a.hi) { a.lo = L; a.hi = L - 1; }  // no inside: every element on its own
    const int inside = a.hi - a.lo + 1;
    a.runs = a.lo + (inside < SS ? inside : SS) + (L - 1 - a.hi);
    return a;
}

static tap_run axis_run(tap_runs a, int i) {
    const int inside = a.hi - a.lo + 1, residues = inside < a.stride ? inside : a.stride;
    if (i < a.lo) return (tap_run){i, 1, 1};
    i -= a.lo;
    if (i < residues) return (tap_run){a.lo + i, a.stride, (a.hi - a.lo - i) / a.stride + 1};
    return (tap_run){a.hi + 1 + i - residues, 1, 1};
}

// XT elements of the input gradient that share their taps (kh0, kh0+SH, ... ≤ kh1; kw0, ... ≤
// kw1) for CV channel vectors, each lane summed over the taps kh, then kw, then o, in
// input_grad_sum's order. at[t] is element t's place in the block's plane (H,W,BW) and from[t] its
// first tap's output in a plane of dY; a tap further on is a row or column back for all of them.
// Per tap and o: CV weight vectors of Kc and XT broadcast values of dY. Ko is Kc at the block's
// first channel; dYn is dY at image n.
FORCE_INLINE void input_grad_tile(float *plane, const float *dYn, const float *Ko, ck_conv2d_geometry g,
                                  const int *at, const int *from, int kh0, int kh1, int kw0, int kw1, const int CV,
                                  const int XT) {
    const int BW = input_block_width(g), CP = input_channel_blocks(g) * BW;
    const size_t dYstep = (size_t)g.OH * g.OW, Kstep = (size_t)g.KH * g.KW * CP;
    vf acc[CK_IG_VECTORS][8];
    for (int j = 0; j < CV; j++)
        for (int t = 0; t < XT; t++) acc[j][t] = vsplat(0.0f);
    for (int kh = kh0, back = 0; kh <= kh1; kh += g.SH, back += g.OW) {
        for (int kw = kw0, tap = back; kw <= kw1; kw += g.SW, tap++) {
            const float *d = dYn - tap;
            const float *k = Ko + (size_t)(kh * g.KW + kw) * CP;
            for (int o = 0; o < g.O; o++, d += dYstep, k += Kstep) {
                vf w[CK_IG_VECTORS];
                for (int j = 0; j < CV; j++) w[j] = vload(k + j * VL);
                for (int t = 0; t < XT; t++) {
                    const vf in = vsplat(d[from[t]]);
                    for (int j = 0; j < CV; j++) acc[j][t] += in * w[j];
                }
            }
        }
    }
    for (int t = 0; t < XT; t++)
        for (int j = 0; j < CV; j++) vstore(plane + (size_t)at[t] * BW + j * VL, acc[j][t]);
}

// RT rows × CT columns of a pair of runs' elements, rows iy ..< iy+RT and columns ix ..< ix+CT
// of the pair (oy, ox: its first element's first tap's output), summed as input_grad_tile's. The
// elements of a row of a run read consecutive outputs of dY, so each broadcast is a row pointer
// plus a constant: input_grad_tile's 8 offsets of their own kept 8 pointers live over the loop
// over o, more than the registers left, reloaded from the stack for every multiply-add.
FORCE_INLINE void input_grad_rows(float *plane, const float *dYn, const float *Ko, ck_conv2d_geometry g, tap_run ry,
                                  tap_run rx, int oy, int ox, int iy, int ix, int kh0, int kh1, int kw0, int kw1,
                                  const int CV, const int RT, const int CT) {
    const int BW = input_block_width(g), CP = input_channel_blocks(g) * BW;
    const size_t dYstep = (size_t)g.OH * g.OW, Kstep = (size_t)g.KH * g.KW * CP;
    const float *first = dYn + (size_t)(oy + iy) * g.OW + ox + ix;
    vf acc[CK_IG_VECTORS][16];
    for (int j = 0; j < CV; j++)
        for (int e = 0; e < RT * CT; e++) acc[j][e] = vsplat(0.0f);
    for (int kh = kh0, back = 0; kh <= kh1; kh += g.SH, back += g.OW) {
        for (int kw = kw0, tap = back; kw <= kw1; kw += g.SW, tap++) {
            const float *d = first - tap;
            const float *k = Ko + (size_t)(kh * g.KW + kw) * CP;
            for (int o = 0; o < g.O; o++, d += dYstep, k += Kstep) {
                vf w[CK_IG_VECTORS];
                for (int j = 0; j < CV; j++) w[j] = vload(k + j * VL);
                for (int r = 0; r < RT; r++)
                    for (int t = 0; t < CT; t++) {
                        const vf in = vsplat(d[(size_t)r * g.OW + t]);
                        for (int j = 0; j < CV; j++) acc[j][r * CT + t] += in * w[j];
                    }
            }
        }
    }
    for (int r = 0; r < RT; r++)
        for (int t = 0; t < CT; t++) {
            const int at = (ry.start + (iy + r) * ry.step) * g.W + rx.start + (ix + t) * rx.step;
            for (int j = 0; j < CV; j++) vstore(plane + (size_t)at * BW + j * VL, acc[j][r * CT + t]);
        }
}

#if VL == 16
// input_grad_rows for at most 8 input channels (input_grad_pairs), RT rows × 8 columns: a vector
// holds two neighbouring elements of a row, the lanes of channel c being 2c (the first) and 2c+1,
// so every lane carries a term. Per tap and o: one weight vector of Kp (each channel in two lanes)
// and, per pair, the pair's two outputs of dY in one 64-bit broadcast. The same sums, in the same
// order, as input_grad_rows (lanes past 2C are zero weights, left out at the store).
FORCE_INLINE void input_grad_rows_paired(float *plane, const float *dYn, const float *Kp, ck_conv2d_geometry g,
                                         tap_run ry, tap_run rx, int oy, int ox, int iy, int ix, int kh0, int kh1,
                                         int kw0, int kw1, const int RT) {
    const size_t dYstep = (size_t)g.OH * g.OW, Kstep = (size_t)g.KH * g.KW * VL;
    const float *first = dYn + (size_t)(oy + iy) * g.OW + ox + ix;
    vf acc[16];
    for (int e = 0; e < RT * 4; e++) acc[e] = vsplat(0.0f);
    for (int kh = kh0, back = 0; kh <= kh1; kh += g.SH, back += g.OW) {
        for (int kw = kw0, tap = back; kw <= kw1; kw += g.SW, tap++) {
            const float *d = first - tap;
            const float *k = Kp + (size_t)(kh * g.KW + kw) * VL;
            for (int o = 0; o < g.O; o++, d += dYstep, k += Kstep) {
                const vf w = vload(k);
                for (int r = 0; r < RT; r++)
                    for (int p = 0; p < 4; p++) {
                        double two;
                        memcpy(&two, d + (size_t)r * g.OW + 2 * p, sizeof two);
                        const vf in = (vf)_mm512_set1_pd(two);
                        acc[r * 4 + p] += in * w;
                    }
            }
        }
    }
    const int BW = input_block_width(g);
    for (int r = 0; r < RT; r++)
        for (int p = 0; p < 4; p++) {
            const vf a = acc[r * 4 + p];
            const vf s = __builtin_shufflevector(a, a, 0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
            const int at = (ry.start + (iy + r) * ry.step) * g.W + rx.start + (ix + 2 * p) * rx.step;
            vstore8(plane + (size_t)at * BW, vpart8(s, 0));
            vstore8(plane + (size_t)(at + rx.step) * BW, vpart8(s, 1));
        }
}
#endif

// A pair of runs with rows of 8 or more elements in row tiles of 8 columns (on AVX-512 two rows
// with one channel vector, one with two: 16 accumulators; AVX2's 16 registers one row of one, 8,
// where two rows spilled and ran 16 % slower than the flat tiles) along each row (next_tile_of_8);
// rows left over one at a time.
FORCE_INLINE void input_grad_pair_rows(float *plane, const float *dYn, const float *Ko, const float *Kp,
                                       ck_conv2d_geometry g, tap_run ry, tap_run rx, int oy, int ox, int kh0, int kh1,
                                       int kw0, int kw1, const int CV) {
#if VL == 16
    // Two elements a vector: tiles of 4 rows (16 accumulators), the rows left over in one tile.
    if (Kp) {
        int iy = 0;
        for (; iy < ry.count; iy += 4) {
            const int rows = ry.count - iy < 4 ? ry.count - iy : 4;
            for (int ix = 0; ix >= 0; ix = next_tile_of_8(ix, rx.count)) {
                switch (rows) {
                case 4: input_grad_rows_paired(plane, dYn, Kp, g, ry, rx, oy, ox, iy, ix, kh0, kh1, kw0, kw1, 4); break;
                case 3: input_grad_rows_paired(plane, dYn, Kp, g, ry, rx, oy, ox, iy, ix, kh0, kh1, kw0, kw1, 3); break;
                case 2: input_grad_rows_paired(plane, dYn, Kp, g, ry, rx, oy, ox, iy, ix, kh0, kh1, kw0, kw1, 2); break;
                default: input_grad_rows_paired(plane, dYn, Kp, g, ry, rx, oy, ox, iy, ix, kh0, kh1, kw0, kw1, 1); break;
                }
            }
        }
        return;
    }
#else
    (void)Kp;
#endif
    const int RT = CK_VREGS == 32 && CV == 1 ? 2 : 1;
    int iy = 0;
    for (; iy + RT <= ry.count; iy += RT)
        for (int ix = 0; ix >= 0; ix = next_tile_of_8(ix, rx.count))
            input_grad_rows(plane, dYn, Ko, g, ry, rx, oy, ox, iy, ix, kh0, kh1, kw0, kw1, CV, RT, 8);
    for (; iy < ry.count; iy++)
        for (int ix = 0; ix >= 0; ix = next_tile_of_8(ix, rx.count))
            input_grad_rows(plane, dYn, Ko, g, ry, rx, oy, ox, iy, ix, kh0, kh1, kw0, kw1, CV, 1, 8);
}

// The block's plane: for each pair of a row run and a column run, its elements (all with the
// same taps) in row tiles where its rows have 8 elements or more, else in tiles of 8, whatever
// rows they span. A last tile short of its width repeats its
// last element, which stores the same value again and costs no more time than a narrower tile
// (whose fewer accumulators wait on the adds' latency); with two channel vectors a tile of 4
// already keeps the FMA units busy, so at most 4 elements left take one.
FORCE_INLINE void input_grad_block(float *plane, const float *dYn, const float *Ko, const float *Kp,
                                   ck_conv2d_geometry g, const int CV) {
    const tap_runs rows = axis_runs(g.H, g.KH, g.SH, g.PH, g.OH), cols = axis_runs(g.W, g.KW, g.SW, g.PW, g.OW);
    for (int i = 0; i < rows.runs; i++) {
        const tap_run ry = axis_run(rows, i);
        int kh0, kh1;
        taps_reaching(ry.start + g.PH, g.KH, g.SH, g.OH, &kh0, &kh1);
        // A run inside steps SH rows, one output row a step; a run outside is one element.
        const int oy = (ry.start + g.PH - kh0) / g.SH;
        for (int j = 0; j < cols.runs; j++) {
            const tap_run rx = axis_run(cols, j);
            int kw0, kw1;
            taps_reaching(rx.start + g.PW, g.KW, g.SW, g.OW, &kw0, &kw1);
            const int ox = (rx.start + g.PW - kw0) / g.SW;
            if (rx.count >= 8) {
                input_grad_pair_rows(plane, dYn, Ko, Kp, g, ry, rx, oy, ox, kh0, kh1, kw0, kw1, CV);
                continue;
            }
            int left = ry.count * rx.count, iy = 0, ix = 0;  // the next element: row iy, column ix of the pair
            while (left > 0) {
                const int XT = CV == 2 && left <= 4 ? 4 : 8;
                int at[8], from[8];
                for (int t = 0; t < XT; t++) {
                    if (t < left) {
                        at[t] = (ry.start + iy * ry.step) * g.W + rx.start + ix * rx.step;
                        from[t] = (oy + iy) * g.OW + ox + ix;
                        if (++ix == rx.count) { ix = 0; iy++; }
                    } else {
                        at[t] = at[t - 1];
                        from[t] = from[t - 1];
                    }
                }
                if (XT == 4) input_grad_tile(plane, dYn, Ko, g, at, from, kh0, kh1, kw0, kw1, CV, 4);
                else input_grad_tile(plane, dYn, Ko, g, at, from, kh0, kh1, kw0, kw1, CV, 8);
                left -= XT;
            }
        }
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

// The SIMD variant: item (image n, block b of input channels), the same elements, taps and order
// as input_grad_plane_any, built in the block's channel-last plane of dXt (cache-resident), then
// moved into the planes of dX. A last block of one vector takes the one-vector tiles.
static __attribute__((noinline)) void input_grad_item_channel_last(float *dX, float *dXt, const float *dY,
                                                                   const float *Kc, const float *Kp,
                                                                   ck_conv2d_geometry g, int n, int b) {
    const int BW = input_block_width(g), blocks = input_channel_blocks(g), c0 = b * BW;
    const size_t HW = (size_t)g.H * g.W;
    float *plane = dXt + ((size_t)n * blocks + b) * HW * BW;
    const float *Ko = Kc + c0;
    const float *dYn = dY + (size_t)n * g.O * g.OH * g.OW;
    if (input_block_vectors(g) == 2 && g.C - c0 > VL) input_grad_block(plane, dYn, Ko, NULL, g, 2);
    else input_grad_block(plane, dYn, Ko, Kp, g, 1);
    // Into dX: 8 positions × 8 channels at a time, transposed in registers; the last positions
    // one at a time.
    const int count = g.C - c0 < BW ? g.C - c0 : BW;
    float *dXb = dX + ((size_t)n * g.C + c0) * HW;
    size_t p = 0;
    for (; p + 8 <= HW; p += 8)
        for (int c8 = 0; c8 < count; c8 += 8) {
            vf8 r[8];
            for (int i = 0; i < 8; i++) r[i] = vload8(plane + (p + i) * BW + c8);
            vtranspose8(r);
            for (int l = 0; l < 8 && c8 + l < count; l++) vstore8(dXb + (size_t)(c8 + l) * HW + p, r[l]);
        }
    for (; p < HW; p++)
        for (int c = 0; c < count; c++) dXb[(size_t)c * HW + p] = plane[p * BW + c];
}

void conv_backward_input_any(ck_variant v, float *dX, const float *dY, const float *K, ck_conv2d_geometry g,
                             float *work) {
    if (v == CK_SIMD) {
        float *Kc = work, *Kp = input_grad_pairs(g) ? Kc + input_channel_last_kernel_size(g) : NULL;
        float *dXt = Kc + input_channel_last_kernel_size(g) + input_paired_kernel_size(g);
        const int blocks = input_channel_blocks(g);
        input_channel_last_kernel(Kc, K, g);
        if (Kp) input_paired_kernel(Kp, K, g);
        CK_PARALLEL_FOR(i, g.N * blocks, conv_flops(g),
                        input_grad_item_channel_last(dX, dXt, dY, Kc, Kp, g, i / blocks, i % blocks));
    } else {
        CK_PARALLEL_FOR(i, g.N * g.C, conv_flops(g), input_grad_item_scalar(dX, dY, K, g, i / g.C, i % g.C));
    }
}
