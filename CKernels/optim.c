// Optimizer updates: one pass over a parameter and its state.
#include <math.h>
#include "CKernels.h"

void ck_sgd_update(float *w, const float *g, float lr, float wd, size_t n) {
    #pragma omp simd
    for (size_t i = 0; i < n; i++) w[i] -= lr * (g[i] + wd * w[i]);
}

void ck_momentum_update(float *w, float *u, const float *g, float lr, float mu, float wd,
                        int nesterov, size_t n) {
    #pragma omp simd
    for (size_t i = 0; i < n; i++) {
        const float gi = g[i] + wd * w[i];
        u[i] = mu * u[i] + gi;
        w[i] -= lr * (nesterov ? gi + mu * u[i] : u[i]);
    }
}

void ck_adam_update(float *w, float *m, float *s, const float *g, float lr, float b1, float b2,
                    float eps, float wd, float c1, float c2, size_t n) {
    #pragma omp simd
    for (size_t i = 0; i < n; i++) {
        const float gi = g[i] + wd * w[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        s[i] = b2 * s[i] + (1.0f - b2) * gi * gi;
        w[i] -= lr * (m[i] / c1) / (sqrtf(s[i] / c2) + eps);
    }
}
