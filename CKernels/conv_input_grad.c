// The convolution's SIMD input gradient, stride 1, no padding: dX[n,c] = sum_o dY[n,o] *full K[o,c]
// as a scatter: each row of dY[n,o], times the tap K[o,c,kh,kw], lands on row y+kh of dX[n,c],
// shifted right by kw. Nothing is padded, and no multiply-add meets a padding zero.
#include "conv_internal.h"

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

// Item (image n, input channel c) of the input gradient; see forward_item.
static __attribute__((noinline)) void input_grad_item(float *dX, const float *dY, const float *K, ck_conv2d_geometry g,
                                                      int n, int c) {
    if (g.KH == 3 && g.KW == 3) input_grad_plane(dX, dY, K, with_kernel(g, 3, 3), n, c, 3, 4);
    else if (g.KH == 5 && g.KW == 5) input_grad_plane(dX, dY, K, with_kernel(g, 5, 5), n, c, 5, 2);
    else if (g.KW == 3) input_grad_plane(dX, dY, K, with_kernel(g, g.KH, 3), n, c, 3, 4);
    else if (g.KW == 5) input_grad_plane(dX, dY, K, with_kernel(g, g.KH, 5), n, c, 5, 2);
    else input_grad_plane(dX, dY, K, g, n, c, 1, 8);
}

void conv_backward_input_simd(float *dX, const float *dY, const float *K, ck_conv2d_geometry g) {
    CK_PARALLEL_FOR(i, g.N * g.C, conv_flops(g), input_grad_item(dX, dY, K, g, i / g.C, i % g.C));
}
