// Max pooling. One variant: the window loop is short and data-dependent, and the pass is a
// small share of a step next to the convolutions it sits between.
#include "CKernels.h"
#include "vec.h"

// The window loop with P known at compile time (unrolled), for the common 2×2 case.
FORCE_INLINE void pool_plane(float *Yp, int32_t *Ap, const float *Xp, int W, int OH, int OW, const int P, int S) {
    for (int y = 0; y < OH; y++) {
        for (int x = 0; x < OW; x++) {
            const int first = (y * S) * W + x * S;
            int best = first;
            float m = Xp[first];
            // Strictly greater: ties and NaN keep the earlier element, so the choice is
            // deterministic; written as selects, which compile without branches.
            for (int i = 0; i < P; i++)
                for (int j = 0; j < P; j++) {
                    const int at = first + i * W + j;
                    const float v = Xp[at];
                    const int better = v > m;
                    m = better ? v : m;
                    best = better ? at : best;
                }
            Yp[y * OW + x] = m;
            Ap[y * OW + x] = best;
        }
    }
}

void ck_maxpool_forward(float *Y, int32_t *argmax, const float *X,
                        int N, int C, int H, int W, int P, int S) {
    const int OH = (H - P) / S + 1, OW = (W - P) / S + 1;
    const double work = 1.0 * N * C * OH * OW * P * P;
    #pragma omp parallel for schedule(static) if (work >= CK_PARALLEL_MIN_FLOPS)
    for (int p = 0; p < N * C; p++) {
        const float *Xp = X + (size_t)p * H * W;
        float *Yp = Y + (size_t)p * OH * OW;
        int32_t *Ap = argmax + (size_t)p * OH * OW;
        if (P == 2) pool_plane(Yp, Ap, Xp, W, OH, OW, 2, S);
        else pool_plane(Yp, Ap, Xp, W, OH, OW, P, S);
    }
}

void ck_maxpool_backward(float *dX, const float *dY, const int32_t *argmax,
                         int N, int C, int H, int W, int OH, int OW) {
    const double work = 1.0 * N * C * H * W;
    #pragma omp parallel for schedule(static) if (work >= CK_PARALLEL_MIN_FLOPS)
    for (int p = 0; p < N * C; p++) {
        float *dXp = dX + (size_t)p * H * W;
        const float *dYp = dY + (size_t)p * OH * OW;
        const int32_t *Ap = argmax + (size_t)p * OH * OW;
        memset(dXp, 0, sizeof(float) * H * W);
        // Overlapping windows (stride < size) can pick the same input: accumulate.
        for (int i = 0; i < OH * OW; i++) dXp[Ap[i]] += dYp[i];
    }
}
