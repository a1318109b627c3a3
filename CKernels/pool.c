// Max pooling. One variant: the window loop is short and data-dependent, and the pass is a
// small share of a step next to the convolutions it sits between. The 2×2, stride-2 window
// runs four outputs per vector (bit-identical to the window loop, which is the reference).
#include "CKernels.h"
#include "vec.h"
#include "planes.h"

// The window loop with K known at compile time (unrolled), for the common 2×2 case. Ap NULL
// (inference) is also a constant at each call site, so the store it skips costs no branch.
FORCE_INLINE void pool_plane(float *Yp, int32_t *Ap, const float *Xp, int W, int OH, int OW, const int K, int S) {
    for (int y = 0; y < OH; y++) {
        for (int x = 0; x < OW; x++) {
            const int first = (y * S) * W + x * S;
            int best = first;
            float m = Xp[first];
            // Strictly greater: ties and NaN keep the earlier element, so the choice is
            // deterministic; written as selects, which compile without branches.
            for (int i = 0; i < K; i++)
                for (int j = 0; j < K; j++) {
                    const int at = first + i * W + j;
                    const float v = Xp[at];
                    const int better = v > m;
                    m = better ? v : m;
                    best = better ? at : best;
                }
            Yp[y * OW + x] = m;
            if (Ap) Ap[y * OW + x] = best;
        }
    }
}

// The 2×2, stride-2 window (every pooling of the presets) on four outputs at a time: the two
// input rows' eight floats each, split into even and odd columns, give the four taps of four
// windows, taken in the scalar loop's order with the same strictly-greater selects, so Y and
// the argmax are bit-identical to it. A row of OW ≥ 4 ends on a last group that overlaps the
// one before; overlapping lanes are recomputed to the same values.
typedef float vf4 __attribute__((vector_size(16)));
typedef int32_t vi4 __attribute__((vector_size(16)));

FORCE_INLINE void pool_2x2_plane(float *Yp, int32_t *Ap, const float *Xp, int W, int OH, int OW) {
    for (int y = 0; y < OH; y++) {
        const float *top = Xp + (size_t)(2 * y) * W, *bottom = top + W;
        for (int x0 = 0; x0 < OW; x0 += 4) {
            const int x = x0 + 4 <= OW ? x0 : OW - 4;
            vf4 t01, t23, b01, b23;
            memcpy(&t01, top + 2 * x, 16); memcpy(&t23, top + 2 * x + 4, 16);
            memcpy(&b01, bottom + 2 * x, 16); memcpy(&b23, bottom + 2 * x + 4, 16);
            const vf4 taps[4] = {
                __builtin_shufflevector(t01, t23, 0, 2, 4, 6), __builtin_shufflevector(t01, t23, 1, 3, 5, 7),
                __builtin_shufflevector(b01, b23, 0, 2, 4, 6), __builtin_shufflevector(b01, b23, 1, 3, 5, 7),
            };
            const int32_t first = 2 * y * W + 2 * x;
            const vi4 offset[4] = {{0, 2, 4, 6}, {1, 3, 5, 7}, {W, W + 2, W + 4, W + 6}, {W + 1, W + 3, W + 5, W + 7}};
            vf4 m = taps[0];
            vi4 best = offset[0];
            for (int i = 1; i < 4; i++) {
                const vi4 better = taps[i] > m;
                m = (vf4)(((vi4)taps[i] & better) | ((vi4)m & ~better));
                best = (offset[i] & better) | (best & ~better);
            }
            memcpy(Yp + y * OW + x, &m, 16);
            if (Ap) { best += first; memcpy(Ap + y * OW + x, &best, 16); }
        }
    }
}

// The same eight outputs at a time (rows of OW ≥ 8), from two rows' sixteen floats.
typedef int32_t vi8 __attribute__((vector_size(32)));

FORCE_INLINE void pool_2x2_plane8(float *Yp, int32_t *Ap, const float *Xp, int W, int OH, int OW) {
    for (int y = 0; y < OH; y++) {
        const float *top = Xp + (size_t)(2 * y) * W, *bottom = top + W;
        for (int x0 = 0; x0 < OW; x0 += 8) {
            const int x = x0 + 8 <= OW ? x0 : OW - 8;
            const vf8 t0 = vload8(top + 2 * x), t1 = vload8(top + 2 * x + 8);
            const vf8 b0 = vload8(bottom + 2 * x), b1 = vload8(bottom + 2 * x + 8);
            const vf8 taps[4] = {
                __builtin_shufflevector(t0, t1, 0, 2, 4, 6, 8, 10, 12, 14), __builtin_shufflevector(t0, t1, 1, 3, 5, 7, 9, 11, 13, 15),
                __builtin_shufflevector(b0, b1, 0, 2, 4, 6, 8, 10, 12, 14), __builtin_shufflevector(b0, b1, 1, 3, 5, 7, 9, 11, 13, 15),
            };
            const vi8 even = {0, 2, 4, 6, 8, 10, 12, 14};
            const vi8 offset[4] = {even, even + 1, even + W, even + W + 1};
            vf8 m = taps[0];
            vi8 best = offset[0];
            for (int i = 1; i < 4; i++) {
                const vi8 better = taps[i] > m;
                m = (vf8)(((vi8)taps[i] & better) | ((vi8)m & ~better));
                best = (offset[i] & better) | (best & ~better);
            }
            vstore8(Yp + y * OW + x, m);
            if (Ap) { best += 2 * y * W + 2 * x; memcpy(Ap + y * OW + x, &best, 32); }
        }
    }
}

void pool_plane_any(float *Yp, int32_t *Ap, const float *Xp, int W, int OH, int OW, int K, int S) {
    if (K == 2 && S == 2 && OW >= 8) {
        if (Ap) pool_2x2_plane8(Yp, Ap, Xp, W, OH, OW);
        else pool_2x2_plane8(Yp, NULL, Xp, W, OH, OW);
        return;
    }
    if (K == 2 && S == 2 && OW >= 4) {
        if (Ap) pool_2x2_plane(Yp, Ap, Xp, W, OH, OW);
        else pool_2x2_plane(Yp, NULL, Xp, W, OH, OW);
        return;
    }
    if (Ap) {
        if (K == 2) pool_plane(Yp, Ap, Xp, W, OH, OW, 2, S);
        else pool_plane(Yp, Ap, Xp, W, OH, OW, K, S);
    } else {
        if (K == 2) pool_plane(Yp, NULL, Xp, W, OH, OW, 2, S);
        else pool_plane(Yp, NULL, Xp, W, OH, OW, K, S);
    }
}

void ck_maxpool_forward(float *Y, int32_t *argmax, const float *X,
                        int N, int C, int H, int W, int K, int S) {
    const int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    // Bound by memory: on the team once the planes outgrow CK_MEMORY_BOUND_BYTES (see vec.h).
    const double bytes = 4.0 * N * C * (H * W + 2.0 * OH * OW);
    const double work = bytes >= CK_MEMORY_BOUND_BYTES ? CK_PARALLEL_MIN_FLOPS : 1.0 * N * C * OH * OW * K * K;
    // No offset on a NULL argmax: that is undefined behaviour even unused (UBSan says so).
    CK_PARALLEL_FOR(p, N * C, work, pool_plane_any(Y + (size_t)p * OH * OW, argmax ? argmax + (size_t)p * OH * OW : NULL,
                                                   X + (size_t)p * H * W, W, OH, OW, K, S));
}

void unpool_plane(float *dXp, const float *dYp, const int32_t *Ap, int inputs, int outputs) {
    memset(dXp, 0, sizeof(float) * inputs);
    // Overlapping windows (stride < size) can pick the same input: accumulate.
    for (int i = 0; i < outputs; i++) dXp[Ap[i]] += dYp[i];
}

// unpool_plane for 2×2 windows 2 apart, rows of OW ≥ 8: each input belongs to one window at
// most, so every input is written once, eight windows (two rows of sixteen inputs) at a time:
// 0 + dY where it is its window's argmax, 0 elsewhere, the value the accumulation gives (0 + −0
// is +0), then the row and column no window takes, if any, zero.
static void unpool_2x2_plane8(float *dXp, const float *dYp, const int32_t *Ap, int H, int W, int OH, int OW) {
    const vi8 even = {0, 2, 4, 6, 8, 10, 12, 14};
    for (int y = 0; y < OH; y++) {
        float *top = dXp + (size_t)(2 * y) * W, *bottom = top + W;
        for (int x0 = 0; x0 < OW; x0 += 8) {
            const int x = x0 + 8 <= OW ? x0 : OW - 8;
            const vf8 d = (vf8){0} + vload8(dYp + y * OW + x);
            vi8 a;
            memcpy(&a, Ap + y * OW + x, 32);
            const vi8 at = even + (2 * y * W + 2 * x);
            vf8 taps[4];
            const int offset[4] = {0, 1, W, W + 1};
            for (int i = 0; i < 4; i++) taps[i] = (vf8)((vi8)d & (a == at + offset[i]));
            vstore8(top + 2 * x, __builtin_shufflevector(taps[0], taps[1], 0, 8, 1, 9, 2, 10, 3, 11));
            vstore8(top + 2 * x + 8, __builtin_shufflevector(taps[0], taps[1], 4, 12, 5, 13, 6, 14, 7, 15));
            vstore8(bottom + 2 * x, __builtin_shufflevector(taps[2], taps[3], 0, 8, 1, 9, 2, 10, 3, 11));
            vstore8(bottom + 2 * x + 8, __builtin_shufflevector(taps[2], taps[3], 4, 12, 5, 13, 6, 14, 7, 15));
        }
        if (W > 2 * OW) top[W - 1] = bottom[W - 1] = 0.0f;  // W = 2·OW + 1
    }
    if (H > 2 * OH) memset(dXp + (size_t)(H - 1) * W, 0, sizeof(float) * W);
}

void unpool_plane_any(float *dXp, const float *dYp, const int32_t *Ap, int H, int W, int OH, int OW, int K, int S) {
    if (K == 2 && S == 2 && OW >= 8) unpool_2x2_plane8(dXp, dYp, Ap, H, W, OH, OW);
    else unpool_plane(dXp, dYp, Ap, H * W, OH * OW);
}

void ck_maxpool_backward(float *dX, const float *dY, const int32_t *argmax,
                         int N, int C, int H, int W, int OH, int OW) {
    const double bytes = 4.0 * N * C * (H * W + 2.0 * OH * OW);
    const double work = bytes >= CK_MEMORY_BOUND_BYTES ? CK_PARALLEL_MIN_FLOPS : 1.0 * N * C * H * W;
    CK_PARALLEL_FOR(p, N * C, work, unpool_plane(dX + (size_t)p * H * W, dY + (size_t)p * OH * OW,
                                                 argmax + (size_t)p * OH * OW, H * W, OH * OW));
}
