// The fully connected layer: Y = X·Wᵀ + B and its gradients, W laid out (O, I) as PyTorch's
// Linear.weight. Forward is a set of dot products over I; both backward products vectorise over
// the long contiguous axis (I) with a few rows held in registers.
#include "CKernels.h"
#include "vec.h"

// ================================ scalar variants ==============================================

// Y[n,o]: a dot product over I, in order.
static void dense_output_scalar(float *Y, const float *X, const float *W, const float *B, int n, int o,
                                int I, int O) {
    const float *x = X + (size_t)n * I, *w = W + (size_t)o * I;
    float s = 0.0f;
    NO_VECTORIZE
    for (int i = 0; i < I; i++) s += x[i] * w[i];
    Y[(size_t)n * O + o] = s + B[o];
}

static void dense_forward_scalar(float *Y, const float *X, const float *W, const float *B,
                                 int N, int I, int O) {
    CK_PARALLEL_FOR(i, N * O, 2.0 * N * I * O, dense_output_scalar(Y, X, W, B, i / O, i % O, I, O));
}

// Row m of C (M,L) = sum over k of A[m,k]·Bm[k,:], A addressed with strides (as, ak), Bm (K,L)
// row-major.
static void rows_row_scalar(float *Cm, const float *A, size_t as, size_t ak, const float *Bm, int m, int K, int L) {
    float *c = Cm + (size_t)m * L;
    NO_VECTORIZE
    for (int l = 0; l < L; l++) c[l] = 0.0f;
    for (int k = 0; k < K; k++) {
        const float a = A[m * as + k * ak];
        const float *brow = Bm + (size_t)k * L;
        NO_VECTORIZE
        for (int l = 0; l < L; l++) c[l] += a * brow[l];
    }
}

static void rows_product_scalar(float *Cm, const float *A, size_t as, size_t ak, const float *Bm,
                                int M, int K, int L) {
    CK_PARALLEL_FOR(m, M, 2.0 * M * K * L, rows_row_scalar(Cm, A, as, ak, Bm, m, K, L));
}

// ================================ SIMD variants =================================================

// Tiles: AVX-512's 32 registers hold 4 rows × 6 outputs or columns (24 accumulators), AVX2's 16
// hold 4 × 3 (12). No tile changes the order in which an output is summed. (6 rows × 4 outputs
// and 8 × 3 measured no faster on AVX-512.)
#define DENSE_T (CK_VREGS == 32 ? 6 : 3)
#define DENSE_NB 4
#define DENSE_OB DENSE_T

// One step of a tile: elements i0 ..< i0+lanes of its NB rows of X and OB rows of W, a vector each
// (under a mask where lanes < VL: the zero lanes add nothing), their OB·NB products added.
FORCE_INLINE void dense_step(vf *acc, const float *X, const float *W, int n0, int o0, const int NB, const int OB,
                             int I, int i0, const int lanes) {
    vf x[DENSE_NB], w[CK_TILE_MAX];
    for (int p = 0; p < NB; p++) x[p] = vload_first(X + (size_t)(n0 + p) * I + i0, lanes);
    for (int q = 0; q < OB; q++) w[q] = vload_first(W + (size_t)(o0 + q) * I + i0, lanes);
    for (int p = 0; p < NB; p++)
        for (int q = 0; q < OB; q++) acc[p * OB + q] += x[p] * w[q];
}

// Dot products of NB rows of X with OB rows of W: NB·OB ≤ CK_TILE_MAX vector accumulators over I,
// each row vector loaded once per step, the last I % VL elements one more step under a mask
// (added one product at a time after the lanes' sum, they had taken 350 against 340 µs on
// fashion's first dense layer, 1960 inputs; the rest of its gap to 1952 inputs, 91 against 116
// GFLOP/s, is every other 1960-float row's loads straddling cache lines).
FORCE_INLINE void dense_tile(float *Y, const float *X, const float *W, const float *B,
                             int n0, int o0, const int NB, const int OB, int I, int O) {
    vf acc[CK_TILE_MAX];
    for (int t = 0; t < NB * OB; t++) acc[t] = vsplat(0.0f);
    const int nvec = I / VL;
    for (int iv = 0; iv < nvec; iv++) dense_step(acc, X, W, n0, o0, NB, OB, I, iv * VL, VL);
    if (I % VL) dense_step(acc, X, W, n0, o0, NB, OB, I, nvec * VL, I % VL);
    for (int p = 0; p < NB; p++)
        for (int q = 0; q < OB; q++) Y[(size_t)(n0 + p) * O + o0 + q] = vsum(acc[p * OB + q]) + B[o0 + q];
}

// Forward: blocks of 4 rows × DENSE_T outputs (4 + 6 loads per 24 FMAs on AVX-512). Rows left
// over (all of them at batch 1) take 8 outputs at a time instead: one row alone would give a
// tile only a few accumulators, too few to hide the FMA latency, and the weights dominate the
// traffic there anyway.
static __attribute__((noinline)) void dense_block4(float *Y, const float *X, const float *W, const float *B,
                                                   int n0, int o0, int I, int O) {
    if (o0 + DENSE_OB <= O) dense_tile(Y, X, W, B, n0, o0, DENSE_NB, DENSE_OB, I, O);
    else for (int o = o0; o < O; o++) dense_tile(Y, X, W, B, n0, o, DENSE_NB, 1, I, O);
}

static __attribute__((noinline)) void dense_block1(float *Y, const float *X, const float *W, const float *B,
                                                   int n, int o0, int I, int O) {
    if (o0 + 8 <= O) dense_tile(Y, X, W, B, n, o0, 1, 8, I, O);
    else for (int o = o0; o < O; o++) dense_tile(Y, X, W, B, n, o, 1, 1, I, O);
}

static void dense_forward_simd(float *Y, const float *X, const float *W, const float *B,
                               int N, int I, int O) {
    const int nfull = N / DENSE_NB, oblocks = (O + DENSE_OB - 1) / DENSE_OB;
    CK_PARALLEL_FOR(i, nfull * oblocks, 2.0 * DENSE_NB * nfull * I * O,
                    dense_block4(Y, X, W, B, DENSE_NB * (i / oblocks), DENSE_OB * (i % oblocks), I, O));
    const int rest = N - DENSE_NB * nfull, wide = (O + 7) / 8;
    const double bytes = 4.0 * I * O;
    CK_PARALLEL_FOR(i, rest * wide, bytes >= CK_MEMORY_BOUND_BYTES ? CK_PARALLEL_MIN_FLOPS : 2.0 * rest * I * O,
                    dense_block1(Y, X, W, B, DENSE_NB * nfull + i / wide, 8 * (i % wide), I, O));
}

// Columns l0 ..< l0+V·VL of MB rows of C = A·Bm: MB·V ≤ CK_TILE_MAX accumulators, summed over k in
// order. The last vector holds `last` columns (≤ VL), loaded and stored under a mask.
FORCE_INLINE void rows_tile(float *Cm, const float *A, size_t as, size_t ak, const float *Bm,
                            int m0, int l0, const int MB, const int V, int K, int L, int last) {
    vf acc[CK_TILE_MAX];
    for (int t = 0; t < MB * V; t++) acc[t] = vsplat(0.0f);
    for (int k = 0; k < K; k++) {
        vf brow[CK_TILE_MAX];
        for (int v = 0; v < V; v++) brow[v] = vload_first(Bm + (size_t)k * L + l0 + v * VL, v < V - 1 ? VL : last);
        for (int p = 0; p < MB; p++) {
            const vf a = vsplat(A[(m0 + p) * as + k * ak]);
            for (int v = 0; v < V; v++) acc[p * V + v] += a * brow[v];
        }
    }
    for (int p = 0; p < MB; p++)
        for (int v = 0; v < V; v++) vstore_first(Cm + (size_t)(m0 + p) * L + l0 + v * VL, acc[p * V + v], v < V - 1 ? VL : last);
}

// Blocks of 4 rows × DENSE_T vectors, the last block's columns past whole vectors (L % VL) in
// one more vector under a mask: summed one element at a time, those 8 columns of fashion's 1960
// had cost a third of its dense layer's backward pass. Rows left over (the single row of a
// batch-1 input gradient) take 12 vectors at a time, for 12 independent accumulators instead of a
// few. Each element is summed over k in order either way.
static __attribute__((noinline)) void rows_block4(float *Cm, const float *A, size_t as, size_t ak, const float *Bm,
                                                  int m0, int l0, int K, int L) {
    const int chunk = DENSE_T * VL, lend = l0 + chunk < L ? l0 + chunk : L;
    const int nvec = (lend - l0 + VL - 1) / VL, last = lend - l0 - (nvec - 1) * VL;
    switch (nvec) {  // a block with a partial vector has at most DENSE_T - 1 whole ones (chunk > L - l0)
    case 1: rows_tile(Cm, A, as, ak, Bm, m0, l0, 4, 1, K, L, last); break;
    case 2: rows_tile(Cm, A, as, ak, Bm, m0, l0, 4, 2, K, L, last); break;
    case 3: rows_tile(Cm, A, as, ak, Bm, m0, l0, 4, 3, K, L, last); break;
#if DENSE_T == 6
    case 4: rows_tile(Cm, A, as, ak, Bm, m0, l0, 4, 4, K, L, last); break;
    case 5: rows_tile(Cm, A, as, ak, Bm, m0, l0, 4, 5, K, L, last); break;
    case 6: rows_tile(Cm, A, as, ak, Bm, m0, l0, 4, 6, K, L, last); break;
#endif
    default: break;
    }
}

static __attribute__((noinline)) void rows_block1(float *Cm, const float *A, size_t as, size_t ak, const float *Bm,
                                                  int r, int l0, int K, int L) {
    const int wide = 12 * VL, lend = l0 + wide < L ? l0 + wide : L;
    const int nvec = (lend - l0) / VL, rest = lend - l0 - nvec * VL;
    if (nvec == 12) rows_tile(Cm, A, as, ak, Bm, r, l0, 1, 12, K, L, VL);
    else for (int v = 0; v < nvec; v++) rows_tile(Cm, A, as, ak, Bm, r, l0 + v * VL, 1, 1, K, L, VL);
    if (rest) rows_tile(Cm, A, as, ak, Bm, r, l0 + nvec * VL, 1, 1, K, L, rest);
}

static void rows_product_simd(float *Cm, const float *A, size_t as, size_t ak, const float *Bm,
                              int M, int K, int L) {
    const int chunk = DENSE_T * VL, mfull = M / 4, lblocks = (L + chunk - 1) / chunk;
    CK_PARALLEL_FOR(i, mfull * lblocks, 2.0 * 4 * mfull * K * L,
                    rows_block4(Cm, A, as, ak, Bm, 4 * (i / lblocks), chunk * (i % lblocks), K, L));
    const int rest = M - 4 * mfull, wide = 12 * VL, wblocks = (L + wide - 1) / wide;
    CK_PARALLEL_FOR(i, rest * wblocks, 2.0 * rest * K * L,
                    rows_block1(Cm, A, as, ak, Bm, 4 * mfull + i / wblocks, wide * (i % wblocks), K, L));
}

// ================================ public entry points ===========================================

void ck_dense_forward(ck_variant v, float *Y, const float *X, const float *W, const float *B,
                      int N, int I, int O) {
    if (v == CK_SIMD) dense_forward_simd(Y, X, W, B, N, I, O);
    else dense_forward_scalar(Y, X, W, B, N, I, O);
}

void ck_dense_backward(ck_variant v, float *dX, float *dW, float *dB, const float *dY,
                       const float *X, const float *W, int N, int I, int O) {
    void (*product)(float *, const float *, size_t, size_t, const float *, int, int, int) =
        v == CK_SIMD ? rows_product_simd : rows_product_scalar;
    // dX (N,I) = dY (N,O) · W (O,I)
    if (dX) product(dX, dY, (size_t)O, 1, W, N, O, I);
    // dW (O,I) = dYᵀ (O,N) · X (N,I): row o of dYᵀ is column o of dY
    product(dW, dY, 1, (size_t)O, X, O, N, I);
    for (int o = 0; o < O; o++) {
        float s = 0.0f;
        for (int n = 0; n < N; n++) s += dY[(size_t)n * O + o];
        dB[o] = s;
    }
}
