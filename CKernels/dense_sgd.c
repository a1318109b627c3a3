// The fully connected layer's backward pass fused with a plain SGD step, for training with SGD:
// one read and one write of the weights instead of a read for dX, a write of dW and a
// read-modify-write for the update. At batch 1 the tutorial's 3380×100 layer is memory bound,
// so this is most of its step.
//
// Rows of W are taken in fixed chunks of DENSE_SGD_ROWS; each chunk adds its rows' share of dX
// into its own slice of the workspace, and the slices are summed in chunk order afterwards, so dX
// does not depend on the number of threads. 16-row chunks split across two threads at the same
// row as the forward pass's 8-row blocks (rows 0–47 | 48–99 for the tutorial's 100).
#include "CKernels.h"
#include "vec.h"

#define DENSE_SGD_ROWS 16

size_t ck_dense_backward_sgd_work_size(int N, int I, int O) {
    return (size_t)((O + DENSE_SGD_ROWS - 1) / DENSE_SGD_ROWS) * N * I;
}

// Rows o0 ..< o1: part (N,I) = Σ_o dY[n,o]·W[o,:] with the old weights, then
// W[o,:] -= lr·Σ_n dY[n,o]·X[n,:] and B[o] -= lr·Σ_n dY[n,o].
static void chunk_scalar(float *part, float *W, float *B, const float *dY, const float *X, float lr,
                         int N, int I, int O, int o0, int o1) {
    for (size_t k = 0; k < (size_t)N * I; k++) part[k] = 0.0f;
    for (int o = o0; o < o1; o++) {
        float *w = W + (size_t)o * I;
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
        B[o] -= lr * gb;
    }
}

// R rows at a time, each W vector loaded once and stored once: its share of dX is added
// for every n, and its update Σ_n dY[n,o]·X[n,:] formed, while it is in a register. `first`
// says whether part holds nothing yet (then it is written, not added to).
FORCE_INLINE void rows_simd(float *part, float *W, const float *dY, const float *X, float lr,
                            int N, int I, int O, int o0, const int R, int first) {
    const int nvec = I / VL;
    for (int iv = 0; iv < nvec; iv++) {
        vf w[8], g[8];
        for (int r = 0; r < R; r++) {
            w[r] = vload(W + (size_t)(o0 + r) * I + iv * VL);
            g[r] = vsplat(0.0f);
        }
        for (int n = 0; n < N; n++) {
            const vf x = vload(X + (size_t)n * I + iv * VL);
            float *pn = part + (size_t)n * I + iv * VL;
            vf p = first ? vsplat(0.0f) : vload(pn);
            for (int r = 0; r < R; r++) {
                const vf d = vsplat(dY[(size_t)n * O + o0 + r]);
                p += d * w[r];
                g[r] += d * x;
            }
            vstore(pn, p);
        }
        for (int r = 0; r < R; r++) vstore(W + (size_t)(o0 + r) * I + iv * VL, w[r] - lr * g[r]);
    }
    for (int i = nvec * VL; i < I; i++) {
        for (int n = 0; n < N; n++) {
            float p = first ? 0.0f : part[(size_t)n * I + i];
            for (int r = 0; r < R; r++) p += dY[(size_t)n * O + o0 + r] * W[(size_t)(o0 + r) * I + i];
            part[(size_t)n * I + i] = p;
        }
        for (int r = 0; r < R; r++) {
            float g = 0.0f;
            for (int n = 0; n < N; n++) g += dY[(size_t)n * O + o0 + r] * X[(size_t)n * I + i];
            W[(size_t)(o0 + r) * I + i] -= lr * g;
        }
    }
}

// One chunk: 8 rows in one sweep at batch 1 (16 vector registers hold 8 weights and 8
// updates), 4 at a time otherwise, leftover rows one by one.
static void chunk_simd(float *part, float *W, float *B, const float *dY, const float *X, float lr,
                       int N, int I, int O, int o0, int o1) {
    int o = o0;
    if (N == 1) for (; o + 8 <= o1; o += 8) rows_simd(part, W, dY, X, lr, N, I, O, o, 8, o == o0);
    for (; o + 4 <= o1; o += 4) rows_simd(part, W, dY, X, lr, N, I, O, o, 4, o == o0);
    for (; o < o1; o++) rows_simd(part, W, dY, X, lr, N, I, O, o, 1, o == o0);
    for (o = o0; o < o1; o++) {
        float gb = 0.0f;
        for (int n = 0; n < N; n++) gb += dY[(size_t)n * O + o];
        B[o] -= lr * gb;
    }
}

static void chunk(ck_variant v, float *part, float *W, float *B, const float *dY, const float *X, float lr,
                  int N, int I, int O, int c) {
    const int o0 = c * DENSE_SGD_ROWS, o1 = o0 + DENSE_SGD_ROWS < O ? o0 + DENSE_SGD_ROWS : O;
    if (v == CK_SIMD) chunk_simd(part, W, B, dY, X, lr, N, I, O, o0, o1);
    else chunk_scalar(part, W, B, dY, X, lr, N, I, O, o0, o1);
}

// dX[k0 ..< k0+len] = Σ_c part_c, chunks added in order (vectorised over k).
static void chunk_sum(float *dX, const float *work, size_t slice, int chunks, size_t k0, size_t len) {
    memcpy(dX + k0, work + k0, sizeof(float) * len);
    for (int c = 1; c < chunks; c++) {
        const float *part = work + c * slice + k0;
        #pragma omp simd
        for (size_t k = 0; k < len; k++) dX[k0 + k] += part[k];
    }
}

void ck_dense_backward_sgd(ck_variant v, float *dX, float *W, float *B, const float *dY, const float *X,
                           float lr, float *work_, int N, int I, int O) {
    const int chunks = (O + DENSE_SGD_ROWS - 1) / DENSE_SGD_ROWS;
    const size_t slice = (size_t)N * I;
    // Memory bound: worth a second core once the weights outgrow a core's L2 share. Chunks of 8
    // rows split across threads as the forward pass splits them, so each core finds its rows in
    // its own cache. A serial run skips OpenMP altogether (libomp allocates for every
    // serialised region).
    const double bytes = 4.0 * I * O, flops = 4.0 * N * I * O;
    const double work = bytes >= CK_MEMORY_BOUND_BYTES ? CK_PARALLEL_MIN_FLOPS : flops;
    CK_PARALLEL_FOR(c, chunks, work, chunk(v, work_ + c * slice, W, B, dY, X, lr, N, I, O, c));
    const size_t block = 512;
    const int blocks = (int)((slice + block - 1) / block);
    if (dX) CK_PARALLEL_FOR(k, blocks, work, chunk_sum(dX, work_, slice, chunks, k * block,
                                                       (k + 1) * block < slice ? block : slice - k * block));
}
