// The convolution's SIMD kernel gradient, stride 1:
// dK[o,c,kh,kw] = sum over n and the outputs (y, x) of X[n,c,y+kh,x+kw]·dY[n,o,y,x], a tiny output
// with its own loop. It runs as the forward pass does (conv_forward.c), over flat positions or
// along rows (conv_internal.h, along_rows; here for planes of at most 1024 outputs, below). Flat:
// output (y, x) is q = y·W + x, so tap (kh, kw) pairs dY at q with X at q + kh·W + kw, one vector
// load each for VL consecutive q's; dY is first copied wide, (N,O,QP) with rows W apart and zeros
// at x ≥ OW and past Q, so the positions that are not outputs add nothing. Rows: vectors from each
// row's start of dY as it is, the last moved left to end at OW with the lanes the one before
// counted zeroed. Padded so that OW = W (3×3 pad 1, 5×5 pad 2), on AVX-512: flat over X and dY as
// they are, the lanes whose input lies in the padding masked off each load (kernel_grad_masks), so
// neither a padded copy of X nor a wide one of dY is written.
#include "conv_internal.h"

// Along rows as the forward pass goes (along_rows), but for planes of at most 1024 outputs: down a
// column of vectors, the tile's OB planes of dY, a multiple of 4 KB apart in larger planes, fall in
// the same L1 sets row after row (a 64×64 plane puts 32 lines of a column's set where L1 has 12
// ways), and flat positions over the wide copy of dY, whose planes are not 4 KB apart, run faster
// (harness, one thread, 3×3 pad 1: 16x16x64x64->16 48 → 84 GFLOP/s, 16x3x48x48->32 48 → 58; at
// 32×32 and 28×28 along rows stays ahead: 91 against 59, 63 against 29).
static inline int kernel_grad_along_rows(ck_conv2d_geometry g) { return along_rows(g) && g.OH * g.OW <= 1024; }

// Q: the flat positions up to the last output; QP: Q rounded up to whole vectors.
static inline int flat_positions(ck_conv2d_geometry g) { return (g.OH - 1) * g.W + g.OW; }
static inline int flat_positions_padded(ck_conv2d_geometry g) { return (flat_positions(g) + VL - 1) / VL * VL; }

// dYw starts at the first 64-byte boundary of the workspace, so that its vectors, whole rows of
// QP floats, never straddle two cache lines (a straddling 64-byte load costs two).
size_t kernel_grad_flat_work_size(ck_conv2d_geometry g) {
    return kernel_grad_along_rows(g) ? 0 : (size_t)g.N * g.O * flat_positions_padded(g) + 16;
}

static float *aligned64(float *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

// Plane (n, o) of dYw: row y of dY at y·W, zeros between the rows and after the last. Each row's
// stretch of dYw goes a vector at a time, dY's values in a masked load (a memcpy and a memset
// call per row, 14 floats and 2 at Fashion-MNIST's second layer, had cost more than the copy).
static void wide_output_plane(float *dYw, const float *dY, ck_conv2d_geometry g, size_t p) {
    const int QP = flat_positions_padded(g);
    float *out = dYw + p * QP;
    const float *in = dY + p * g.OH * g.OW;
    for (int y = 0; y < g.OH; y++) {
        float *row = out + (size_t)y * g.W;
        const float *from = in + (size_t)y * g.OW;
        const int span = (y + 1 < g.OH ? (y + 1) * g.W : QP) - y * g.W;  // up to the next row
        for (int x = 0; x < span; x += VL) {
            const int lanes = span - x < VL ? span - x : VL;
            const int values = g.OW - x < 0 ? 0 : g.OW - x < lanes ? g.OW - x : lanes;
            const vf v = vload_first(from + x, values);
            // A whole vector where it ends within the plane: past the stretch, it writes into
            // the rows after, which are written later. Past QP begins the next plane, another
            // thread's.
            if (y * g.W + x + VL <= QP) vstore(row + x, v);
            else vstore_lanes(row + x, v, 0, lanes);
        }
    }
}

// Images per pass over a block of dK: as many as keep their planes of X[n,c] and dY[n,o] (OB
// channels) within about half of a 32 KB L1, so each pass over kernel rows finds them there.
static int kernel_grad_images(ck_conv2d_geometry g, int OB) {
    const int plane = is_padded(g) || kernel_grad_along_rows(g) ? g.OH * g.OW : flat_positions_padded(g);
    const int bytes = (int)sizeof(float) * (g.H * g.W + OB * plane);
    const int images = (16 * 1024) / bytes;
    return images < 1 ? 1 : images;
}

// One vector of positions: acc[(ob·KR + r)·KW + kw] += dY[o0+ob, at dq] · X[c, at xq + r·W + kw].
// X is read only in lanes < xlanes (flat: the rest of the last vector would lie past the plane,
// and dYw is zero there), dY only in lanes ≥ dfrom (rows: the last vector's lanes that the one
// before it counted).
FORCE_INLINE vf kernel_grad_input(const float *p, int xlanes, const uint16_t *xm, int t) {
#if VL == 16
    if (xm) return vload_masked(p, xm[t]);
#endif
    return vload_first(p, xlanes);
}
FORCE_INLINE vf kernel_grad_output(const float *p, int dfrom, int dto) {
    return dfrom > 0 || dto < VL ? vload_lanes(vsplat(0.0f), p, dfrom, dto) : vload(p);
}
// With HALVES (rows of 24, paired_row_ends) each vector holds two rows' last 8 positions: X's
// second half a row of X on (W), dY's `dnext` on.
FORCE_INLINE void kernel_grad_step_of(vf *acc, const float *xq, const float *dq, int W, size_t stride, const int OB,
                                      const int KR, const int KW, int xlanes, int dfrom, int dto, const uint16_t *xm,
                                      const int HALVES, int dnext) {
    // Whichever of the inputs (KR·KW) and the dY vectors (OB) are fewer are all loaded first and
    // the others one at a time, so that they, the accumulators and one more vector fit the
    // registers: 3 inputs beside 24 accumulators for 8 channels of a 3-wide kernel on AVX-512,
    // 2 dY vectors beside 10 for a 5-wide one in AVX2's 16 (5 inputs had spilled).
    if (KR * KW <= OB) {
        vf in[CK_TILE_MAX];
        for (int r = 0; r < KR; r++)
            for (int kw = 0; kw < KW; kw++) {
                const float *x = xq + r * W + kw;
                in[r * KW + kw] = HALVES ? vload_split(x, W)
                                         : kernel_grad_input(x, xlanes, xm, r * KW + kw);
            }
        for (int ob = 0; ob < OB; ob++) {
            const float *o = dq + ob * stride;
            const vf d = HALVES ? vload_split(o, dnext) : kernel_grad_output(o, dfrom, dto);
            for (int t = 0; t < KR * KW; t++) acc[ob * KR * KW + t] += d * in[t];
        }
    } else {
        vf d[CK_TILE_MAX];
        for (int ob = 0; ob < OB; ob++) {
            const float *o = dq + ob * stride;
            d[ob] = HALVES ? vload_split(o, dnext) : kernel_grad_output(o, dfrom, dto);
        }
        for (int r = 0; r < KR; r++)
            for (int kw = 0; kw < KW; kw++) {
                const float *x = xq + r * W + kw;
                const vf in = HALVES ? vload_split(x, W)
                                     : kernel_grad_input(x, xlanes, xm, r * KW + kw);
                for (int ob = 0; ob < OB; ob++) acc[(ob * KR + r) * KW + kw] += d[ob] * in;
            }
    }
}

FORCE_INLINE void kernel_grad_step(vf *acc, const float *xq, const float *dq, int W, size_t stride, const int OB,
                                   const int KR, const int KW, int xlanes, int dfrom, int dto, const uint16_t *xm) {
    kernel_grad_step_of(acc, xq, dq, W, stride, OB, KR, KW, xlanes, dfrom, dto, xm, 0, 0);
}

// Rows kh0 ..< kh0+KR of dK[o0 ..< o0+OB, c] over images n0 ..< n1, added to the running vector
// sums (OB·KR·KW of them, all constant, at most CK_TILE_MAX): per vector of positions the tile
// loads OB dY vectors and KR·KW shifted input vectors for OB·KR·KW fused multiply-adds. dY is dYw
// over flat positions, dY itself along rows and with masks (g padded, kernel_grad_masks).
FORCE_INLINE void kernel_grad_rows(vf *sums, const float *X, const float *dY, const uint16_t *masks, ck_conv2d_geometry g,
                                   int o0, const int OB, int c, int kh0, const int KR, int n0, int n1) {
    const int KW = g.KW;
    vf acc[CK_TILE_MAX];
    for (int t = 0; t < OB * KR * KW; t++) acc[t] = sums[t];
    if (masks) {
        const int Q = g.OH * g.OW, whole = Q / VL, taps = g.KH * KW;
        for (int n = n0; n < n1; n++) {
            // Tap (kh, kw) of position q reads X at q + (kh−PH)·W + kw−PW: from before the plane
            // for the first rows, but only under lanes its mask leaves on.
            const float *Xc = X + ((size_t)n * g.C + c) * g.H * g.W + ((ptrdiff_t)kh0 - g.PH) * g.W - g.PW;
            const float *dYn = dY + ((size_t)n * g.O + o0) * Q;
            for (int v = 0; v < whole; v++)
                kernel_grad_step(acc, Xc + v * VL, dYn + v * VL, g.W, Q, OB, KR, KW, VL, 0, VL,
                                 masks + (size_t)v * taps + kh0 * KW);
            if (Q % VL)
                kernel_grad_step(acc, Xc + whole * VL, dYn + whole * VL, g.W, Q, OB, KR, KW, VL, 0, Q % VL,
                                 masks + (size_t)whole * taps + kh0 * KW);
        }
    } else if (kernel_grad_along_rows(g)) {
        const size_t plane = (size_t)g.OH * g.OW;
        const int whole = g.OW / VL, rem = g.OW % VL;
        for (int n = n0; n < n1; n++) {
            const float *Xc = X + ((size_t)n * g.C + c) * g.H * g.W + (size_t)kh0 * g.W;
            const float *dYn = dY + ((size_t)n * g.O + o0) * plane;
            // Down the columns innermost: long loops with constant strides, the partial vectors
            // (masked loads) in a loop of their own.
            for (int v = 0; v < whole; v++)
                for (int y = 0; y < g.OH; y++)
                    kernel_grad_step(acc, Xc + (size_t)y * g.W + v * VL, dYn + (size_t)y * g.OW + v * VL, g.W, plane,
                                     OB, KR, KW, VL, 0, VL, NULL);
            int y = 0;
            if (paired_row_ends(g))  // rows of 24: two rows' last 8 positions a vector
                for (; y + 2 <= g.OH; y += 2)
                    kernel_grad_step_of(acc, Xc + (size_t)y * g.W + VL, dYn + (size_t)y * g.OW + VL, g.W, plane, OB, KR,
                                        KW, VL, 0, VL, NULL, 1, g.OW);
            for (; rem && y < g.OH; y++)
                kernel_grad_step(acc, Xc + (size_t)y * g.W + g.OW - VL, dYn + (size_t)y * g.OW + g.OW - VL, g.W, plane,
                                 OB, KR, KW, VL, VL - rem, VL, NULL);
        }
    } else {
        const int Q = flat_positions(g), QP = flat_positions_padded(g), whole = Q / VL;
        for (int n = n0; n < n1; n++) {
            const float *Xc = X + ((size_t)n * g.C + c) * g.H * g.W + (size_t)kh0 * g.W;
            const float *dYn = dY + ((size_t)n * g.O + o0) * QP;
            for (int v = 0; v < whole; v++)
                kernel_grad_step(acc, Xc + v * VL, dYn + v * VL, g.W, QP, OB, KR, KW, VL, 0, VL, NULL);
            if (Q % VL) kernel_grad_step(acc, Xc + whole * VL, dYn + whole * VL, g.W, QP, OB, KR, KW, Q % VL, 0, VL, NULL);
        }
    }
    for (int t = 0; t < OB * KR * KW; t++) sums[t] = acc[t];
}

// dK[o,c] for channels o0 ..< o0+OB and input channels c0 ..< c1, KR kernel rows a pass (KH a
// multiple of KR). The images go in groups that fit L1 (kernel_grad_images); each group makes one
// pass per input channel and KR kernel rows, carrying their vector sums over from the previous
// group, so the group's dY planes, read from L2 once, serve every input channel from L1 (one
// input channel at a time, they had come from L2 again for each). Each dK element is summed over
// n, then vectors of positions, in that order, then across lanes: a fixed order.
FORCE_INLINE void kernel_grad_block(float *dK, const float *X, const float *dY, const uint16_t *masks,
                                    ck_conv2d_geometry g, int o0, const int OB, const int KR, int c0, int c1) {
    const int KW = g.KW, passes = g.KH / KR, group = kernel_grad_images(g, OB), CB = c1 - c0;
    vf sums[CB][passes][CK_TILE_MAX];  // on the stack: kernel_grad_input_channels keeps it within 32 KB
    for (int c = 0; c < CB; c++)
        for (int i = 0; i < passes; i++)
            for (int t = 0; t < OB * KR * KW; t++) sums[c][i][t] = vsplat(0.0f);
    for (int n0 = 0; n0 < g.N; n0 += group) {
        const int n1 = n0 + group < g.N ? n0 + group : g.N;
        for (int c = 0; c < CB; c++)
            for (int i = 0; i < passes; i++) kernel_grad_rows(sums[c][i], X, dY, masks, g, o0, OB, c0 + c, i * KR, KR, n0, n1);
    }
    for (int c = 0; c < CB; c++)
        for (int ob = 0; ob < OB; ob++)
            for (int i = 0; i < passes; i++)
                for (int r = 0; r < KR; r++)
                    for (int kw = 0; kw < KW; kw++)
                        dK[(((size_t)(o0 + ob) * g.C + c0 + c) * g.KH + i * KR + r) * KW + kw] =
                            vsum(sums[c][i][(ob * KR + r) * KW + kw]);
}

// Kernels wider than a tile: one tap at a time, a dot product over n and the positions in one
// vector of sums, the same order as the tiles'.
static void kernel_grad_taps(float *dK, const float *X, const float *dYw, ck_conv2d_geometry g, int o, int c) {
    const int Q = flat_positions(g), QP = flat_positions_padded(g), whole = Q / VL;
    for (int kh = 0; kh < g.KH; kh++)
        for (int kw = 0; kw < g.KW; kw++) {
            vf acc = vsplat(0.0f);
            for (int n = 0; n < g.N; n++) {
                const float *Xc = X + ((size_t)n * g.C + c) * g.H * g.W + (size_t)kh * g.W + kw;
                const float *dYo = dYw + ((size_t)n * g.O + o) * QP;
                for (int v = 0; v < whole; v++) acc += vload(dYo + v * VL) * vload(Xc + v * VL);
                if (Q % VL) acc += vload(dYo + whole * VL) * vload_lanes(vsplat(0.0f), Xc + whole * VL, 0, Q % VL);
            }
            dK[(((size_t)o * g.C + c) * g.KH + kh) * g.KW + kw] = vsum(acc);
        }
}

// Tiles: 3×3 kernels a row a pass, for 8 output channels on AVX-512 (24 accumulators; 3 input
// vectors, which cross cache lines, serve 8 channels) and 4 on AVX2, a last few channels all 9
// taps of one channel a pass; 5-wide kernels a row a pass, for 4 channels on AVX-512 (20) and 2
// on AVX2; other kernels a row and a channel a pass (KW ≤ CK_TILE_MAX).
#define KG_OB3 (CK_VREGS == 32 ? 8 : 4)
#define KG_OB5 (CK_VREGS == 32 ? 4 : 2)
static int kernel_grad_channels(ck_conv2d_geometry g) {
    return g.KH == 3 && g.KW == 3 ? KG_OB3 : g.KW == 5 ? KG_OB5 : 1;
}

// Input channels per item: as many as keep the block's vector sums (per channel KH·OB·KW vectors)
// within 32 KB, at most 8 (so two cores still get several items each).
static int kernel_grad_input_channels(ck_conv2d_geometry g) {
    const int bytes = (int)(sizeof(vf) * g.KH * kernel_grad_channels(g) * g.KW);
    const int count = (32 * 1024) / bytes;
    return count < 1 ? 1 : count > 8 ? 8 : count;
}

// Item (block b of output channels, block cb of input channels) of the kernel gradient. Not
// inlined: it holds every tile shape, and is called from both loops of CK_PARALLEL_FOR.
static __attribute__((noinline)) void kernel_grad_item(float *dK, const float *X, const float *dY,
                                                       const uint16_t *masks, ck_conv2d_geometry g, int b, int cb) {
    const int OB = kernel_grad_channels(g), o0 = b * OB, count = g.O - o0 < OB ? g.O - o0 : OB;
    const int CB = kernel_grad_input_channels(g), c0 = cb * CB, c1 = c0 + CB < g.C ? c0 + CB : g.C;
    if (g.KH == 3 && g.KW == 3) {
        const ck_conv2d_geometry g3 = with_kernel(g, 3, 3);
        if (count == KG_OB3) kernel_grad_block(dK, X, dY, masks, g3, o0, KG_OB3, 1, c0, c1);
        else for (int o = o0; o < o0 + count; o++) kernel_grad_block(dK, X, dY, masks, g3, o, 1, 3, c0, c1);
    } else if (g.KW == 5) {
        const ck_conv2d_geometry g5 = with_kernel(g, g.KH, 5);
        if (count == KG_OB5) kernel_grad_block(dK, X, dY, masks, g5, o0, KG_OB5, 1, c0, c1);
        else for (int o = o0; o < o0 + count; o++) kernel_grad_block(dK, X, dY, masks, g5, o, 1, 1, c0, c1);
    } else if (g.KW <= CK_TILE_MAX) {
        kernel_grad_block(dK, X, dY, masks, g, o0, 1, 1, c0, c1);
    } else {  // flat positions: kernel_grad_along_rows takes no such kernel
        for (int c = c0; c < c1; c++) kernel_grad_taps(dK, X, dY, g, o0, c);
    }
}

// Lane masks of the padded kernel gradient: for vector v of output positions and tap (kh, kw),
// masks[(v·KH + kh)·KW + kw] has lane l set where position q = v·VL + l is an output and its input
// (y + kh − PH, x + kw − PW) lies inside X. At most KERNEL_GRAD_MASKS_MAX (16 KB, on the calling
// thread's stack, read by the team): planes to about 120×120 with a 3×3 kernel.
static int64_t kernel_grad_mask_count(ck_conv2d_geometry g) {
    return ((int64_t)g.OH * g.OW + VL - 1) / VL * g.KH * g.KW;
}
#define KERNEL_GRAD_MASKS_MAX 8192

// Harness, one thread, 3×3 pad 1 (GFLOP/s, the padded copy and flat or row kernels before):
// 64x1x28x28->32 63 → 72, 64x8x28x28->16 78 → 101, 64x32x14x14->40 106 → 107 (two threads 183 →
// 203: no copy to share). Masked loads need AVX-512's mask registers; AVX2 keeps the padded copy.
int kernel_grad_masks_padding(ck_conv2d_geometry g) {
    return VL == 16 && CK_VREGS == 32 && is_padded(g) && !is_strided(g) && g.OW == g.W && g.KW <= CK_TILE_MAX &&
           kernel_grad_mask_count(g) <= KERNEL_GRAD_MASKS_MAX;
}

// Position by position, (y, x) stepped along, so that no division is taken per lane and tap.
static void kernel_grad_masks(uint16_t *masks, ck_conv2d_geometry g) {
    const int Q = g.OH * g.OW, taps = g.KH * g.KW;
    memset(masks, 0, sizeof(uint16_t) * (size_t)kernel_grad_mask_count(g));
    for (int q = 0, y = 0, x = 0; q < Q; q++) {
        uint16_t *m = masks + (size_t)(q / VL) * taps;
        for (int kh = 0; kh < g.KH; kh++) {
            const int iy = y + kh - g.PH;
            if (iy < 0 || iy >= g.H) continue;
            for (int kw = 0; kw < g.KW; kw++) {
                const int ix = x + kw - g.PW;
                if (ix >= 0 && ix < g.W) m[kh * g.KW + kw] |= (uint16_t)(1u << (q % VL));
            }
        }
        if (++x == g.OW) x = 0, y++;
    }
}

// work: kernel_grad_flat_work_size(g) floats. g unpadded, or padded as kernel_grad_masks_padding
// takes (no work).
void conv_backward_kernel_simd(float *dK, const float *X, const float *dY, ck_conv2d_geometry g, float *work) {
    uint16_t mask_buffer[is_padded(g) ? kernel_grad_mask_count(g) : 1];
    const uint16_t *masks = NULL;
    if (is_padded(g)) {
        kernel_grad_masks(mask_buffer, g);
        masks = mask_buffer;
    } else if (!kernel_grad_along_rows(g)) {
        work = aligned64(work);
        CK_PARALLEL_FOR(p, g.N * g.O, conv_flops(g), wide_output_plane(work, dY, g, (size_t)p));
        dY = work;
    }
    const int OB = kernel_grad_channels(g), blocks = (g.O + OB - 1) / OB;
    const int CB = kernel_grad_input_channels(g), cblocks = (g.C + CB - 1) / CB;
    CK_PARALLEL_FOR(i, blocks * cblocks, conv_flops(g), kernel_grad_item(dK, X, dY, masks, g, i / cblocks, i % cblocks));
}
