// Optimizer updates: one pass over a parameter and its state. Each value's update reads only its
// own position, so the parameter is cut into fixed chunks shared by the team: the same bits on any
// thread count. Large parameters are worth it: Fashion-MNIST's dense 1960→128 is 251k weights, and
// Adam's divisions and square root (three and one a value then) had kept one core busy for 3 % of
// a training step on two threads while the other waited.
#include <math.h>
#include "CKernels.h"
#include "vec.h"

// Values a work item updates: 16 KB of each array.
#define UPDATE_CHUNK 4096

// Chunk k of n values: [chunk_start(k), chunk_end(n, k)).
static inline size_t chunk_start(int k) { return (size_t)k * UPDATE_CHUNK; }
static inline size_t chunk_end(size_t n, int k) {
    return chunk_start(k) + UPDATE_CHUNK < n ? chunk_start(k) + UPDATE_CHUNK : n;
}

static int chunks(size_t n) { return (int)((n + UPDATE_CHUNK - 1) / UPDATE_CHUNK); }

// Work for CK_PARALLEL_FOR: memory-bound passes count as parallel work once they move
// CK_MEMORY_BOUND_BYTES (arrays·4 bytes a value); Adam's division and root count about 16 a value.
static double update_work(size_t n, int arrays, double flops_per_value) {
    const double bytes = 4.0 * arrays * (double)n;
    return bytes >= CK_MEMORY_BOUND_BYTES ? CK_PARALLEL_MIN_FLOPS : flops_per_value * (double)n;
}

static void sgd_range(float *w, const float *g, float lr, float wd, size_t lo, size_t hi) {
    #pragma omp simd
    for (size_t i = lo; i < hi; i++) w[i] -= lr * (g[i] + wd * w[i]);
}

void ck_sgd_update(float *w, const float *g, float lr, float wd, size_t n) {
    CK_PARALLEL_FOR(k, chunks(n), update_work(n, 2, 3.0), sgd_range(w, g, lr, wd, chunk_start(k), chunk_end(n, k)));
}

static void momentum_range(float *w, float *u, const float *g, float lr, float mu, float wd, int nesterov,
                           size_t lo, size_t hi) {
    #pragma omp simd
    for (size_t i = lo; i < hi; i++) {
        const float gi = g[i] + wd * w[i];
        u[i] = mu * u[i] + gi;
        w[i] -= lr * (nesterov ? gi + mu * u[i] : u[i]);
    }
}

void ck_momentum_update(float *w, float *u, const float *g, float lr, float mu, float wd,
                        int nesterov, size_t n) {
    CK_PARALLEL_FOR(k, chunks(n), update_work(n, 3, 6.0),
                    momentum_range(w, u, g, lr, mu, wd, nesterov, chunk_start(k), chunk_end(n, k)));
}

// step = lr/c1 and root = 1/√c2 once per call, as PyTorch's Adam takes them: one division and
// one square root a value where m/c1, s/c2 and the quotient had been three divisions, which kept
// a core on them (vector division and root issue every 10-16 cycles) longer than the pass's
// memory did (fashion's 264k parameters: 234 → 155 µs on one core).
static void adam_range(float *w, float *m, float *s, const float *g, float step, float b1, float b2, float eps,
                       float wd, float root, size_t lo, size_t hi) {
    #pragma omp simd
    for (size_t i = lo; i < hi; i++) {
        const float gi = g[i] + wd * w[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        s[i] = b2 * s[i] + (1.0f - b2) * gi * gi;
        w[i] -= step * m[i] / (sqrtf(s[i]) * root + eps);
    }
}

void ck_adam_update(float *w, float *m, float *s, const float *g, float lr, float b1, float b2,
                    float eps, float wd, float c1, float c2, size_t n) {
    const float step = lr / c1, root = 1.0f / sqrtf(c2);
    CK_PARALLEL_FOR(k, chunks(n), update_work(n, 4, 16.0),
                    adam_range(w, m, s, g, step, b1, b2, eps, wd, root, chunk_start(k), chunk_end(n, k)));
}
