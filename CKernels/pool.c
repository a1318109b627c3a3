// Max pooling. One variant: the window loop is short and data-dependent, and the pass is a
// small share of a step next to the convolutions it sits between.
#include "CKernels.h"
#include "vec.h"

void ck_maxpool_forward(float *Y, int32_t *argmax, const float *X,
                        int N, int C, int H, int W, int P, int S) {
    const int OH = (H - P) / S + 1, OW = (W - P) / S + 1;
    const double work = 1.0 * N * C * OH * OW * P * P;
    #pragma omp parallel for schedule(static) if (work >= CK_PARALLEL_MIN_FLOPS)
    for (int p = 0; p < N * C; p++) {
        const float *Xp = X + (size_t)p * H * W;
        float *Yp = Y + (size_t)p * OH * OW;
        int32_t *Ap = argmax + (size_t)p * OH * OW;
        for (int y = 0; y < OH; y++) {
            for (int x = 0; x < OW; x++) {
                int best = (y * S) * W + x * S;
                // Ties and NaN keep the first element, so the choice is deterministic.
                for (int i = 0; i < P; i++)
                    for (int j = 0; j < P; j++) {
                        const int at = (y * S + i) * W + x * S + j;
                        if (Xp[at] > Xp[best]) best = at;
                    }
                Yp[y * OW + x] = Xp[best];
                Ap[y * OW + x] = best;
            }
        }
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
