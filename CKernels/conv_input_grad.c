// The convolution's SIMD input gradient for stride 1 and any padding, two ways, whichever fills
// the vector lanes better (input_grad_by_scatter):
//
// As a forward pass: the derivation's dX[n,c] = sum_o dY[n,o] *full K[o,c] is the valid
// correlation of dY, zero-padded by KH-1-PH rows and KW-1-PW columns on each side, with K[o,c]
// rotated 180°; padding PH, PW of the forward pass only cuts the full result down to the input's
// size. So K is turned into Kt (C,O,KH,KW), Kt[c,o] = rot180(K[o,c]), dY is padded, and the
// forward pass's tiles (conv_forward.c) do the rest. Its lanes also multiply the padding's zeros:
// all but OH·OW of every H·W outputs' taps, none for a padded 3×3 layer, more than half on a small
// valid plane with a 5×5 kernel.
//
// As a scatter, along rows of dY at least one vector wide: each row of dY[n,o], times the tap
// K[o,c,kh,kw], lands on row y+kh of dX[n,c], shifted right by kw, and no multiply-add meets a
// padding zero. For padding, over a padded dX in the workspace, then cropped.
//
// In pairs of rows, for planes of dY half a vector wide (8 columns on AVX-512, where neither of
// the above fills the lanes: LeNet's and the fast preset's second layer, 8×8 planes under a 5×5
// kernel): a vector of dY is two of its rows, and each tap's products land on two rows of dX.
// See input_grad_pairs_tile.
//
// Each element of dX is summed in a fixed order either way (different orders for the three).
#include "conv_internal.h"

// The forward pass that computes g's input gradient: X = padded dY (N,O,OH,OW), K = Kt, Y = dX
// (N,C,H,W).
ck_conv2d_geometry input_grad_as_forward(ck_conv2d_geometry g) {
    return (ck_conv2d_geometry){.N = g.N, .C = g.O, .H = g.OH, .W = g.OW, .O = g.C, .KH = g.KH, .KW = g.KW,
                                .PH = g.KH - 1 - g.PH, .PW = g.KW - 1 - g.PW, .SH = 1, .SW = 1, .OH = g.H, .OW = g.W};
}

// ---- the scatter ----

// Read in place of a dY row that lies outside the plane (stride 0: the same zeros for every o).
static const float zero_row[VL];

// v moved up by t lanes (0 ≤ t < VL, a constant): *lo gets lanes t.. (zeros below), *hi the t
// lanes pushed out at the top (in its lanes 0 ..< t, zeros above).
FORCE_INLINE void shift_lanes(vf v, const int t, vf *lo, vf *hi) {
    const vf z = vsplat(0.0f);
    switch (t) {
#define CK_SHIFT_CASE(T) case T: *lo = CK_ALIGN(z, v, T); *hi = CK_ALIGN(v, z, T); break;
    CK_SHIFT_CASE(1) CK_SHIFT_CASE(2) CK_SHIFT_CASE(3) CK_SHIFT_CASE(4)
    CK_SHIFT_CASE(5) CK_SHIFT_CASE(6) CK_SHIFT_CASE(7)
#if VL == 16
    CK_SHIFT_CASE(8) CK_SHIFT_CASE(9) CK_SHIFT_CASE(10) CK_SHIFT_CASE(11)
    CK_SHIFT_CASE(12) CK_SHIFT_CASE(13) CK_SHIFT_CASE(14) CK_SHIFT_CASE(15)
#endif
#undef CK_SHIFT_CASE
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
FORCE_INLINE void input_grad_tile(float *dXc, const float *dYn, const float *Kc, ck_conv2d_geometry g, int o0, int o1,
                                  int j0, int x0, int kw0, const int TW, const int R, const int masked, vi mask) {
    vf acc[12];
    for (int t = 0; t < TW * R; t++) acc[t] = vsplat(0.0f);
    const size_t plane = (size_t)g.OH * g.OW, kstride = (size_t)g.C * g.KH * g.KW;
    const int kh0 = j0 - g.OH + 1 > 0 ? j0 - g.OH + 1 : 0, kh1 = j0 + R - 1 < g.KH - 1 ? j0 + R - 1 : g.KH - 1;
    for (int kh = kh0; kh <= kh1; kh++) {
        const float *src[12];
        size_t step[12];
        for (int r = 0; r < R; r++) {
            const int y = j0 + r - kh;
            const int inside = y >= 0 && y < g.OH;
            src[r] = inside ? dYn + (size_t)o0 * plane + (size_t)y * g.OW + x0 : zero_row;
            step[r] = inside ? plane : 0;
        }
        const float *k = Kc + o0 * kstride + kh * g.KW + kw0;
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
        float *p = dXc + (size_t)(j0 + r) * g.W + x0 + kw0;
        vstore(p, vload(p) + lo);
        if (TW == 1) continue;
        if (j0 + r < g.H - 1 || x0 + kw0 + 2 * VL <= g.W) {
            vstore(p + VL, vload(p + VL) + hi);
        } else {
            for (int l = 0; l < VL && x0 + kw0 + VL + l < g.W; l++) p[VL + l] += hi[l];
        }
    }
}

// Rows j0 ..< j0+R of dX[n,c]: every column vector of dY and group of TW taps.
FORCE_INLINE void input_grad_rows(float *dXc, const float *dYn, const float *Kc, ck_conv2d_geometry g, int j0,
                                  const int TW, const int R, int group, vi mask) {
    const int nvec = g.OW / VL;
    for (int o0 = 0; o0 < g.O; o0 += group) {
        const int o1 = o0 + group < g.O ? o0 + group : g.O;
        for (int xv = 0; xv < nvec; xv++)
            for (int kw0 = 0; kw0 < g.KW; kw0 += TW)
                input_grad_tile(dXc, dYn, Kc, g, o0, o1, j0, xv * VL, kw0, TW, R, 0, mask);
        for (int kw0 = 0; g.OW % VL != 0 && kw0 < g.KW; kw0 += TW)
            input_grad_tile(dXc, dYn, Kc, g, o0, o1, j0, g.OW - VL, kw0, TW, R, 1, mask);
    }
}

// Channels of dY per pass of a row tile: as many as keep the RT+KH-1 rows a tile reads from each
// within about half of L1 (16 KB), so every column vector and kernel row after the first finds
// them there. More passes cost one more read-modify-write of dX per tile.
static int input_grad_group(ck_conv2d_geometry g, int RT) {
    const int bytes = (int)sizeof(float) * (RT + g.KH - 1) * g.OW;
    const int group = (16 * 1024) / bytes;
    return group < 8 ? 8 : group;
}

// Plane dX[n,c]: zeroed, then in tiles of RT rows (TW·RT accumulators: 10 for 5-wide kernels,
// 12 for 3-wide, 8 otherwise). Each element of dX is summed over kh and o in registers, then
// over (column vector, tap group) in that order in memory, whatever the thread: a fixed order.
// Needs OW ≥ VL.
FORCE_INLINE void input_grad_plane(float *dX, const float *dY, const float *K, ck_conv2d_geometry g, int n, int c,
                                   const int TW, const int RT) {
    float *dXc = dX + ((size_t)n * g.C + c) * g.H * g.W;
    const float *dYn = dY + (size_t)n * g.O * g.OH * g.OW;
    const float *Kc = K + (size_t)c * g.KH * g.KW;
    memset(dXc, 0, sizeof(float) * g.H * g.W);
    const int group = input_grad_group(g, RT);
    const int rem = g.OW % VL;
    vi mask;  // lanes of the ragged last vector not covered by the full ones
    for (int l = 0; l < VL; l++) mask[l] = l >= VL - rem ? -1 : 0;
    int j0 = 0;
    for (; j0 + RT <= g.H; j0 += RT) input_grad_rows(dXc, dYn, Kc, g, j0, TW, RT, group, mask);
    // The rows left over (fewer than RT, a power of two) in tiles of RT/2, RT/4, ... 1 rows:
    // a constant R for each keeps the accumulators in registers.
    const int left = g.H - j0;
    if (RT > 4 && (left & 4)) { input_grad_rows(dXc, dYn, Kc, g, j0, TW, 4, group, mask); j0 += 4; }
    if (RT > 2 && (left & 2)) { input_grad_rows(dXc, dYn, Kc, g, j0, TW, 2, group, mask); j0 += 2; }
    if (RT > 1 && (left & 1)) input_grad_rows(dXc, dYn, Kc, g, j0, TW, 1, group, mask);
}

// Item (image n, input channel c) of the scatter; see forward_item.
static __attribute__((noinline)) void scatter_item(float *dX, const float *dY, const float *K, ck_conv2d_geometry g,
                                                      int n, int c) {
    if (g.KH == 3 && g.KW == 3) input_grad_plane(dX, dY, K, with_kernel(g, 3, 3), n, c, 3, 4);
    else if (g.KH == 5 && g.KW == 5) input_grad_plane(dX, dY, K, with_kernel(g, 5, 5), n, c, 5, 2);
    else if (g.KW == 3) input_grad_plane(dX, dY, K, with_kernel(g, g.KH, 3), n, c, 3, 4);
    else if (g.KW == 5) input_grad_plane(dX, dY, K, with_kernel(g, g.KH, 5), n, c, 5, 2);
    else input_grad_plane(dX, dY, K, g, n, c, 1, 8);
}

// The scatter over an unpadded dX (N,C,H,W), stride 1, OW ≥ VL.
static void conv_backward_input_scatter(float *dX, const float *dY, const float *K, ck_conv2d_geometry g) {
    CK_PARALLEL_FOR(i, g.N * g.C, conv_flops(g), scatter_item(dX, dY, K, g, i / g.C, i % g.C));
}

// ---- in pairs of rows ----

// Rows of an image's planes of dY in the pairs' copy: KH−1 zero rows above and KH below (one
// more for the last pair of an odd plane, whose second row is not written).
static inline int pairs_rows(ck_conv2d_geometry g) { return g.OH + 2 * g.KH - 1; }

// Whether dX goes in pairs of rows: 16 lanes (with 8, a row of 8 is a whole vector: the
// scatter's), OW is half a vector (two rows of dY fill one), two rows or more, stride 1, no
// padding, rows of dX within a vector, a 3- or 5-wide kernel (the tiles' constants), and an
// image's copy of dY within PADDED_IMAGE_MAX.
static int by_row_pairs(ck_conv2d_geometry g) {
    return VL == 16 && 2 * g.OW == VL && g.OH >= 2 && !is_padded(g) && !is_strided(g) && g.W <= VL &&
           (g.KW == 3 || g.KW == 5) && (int64_t)g.O * pairs_rows(g) * g.OW <= PADDED_IMAGE_MAX;
}

// Lanes 0 ..< VL/2 of a (one row) moved up to t ..< t + VL/2, zeros elsewhere; and lanes
// VL/2 ..< VL (the next row) moved down to the same place: the upper half shifted up by VL/2 + t
// comes out at the top. t (a tap, < VL/2) a constant.
FORCE_INLINE vf low_row_at(vf a, vi low, const int t) {
    vf lo, hi;
    shift_lanes((vf)((vi)a & low), t, &lo, &hi);
    return lo;  // hi: the zeros of the upper half
}
FORCE_INLINE vf high_row_at(vf a, vi low, const int t) {
    vf lo, hi;
    shift_lanes((vf)((vi)a & ~low), VL / 2 + t, &lo, &hi);
    return hi;
}

// Rows j0 ..< j0+2P of dX[n,c] (dXc), P pairs: per pair p and tap column kw a vector of sums,
//   acc[p][kw] = sum over o, kh of K[o,c,kh,kw] · (rows y, y+1 of dY[n,o]),  y = j0 + 2p − kh,
// whose lower half lands on row j0+2p of dX at columns kw ..< kw+OW and upper half on the row
// after. dYp is the image's copy with zero rows around each plane (pairs_rows), so a pair that
// reaches one row past the plane reads a zero row there; a pair entirely outside is skipped. At
// LeNet's 12 rows 22 (pair, kh) vectors are left of 30, against 64 of 144 positions for the
// forward pass over padded dY. Per (o, kh) the tile loads up to P vectors and KW weights for
// P·KW multiply-adds. Then each row sums its KW shifted halves, kw in order, and is written
// whole: every element of dX is summed over o and kh in order, then over kw.
FORCE_INLINE void input_grad_pairs_tile(float *dXc, const float *dYp, const float *Kc, ck_conv2d_geometry g, int j0,
                                        const int P, const int KH, const int KW) {
    const int half = VL / 2, R = pairs_rows(g);
    const size_t kstride = (size_t)g.C * KH * KW;
    vf acc[3][5];
    for (int p = 0; p < P; p++)
        for (int kw = 0; kw < KW; kw++) acc[p][kw] = vsplat(0.0f);
    // Bit p·KH + kh: the pair's rows y, y+1 meet the plane. The others read only zero rows and
    // are skipped, a branch that takes the same way for every o.
    unsigned live = 0;
    for (int p = 0; p < P; p++)
        for (int kh = 0; kh < KH; kh++) {
            const int y = j0 + 2 * p - kh;
            if (y >= -1 && y < g.OH) live |= 1u << (p * KH + kh);
        }
    for (int o = 0; o < g.O; o++) {
        // Row y of the plane is row y + KH − 1 of its copy.
        const float *dYo = dYp + ((size_t)o * R + j0 + KH - 1) * half, *k = Kc + (size_t)o * kstride;
        for (int kh = 0; kh < KH; kh++) {
            vf w[5];
            for (int kw = 0; kw < KW; kw++) w[kw] = vsplat(k[kh * KW + kw]);
            for (int p = 0; p < P; p++) {
                if (!((live >> (p * KH + kh)) & 1)) continue;
                const vf d = vload(dYo + (ptrdiff_t)(2 * p - kh) * half);
                for (int kw = 0; kw < KW; kw++) acc[p][kw] += w[kw] * d;
            }
        }
    }
    vi low;
    for (int l = 0; l < VL; l++) low[l] = l < half ? -1 : 0;
    for (int p = 0; p < P; p++) {
        const int j = j0 + 2 * p;
        vf top = low_row_at(acc[p][0], low, 0), bottom = high_row_at(acc[p][0], low, 0);
        for (int kw = 1; kw < KW; kw++) {
            top += low_row_at(acc[p][kw], low, kw);
            bottom += high_row_at(acc[p][kw], low, kw);
        }
        vstore_lanes(dXc + (size_t)j * g.W, top, 0, g.W);
        if (j + 1 < g.H) vstore_lanes(dXc + (size_t)(j + 1) * g.W, bottom, 0, g.W);
    }
}

// Image n of dX: its planes of dY copied between zero rows on the stack, once for every input
// channel, then each plane dX[n,c] in tiles of three pairs of rows (15 sums for a 5-wide kernel,
// 5 weights and a vector of dY beside them), the rows left over in pairs and a last row alone.
FORCE_INLINE void input_grad_pairs_image(float *dX, const float *dY, const float *K, ck_conv2d_geometry g, int n,
                                         const int KH, const int KW) {
    const int R = pairs_rows(g), plane = g.OH * g.OW;
    float dYp[g.O * R * g.OW];  // ≤ PADDED_IMAGE_MAX (by_row_pairs)
    for (int o = 0; o < g.O; o++) {
        float *to = dYp + (size_t)o * R * g.OW;
        memset(to, 0, sizeof(float) * (KH - 1) * g.OW);
        memcpy(to + (KH - 1) * g.OW, dY + ((size_t)n * g.O + o) * plane, sizeof(float) * plane);
        memset(to + (KH - 1 + g.OH) * g.OW, 0, sizeof(float) * KH * g.OW);
    }
    for (int c = 0; c < g.C; c++) {
        float *dXc = dX + ((size_t)n * g.C + c) * g.H * g.W;
        const float *Kc = K + (size_t)c * KH * KW;
        int j0 = 0;
        for (; j0 + 6 <= g.H; j0 += 6) input_grad_pairs_tile(dXc, dYp, Kc, g, j0, 3, KH, KW);
        for (; j0 < g.H; j0 += 2) input_grad_pairs_tile(dXc, dYp, Kc, g, j0, 1, KH, KW);  // a last row alone too
    }
}

static __attribute__((noinline)) void pairs_image(float *dX, const float *dY, const float *K, ck_conv2d_geometry g,
                                                  int n) {
    if (g.KH == 5 && g.KW == 5) input_grad_pairs_image(dX, dY, K, with_kernel(g, 5, 5), n, 5, 5);
    else if (g.KH == 3 && g.KW == 3) input_grad_pairs_image(dX, dY, K, with_kernel(g, 3, 3), n, 3, 3);
    else if (g.KW == 5) input_grad_pairs_image(dX, dY, K, g, n, g.KH, 5);
    else input_grad_pairs_image(dX, dY, K, g, n, g.KH, 3);
}

// ---- as a forward pass ----

// The lanes that carry a term each way: the scatter's rows of OW in vectors of VL (only where
// OW ≥ VL); the forward pass's W outputs of every W+KW−1 flat positions, times the share of its
// taps that are not padding, OH·OW of every H·W.
static double scatter_fill(ck_conv2d_geometry g) {
    return g.OW < VL ? 0.0 : (double)g.OW / (VL * ((g.OW + VL - 1) / VL));
}
static double forward_fill(ck_conv2d_geometry g) {
    return (double)g.W / (g.W + g.KW - 1) * ((double)g.OH * g.OW) / ((double)g.H * g.W);
}

// The scatter where it fills a quarter more lanes or better; else the forward pass, the faster at
// equal fill (fashion's 14-wide layer with 8 lanes: 66 GFLOP/s against 45) and still at 1/8 to
// 1/5 fewer lanes (harness, one thread, GFLOP/s, scatter against forward, 16 lanes / 8 lanes:
// 64x64x32x32->64,3x3p1 55 / 37 against 145 / 80; 64x32x16x16->32,3x3p1 99 / 62 against 132 / 74;
// 64x32x34x34->32,3x3 62 / 42 against 109 / 60). At 2/5 more lanes (18×18 planes, 3×3) they tie
// with 16 lanes and the scatter wins with 8 (57 against 51, 61 against 49); at LeNet's 3× (8 lanes)
// it runs at 62 against 25. Below 4 input channels (the forward pass's 4 output channels a tile)
// the forward pass runs a channel a tile and the scatter wherever it fills more lanes (a first
// layer's 64x1x28x28->32,3x3: 57 against 20).
static int by_scatter(ck_conv2d_geometry g) { return scatter_fill(g) > (g.C >= 4 ? 1.25 : 1.0) * forward_fill(g); }

// The lanes that carry a position of dX (the forward pass's zero taps left out: against the
// channel-last kernel, which fares worse on the planes that have many of them, see
// input_grad_channel_last).
double input_grad_lane_fill(ck_conv2d_geometry g) {
    if (by_row_pairs(g)) return 1.0;
    return by_scatter(g) ? scatter_fill(g) : (double)g.W / (g.W + g.KW - 1);
}

size_t input_grad_work_size(ck_conv2d_geometry g) {
    if (by_row_pairs(g)) return 0;
    if (by_scatter(g)) return is_padded(g) ? padded_size(g) : 0;
    const ck_conv2d_geometry t = input_grad_as_forward(g);
    const size_t padded = padded_image_size(t) <= PADDED_IMAGE_MAX ? 0 : padded_size(t);
    return (size_t)g.O * g.C * g.KH * g.KW + padded;
}

// Input channel c of Kt: Kt[c,o,kh,kw] = K[o,c,KH-1-kh,KW-1-kw].
static void turned_kernel_channel(float *Kt, const float *K, ck_conv2d_geometry g, int c) {
    const int taps = g.KH * g.KW;
    for (int o = 0; o < g.O; o++) {
        const float *from = K + ((size_t)o * g.C + c) * taps;
        float *to = Kt + ((size_t)c * g.O + o) * taps;
        for (int t = 0; t < taps; t++) to[t] = from[taps - 1 - t];
    }
}

// Image n of dX: its dY padded into dYp, then the forward pass over it (t is the forward geometry).
static void input_grad_image_in(float *dX, const float *dY, const float *Kt, ck_conv2d_geometry t, int n,
                                float *dYp) {
    conv_pad_image(dYp, dY, t, n);
    ck_conv2d_geometry one = without_padding(t);
    one.N = 1;
    conv_forward_simd_image(dX + (size_t)n * t.O * t.OH * t.OW, NULL, dYp, Kt, NULL, CK_BIAS_NONE, one);
}

// The same, dY padded on the stack (slots NULL, padded_image_size(t) ≤ PADDED_IMAGE_MAX) or into
// slot n of slots (conv_internal.h).
static void input_grad_image(float *dX, const float *dY, const float *Kt, ck_conv2d_geometry t, int n, float *slots) {
    if (slots) return input_grad_image_in(dX, dY, Kt, t, n, slots + (size_t)n * padded_image_size(t));
    float dYp[padded_image_size(t)];
    input_grad_image_in(dX, dY, Kt, t, n, dYp);
}

// work: input_grad_work_size(g) floats.
void conv_backward_input_simd(float *dX, const float *dY, const float *K, ck_conv2d_geometry g, float *work) {
    if (by_row_pairs(g)) {
        CK_PARALLEL_FOR(n, g.N, conv_flops(g), pairs_image(dX, dY, K, g, n));
        return;
    }
    if (by_scatter(g) && !is_padded(g)) return conv_backward_input_scatter(dX, dY, K, g);
    if (by_scatter(g)) {  // the padded plane's input gradient, then its inside
        conv_backward_input_scatter(work, dY, K, without_padding(g));
        return conv_crop_input(dX, work, g);
    }
    const ck_conv2d_geometry t = input_grad_as_forward(g);
    float *Kt = work;
    CK_PARALLEL_FOR(c, g.C, (double)g.O * g.C * g.KH * g.KW, turned_kernel_channel(Kt, K, g, c));  // a few KB: one thread
    float *dYp = work + (size_t)g.O * g.C * g.KH * g.KW;
    if (is_padded(t) && padded_image_size(t) <= PADDED_IMAGE_MAX) {
        CK_PARALLEL_FOR(n, g.N, conv_flops(g), input_grad_image(dX, dY, Kt, t, n, NULL));
        return;
    }
    if (is_padded(t) && batch_pads_by_image(t)) {
        CK_PARALLEL_FOR(n, g.N, conv_flops(g), input_grad_image(dX, dY, Kt, t, n, dYp));
        return;
    }
    if (is_padded(t)) {  // not for a 1×1 kernel with no padding
        conv_pad_input(dYp, dY, t);
        dY = dYp;
    }
    conv_forward_simd(dX, NULL, dY, Kt, NULL, CK_BIAS_NONE, without_padding(t));
}
