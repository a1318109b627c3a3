// Average pooling over K×K windows S apart (PyTorch's AvgPool2d without padding: the divisor is
// K², windows that would cross the edge are not formed), and global average pooling.
//
// The SIMD variant sums a window's K rows as whole rows first (contiguous, so vectorised) into a
// row on the stack, then each window's K columns of that row; planes wider than ROW_MAX take
// the scalar path.
#include "CKernels.h"
#include "vec.h"

#define ROW_MAX 4096

static void avgpool_plane_scalar(float *Yp, const float *Xp, int W, int OH, int OW, int K, int S) {
    const float area = (float)(K * K);
    for (int y = 0; y < OH; y++)
        for (int x = 0; x < OW; x++) {
            float s = 0.0f;
            NO_VECTORIZE
            for (int i = 0; i < K; i++)
                for (int j = 0; j < K; j++) s += Xp[(y * S + i) * W + x * S + j];
            Yp[y * OW + x] = s / area;
        }
}

static void avgpool_plane_simd(float *Yp, const float *Xp, int W, int OH, int OW, int K, int S) {
    const float area = (float)(K * K);
    float row[ROW_MAX];
    for (int y = 0; y < OH; y++) {
        const float *top = Xp + (size_t)(y * S) * W;
        #pragma omp simd
        for (int x = 0; x < W; x++) row[x] = top[x];
        for (int i = 1; i < K; i++) {
            const float *r = top + (size_t)i * W;
            #pragma omp simd
            for (int x = 0; x < W; x++) row[x] += r[x];
        }
        for (int x = 0; x < OW; x++) {
            float s = 0.0f;
            for (int j = 0; j < K; j++) s += row[x * S + j];
            Yp[y * OW + x] = s / area;
        }
    }
}

static void avgpool_plane(ck_variant v, float *Yp, const float *Xp, int W, int OH, int OW, int K, int S) {
    if (v == CK_SIMD && W <= ROW_MAX) avgpool_plane_simd(Yp, Xp, W, OH, OW, K, S);
    else avgpool_plane_scalar(Yp, Xp, W, OH, OW, K, S);
}

void ck_avgpool_forward(ck_variant v, float *Y, const float *X, int N, int C, int H, int W, int K, int S) {
    const int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    const double bytes = 4.0 * N * C * (H * W + OH * OW);
    const double work = bytes >= CK_MEMORY_BOUND_BYTES ? CK_PARALLEL_MIN_FLOPS : 1.0 * N * C * OH * OW * K * K;
    CK_PARALLEL_FOR(p, N * C, work, avgpool_plane(v, Y + (size_t)p * OH * OW, X + (size_t)p * H * W, W, OH, OW, K, S));
}

static void unpool_plane_scalar(float *dXp, const float *dYp, int H, int W, int OH, int OW, int K, int S) {
    const float area = (float)(K * K);
    memset(dXp, 0, sizeof(float) * H * W);
    // Overlapping windows (S < K) share inputs: accumulate, windows in order.
    for (int y = 0; y < OH; y++)
        for (int x = 0; x < OW; x++) {
            const float g = dYp[y * OW + x] / area;
            NO_VECTORIZE
            for (int i = 0; i < K; i++)
                for (int j = 0; j < K; j++) dXp[(y * S + i) * W + x * S + j] += g;
        }
}

// Each output row's gradient is spread over one input row's columns, then added to the K rows.
static void unpool_plane_simd(float *dXp, const float *dYp, int H, int W, int OH, int OW, int K, int S) {
    const float area = (float)(K * K);
    float row[ROW_MAX];
    memset(dXp, 0, sizeof(float) * H * W);
    for (int y = 0; y < OH; y++) {
        memset(row, 0, sizeof(float) * W);
        for (int x = 0; x < OW; x++) {
            const float g = dYp[y * OW + x] / area;
            for (int j = 0; j < K; j++) row[x * S + j] += g;
        }
        for (int i = 0; i < K; i++) {
            float *r = dXp + (size_t)(y * S + i) * W;
            #pragma omp simd
            for (int x = 0; x < W; x++) r[x] += row[x];
        }
    }
}

static void unpool_plane(ck_variant v, float *dXp, const float *dYp, int H, int W, int OH, int OW, int K, int S) {
    if (v == CK_SIMD && W <= ROW_MAX) unpool_plane_simd(dXp, dYp, H, W, OH, OW, K, S);
    else unpool_plane_scalar(dXp, dYp, H, W, OH, OW, K, S);
}

void ck_avgpool_backward(ck_variant v, float *dX, const float *dY, int N, int C, int H, int W, int K, int S) {
    const int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    const double bytes = 4.0 * N * C * (H * W + OH * OW);
    const double work = bytes >= CK_MEMORY_BOUND_BYTES ? CK_PARALLEL_MIN_FLOPS : 1.0 * N * C * H * W;
    CK_PARALLEL_FOR(p, N * C, work, unpool_plane(v, dX + (size_t)p * H * W, dY + (size_t)p * OH * OW, H, W, OH, OW, K, S));
}

static void mean_plane(ck_variant v, float *y, const float *Xp, int HW) {
    int i = 0;
    float s = 0.0f;
    if (v == CK_SIMD && HW >= VL) {
        vf acc = vsplat(0.0f);
        for (; i + VL <= HW; i += VL) acc += vload(Xp + i);
        s = vsum(acc);
    }
    NO_VECTORIZE
    for (; i < HW; i++) s += Xp[i];
    *y = s / (float)HW;
}

void ck_global_avgpool_forward(ck_variant v, float *Y, const float *X, int N, int C, int HW) {
    const double work = 1.0 * N * C * HW;
    CK_PARALLEL_FOR(p, N * C, work, mean_plane(v, Y + p, X + (size_t)p * HW, HW));
}

static void spread_plane(ck_variant v, float *dXp, float dy, int HW) {
    const float g = dy / (float)HW;
    if (v == CK_SIMD) {
        #pragma omp simd
        for (int i = 0; i < HW; i++) dXp[i] = g;
    } else {
        NO_VECTORIZE
        for (int i = 0; i < HW; i++) dXp[i] = g;
    }
}

void ck_global_avgpool_backward(ck_variant v, float *dX, const float *dY, int N, int C, int HW) {
    const double work = 1.0 * N * C * HW;
    CK_PARALLEL_FOR(p, N * C, work, spread_plane(v, dX + (size_t)p * HW, dY[p], HW));
}
