// The fully connected layer's backward pass fused with a plain SGD step, for training with SGD:
// one read and one write of the weights instead of a read for dX, a write of dW and a
// read-modify-write for the update. At batch 1 the tutorial's 3380×100 layer is memory bound,
// so this is most of its step.
//
// Rows of Wt are taken in fixed chunks of DENSE_SGD_ROWS; each chunk adds its rows' share of dX
// into its own slice of the workspace, and the slices are summed in chunk order afterwards, so dX
// does not depend on the number of threads.
#include "CKernels.h"
#include "vec.h"

#define DENSE_SGD_ROWS 8

size_t ck_dense_backward_sgd_work_size(int N, int I, int O) {
    return (size_t)((O + DENSE_SGD_ROWS - 1) / DENSE_SGD_ROWS) * N * I;
}

// Rows o0 ..< o1: part (N,I) = Σ_o dY[n,o]·Wt[o,:] with the old weights, then
// Wt[o,:] -= lr·Σ_n dY[n,o]·X[n,:] and b[o] -= lr·Σ_n dY[n,o].
static void chunk_scalar(float *part, float *Wt, float *b, const float *dY, const float *X, float lr,
                         int N, int I, int O, int o0, int o1) {
    for (size_t k = 0; k < (size_t)N * I; k++) part[k] = 0.0f;
    for (int o = o0; o < o1; o++) {
        float *w = Wt + (size_t)o * I;
        NO_VECTORIZE
        for (int i = 0; i < I; i++) {
            float g = 0.0f;
            for (int n = 0; n < N; n++) {
                part[(size_t)n * I + i] += dY[(size_t)n * O + o] * w[i];
                g += dY[(size_t)n * O + o] * X[(size_t)n * I + i];
            }
            w[i] -= lr * g;
        }
        float gb = 0.0f;
        for (int n = 0; n < N; n++) gb += dY[(size_t)n * O + o];
        b[o] -= lr * gb;
    }
}

static void chunk_simd(float *part, float *Wt, float *b, const float *dY, const float *X, float lr,
                       int N, int I, int O, int o0, int o1) {
    const int nvec = I / VL;
    for (size_t k = 0; k < (size_t)N * I; k++) part[k] = 0.0f;
    for (int o = o0; o < o1; o++) {
        float *w = Wt + (size_t)o * I;
        for (int iv = 0; iv < nvec; iv++) {
            const vf wv = vload(w + iv * VL);
            vf g = vsplat(0.0f);
            for (int n = 0; n < N; n++) {
                const vf d = vsplat(dY[(size_t)n * O + o]);
                float *p = part + (size_t)n * I + iv * VL;
                vstore(p, vload(p) + d * wv);
                g += d * vload(X + (size_t)n * I + iv * VL);
            }
            vstore(w + iv * VL, wv - lr * g);
        }
        for (int i = nvec * VL; i < I; i++) {
            float g = 0.0f;
            for (int n = 0; n < N; n++) {
                part[(size_t)n * I + i] += dY[(size_t)n * O + o] * w[i];
                g += dY[(size_t)n * O + o] * X[(size_t)n * I + i];
            }
            w[i] -= lr * g;
        }
        float gb = 0.0f;
        for (int n = 0; n < N; n++) gb += dY[(size_t)n * O + o];
        b[o] -= lr * gb;
    }
}

static void chunk(ck_variant v, float *part, float *Wt, float *b, const float *dY, const float *X, float lr,
                  int N, int I, int O, int c) {
    const int o0 = c * DENSE_SGD_ROWS, o1 = o0 + DENSE_SGD_ROWS < O ? o0 + DENSE_SGD_ROWS : O;
    if (v == CK_SIMD) chunk_simd(part, Wt, b, dY, X, lr, N, I, O, o0, o1);
    else chunk_scalar(part, Wt, b, dY, X, lr, N, I, O, o0, o1);
}

// dX[k] = Σ_c part_c[k], chunks in order.
static inline float chunk_sum(const float *work, size_t slice, int chunks, size_t k) {
    float s = 0.0f;
    for (int c = 0; c < chunks; c++) s += work[c * slice + k];
    return s;
}

void ck_dense_backward_sgd(ck_variant v, float *dX, float *Wt, float *b, const float *dY, const float *X,
                           float lr, float *work_, int N, int I, int O) {
    const int chunks = (O + DENSE_SGD_ROWS - 1) / DENSE_SGD_ROWS;
    const size_t slice = (size_t)N * I;
    // Memory bound: worth a second core once the weights outgrow a core's L2 share. Chunks of 8
    // rows split across threads as the forward pass splits them, so each core finds its rows in
    // its own cache. A serial run skips OpenMP altogether (libomp allocates for every
    // serialised region).
    const double bytes = 4.0 * I * O, flops = 4.0 * N * I * O;
    const double work = bytes >= CK_MEMORY_BOUND_BYTES ? CK_PARALLEL_MIN_FLOPS : flops;
    CK_PARALLEL_FOR(c, chunks, work, chunk(v, work_ + c * slice, Wt, b, dY, X, lr, N, I, O, c));
    if (dX) CK_PARALLEL_FOR(k, (int)slice, work, dX[k] = chunk_sum(work_, slice, chunks, k));
}
