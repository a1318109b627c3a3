// Max pooling. One variant: the window loop is short and data-dependent, and the pass is a
// small share of a step next to the convolutions it sits between.
#include "CKernels.h"
#include "vec.h"

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

static void pool_plane_any(float *Yp, int32_t *Ap, const float *Xp, int W, int OH, int OW, int K, int S) {
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

static void unpool_plane(float *dXp, const float *dYp, const int32_t *Ap, int inputs, int outputs) {
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
