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

void pool_plane_any(float *Yp, int32_t *Ap, const float *Xp, int W, int OH, int OW, int K, int S) {
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

void ck_maxpool_backward(float *dX, const float *dY, const int32_t *argmax,
                         int N, int C, int H, int W, int OH, int OW) {
    const double bytes = 4.0 * N * C * (H * W + 2.0 * OH * OW);
    const double work = bytes >= CK_MEMORY_BOUND_BYTES ? CK_PARALLEL_MIN_FLOPS : 1.0 * N * C * H * W;
    CK_PARALLEL_FOR(p, N * C, work, unpool_plane(dX + (size_t)p * H * W, dY + (size_t)p * OH * OW,
                                                 argmax + (size_t)p * OH * OW, H * W, OH * OW));
}
