// Batch normalisation over (N, C, HW) buffers: HW = H·W after a convolution, HW = 1 after a dense
// layer (then C is the feature count). Statistics are per channel, over the N·HW values of
// X[:, c, :].
//
// Determinism: one thread owns a whole channel and sums it in a fixed order (each sample's plane
// in float, the planes' sums in double, samples in order), so results do not depend on the
// thread count. The double accumulation across planes keeps the mean accurate for large N·HW,
// and the variance is built from squared deviations, each plane's about its own mean and then
// moved exactly to the channel's (plane_squares_about), never as E[x²] − E[x]², which cancels
// catastrophically when the mean is large. Per plane, so that a convolution can take a plane's
// part while the plane it has just written is in cache (ck_conv2d_forward_statistics).
#include <math.h>
#include "CKernels.h"
#include "vec.h"
#include "planes.h"

// Σ p[0..n) in float: for SIMD four vectors of running sums, combined pairwise at the end (one
// chain of vector adds waits on the add's latency at every vector: a plane of 784 values in L1,
// just written by a convolution, took 49 latencies in a row), a plain loop for scalar.
static inline float plane_sum(ck_variant v, const float *p, int n) {
    int i = 0;
    float s = 0.0f;
    if (v == CK_SIMD && n >= VL) {
        vf acc[4] = {vsplat(0.0f), vsplat(0.0f), vsplat(0.0f), vsplat(0.0f)};
        for (; i + 4 * VL <= n; i += 4 * VL)
            for (int k = 0; k < 4; k++) acc[k] += vload(p + i + k * VL);
        for (; i + VL <= n; i += VL) acc[0] += vload(p + i);
        s = vsum((acc[0] + acc[1]) + (acc[2] + acc[3]));
    }
    NO_VECTORIZE
    for (; i < n; i++) s += p[i];
    return s;
}

// Σ (p[i] − m)² in float, the same way.
static inline float plane_sum_squares(ck_variant v, const float *p, float m, int n) {
    int i = 0;
    float s = 0.0f;
    if (v == CK_SIMD && n >= VL) {
        vf acc[4] = {vsplat(0.0f), vsplat(0.0f), vsplat(0.0f), vsplat(0.0f)};
        const vf mv = vsplat(m);
        for (; i + 4 * VL <= n; i += 4 * VL)
            for (int k = 0; k < 4; k++) { const vf d = vload(p + i + k * VL) - mv; acc[k] += d * d; }
        for (; i + VL <= n; i += VL) { const vf d = vload(p + i) - mv; acc[0] += d * d; }
        s = vsum((acc[0] + acc[1]) + (acc[2] + acc[3]));
    }
    NO_VECTORIZE
    for (; i < n; i++) { float d = p[i] - m; s += d * d; }
    return s;
}

// The centre a plane's squares are taken about: its mean, rounded to float. plane_statistics and
// plane_squares_about must agree on it to the bit.
static inline float plane_centre(float s, int HW) { return s / (float)HW; }

void plane_statistics(ck_variant v, float *stats, const float *p, int HW) {
    const float s = plane_sum(v, p, HW);
    stats[0] = s;
    stats[1] = plane_sum_squares(v, p, plane_centre(s, HW), HW);
}

// Plane n's part of N·HW times the channel's variance, from its statistics (s, q) about its centre
// c = s/HW (as plane_statistics took it) and the channel's mean m:
//   Σ (x − m)² = Σ (x − c)² + 2(c − m)·Σ (x − c) + HW·(c − m)², with Σ (x − c) = s − HW·c,
// exact whatever c is, and in double: the first term is the plane's own spread, the others a
// rounding's worth and its offset from the mean.
static inline double plane_squares_about(float s, float q, double m, int HW) {
    const double c = plane_centre(s, HW), d = c - m;
    return (double)q + 2.0 * d * ((double)s - HW * c) + HW * d * d;
}

// The channel's mean m and variance from the planes' squares about m, over count values.
static inline void store_channel_statistics(float *mean, float *var, int c, double m, double squares, double count) {
    mean[c] = (float)m;
    var[c] = (float)(squares < 0.0 ? 0.0 : squares / count);  // a rounding below 0 is 0; NaN stays NaN
}

// Channel c's mean and variance from its planes' statistics, stats[(n·C + c)·2 ...] for n in order:
// the mean is the planes' sums added in double, the variance their squares about it.
static void channel_statistics_of_planes(float *mean, float *var, const float *stats, int N, int C, int HW, int c) {
    const double count = (double)N * HW;
    double sum = 0.0;
    for (int n = 0; n < N; n++) sum += stats[((size_t)n * C + c) * 2];
    const double m = sum / count;
    double squares = 0.0;
    for (int n = 0; n < N; n++) {
        const float *p = stats + ((size_t)n * C + c) * 2;
        squares += plane_squares_about(p[0], p[1], m, HW);
    }
    store_channel_statistics(mean, var, c, m, squares, count);
}

// Channel c of X: as channel_statistics_of_planes over plane_statistics of each plane, the same
// numbers, without a buffer of them: the sums first (each plane read from memory), then each
// plane's statistics again for its squares (the plane read from L2, where a channel's 64 planes of
// 784 values fit).
static void channel_statistics(ck_variant v, float *mean, float *var, const float *X, int N, int C, int HW, int c) {
    const double count = (double)N * HW;
    double sum = 0.0;
    for (int n = 0; n < N; n++) sum += plane_sum(v, X + ((size_t)n * C + c) * HW, HW);
    const double m = sum / count;
    double squares = 0.0;
    for (int n = 0; n < N; n++) {
        float p[2];
        plane_statistics(v, p, X + ((size_t)n * C + c) * HW, HW);
        squares += plane_squares_about(p[0], p[1], m, HW);
    }
    store_channel_statistics(mean, var, c, m, squares, count);
}

void ck_batchnorm_statistics(ck_variant v, float *mean, float *var, const float *X, int N, int C, int HW) {
    const double work = 4.0 * N * C * HW;
    CK_PARALLEL_FOR(c, C, work, channel_statistics(v, mean, var, X, N, C, HW, c));
}

void ck_batchnorm_plane_statistics(ck_variant v, float *stats, const float *X, int N, int C, int HW) {
    const double work = 3.0 * N * C * HW;
    CK_PARALLEL_FOR(p, N * C, work, plane_statistics(v, stats + (size_t)p * 2, X + (size_t)p * HW, HW));
}

void ck_batchnorm_statistics_of_planes(float *mean, float *var, const float *stats, int N, int C, int HW) {
    for (int c = 0; c < C; c++) channel_statistics_of_planes(mean, var, stats, N, C, HW, c);
}

float inverse_std(float var, float eps) { return 1.0f / sqrtf(var + eps); }

// One (n, c) plane: y = (x − mean)·invstd·γ + β, the terms in the order of the equation.
void normalize_plane(ck_variant v, float *Yp, const float *Xp, float m, float invstd, float g, float b, int HW) {
    int i = 0;
    if (v == CK_SIMD) {
        const vf mv = vsplat(m), iv = vsplat(invstd), gv = vsplat(g), bv = vsplat(b);
        for (; i + VL <= HW; i += VL) vstore(Yp + i, (vload(Xp + i) - mv) * iv * gv + bv);
    }
    NO_VECTORIZE
    for (; i < HW; i++) Yp[i] = (Xp[i] - m) * invstd * g + b;
}

void ck_batchnorm_forward(ck_variant v, float *Y, const float *X, const float *mean, const float *var,
                          const float *gamma, const float *beta, float eps, int N, int C, int HW) {
    const double work = 4.0 * N * C * HW;
    CK_PARALLEL_FOR(p, N * C, work, normalize_plane(v, Y + (size_t)p * HW, X + (size_t)p * HW, mean[p % C],
                                                    inverse_std(var[p % C], eps), gamma[p % C], beta[p % C], HW));
}

void ck_batchnorm_update_running(float *running_mean, float *running_var, const float *mean, const float *var,
                                 float momentum, long count, int C) {
    // PyTorch's unbiased variance; a single value per channel has none, and is taken as 0.
    const float unbias = count > 1 ? (float)((double)count / (double)(count - 1)) : 0.0f;
    for (int c = 0; c < C; c++) {
        running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean[c];
        running_var[c] = (1.0f - momentum) * running_var[c] + momentum * (var[c] * unbias);
    }
}

// Σ dY and Σ dY·x̂ over one plane, x̂ = (x − mean)·invstd.
void plane_gradient_sums(ck_variant v, const float *dYp, const float *Xp, float m, float invstd, int HW,
                                       float *sum_dy, float *sum_dy_xhat) {
    int i = 0;
    float a = 0.0f, b = 0.0f;
    if (v == CK_SIMD && HW >= VL) {
        vf av = vsplat(0.0f), bv = vsplat(0.0f);
        const vf mv = vsplat(m), iv = vsplat(invstd);
        for (; i + VL <= HW; i += VL) {
            const vf dy = vload(dYp + i);
            av += dy;
            bv += dy * ((vload(Xp + i) - mv) * iv);
        }
        a = vsum(av);
        b = vsum(bv);
    }
    NO_VECTORIZE
    for (; i < HW; i++) { a += dYp[i]; b += dYp[i] * ((Xp[i] - m) * invstd); }
    *sum_dy = a;
    *sum_dy_xhat = b;
}

// dx = γ·invstd·(dy − Σdy/M − x̂·Σ(dy·x̂)/M) on one plane.
void plane_input_gradient(ck_variant v, float *dXp, const float *dYp, const float *Xp, float m, float invstd,
                                        float scale, float mean_dy, float mean_dy_xhat, int HW) {
    int i = 0;
    if (v == CK_SIMD) {
        const vf mv = vsplat(m), iv = vsplat(invstd), sv = vsplat(scale), a = vsplat(mean_dy), b = vsplat(mean_dy_xhat);
        for (; i + VL <= HW; i += VL) {
            const vf xhat = (vload(Xp + i) - mv) * iv;
            vstore(dXp + i, sv * (vload(dYp + i) - a - xhat * b));
        }
    }
    NO_VECTORIZE
    for (; i < HW; i++) {
        const float xhat = (Xp[i] - m) * invstd;
        dXp[i] = scale * (dYp[i] - mean_dy - xhat * mean_dy_xhat);
    }
}

void batchnorm_channel_backward(ck_variant v, gradient_plane_fn gradient, const void *context, int into_dX,
                                float *scratch, float *dX, float *dgamma, float *dbeta, float *dX_sum, const float *X,
                                const float *mean, const float *var, const float *gamma, float eps, int N, int C,
                                int HW, int c) {
    const float m = mean[c], invstd = inverse_std(var[c], eps);
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (int n = 0; n < N; n++) {
        const size_t at = ((size_t)n * C + c) * HW;
        float a, b;
        const float *dYp = gradient(context, n, c, into_dX && dX ? dX + at : scratch);
        plane_gradient_sums(v, dYp, X + at, m, invstd, HW, &a, &b);
        sum_dy += a;
        sum_dy_xhat += b;
    }
    dbeta[c] = (float)sum_dy;
    dgamma[c] = (float)sum_dy_xhat;
    if (!dX) return;
    const double count = (double)N * HW;
    const float mean_dy = (float)(sum_dy / count), mean_dy_xhat = (float)(sum_dy_xhat / count);
    vf acc = vsplat(0.0f);
    float tail = 0.0f;
    for (int n = 0; n < N; n++) {
        const size_t at = ((size_t)n * C + c) * HW;
        // A plane rebuilt into dX is there (each value read before it is overwritten).
        const float *dYp = into_dX ? dX + at : gradient(context, n, c, scratch);
        plane_input_gradient(v, dX + at, dYp, X + at, m, invstd, gamma[c] * invstd, mean_dy, mean_dy_xhat, HW);
        // Summed while the plane is in L1: a separate pass would read dX back from L3.
        if (dX_sum) plane_sum_running(&acc, &tail, dX + at, (size_t)HW);
    }
    if (dX_sum) dX_sum[c] = vsum(acc) + tail;
}

// dY's own plane: the separate batch norm's gradient, read where it is.
typedef struct { const float *dY; int C, HW; } gradient_planes;

static const float *gradient_plane_of(const void *context, int n, int c, float *into) {
    (void)into;
    const gradient_planes *g = context;
    return g->dY + ((size_t)n * g->C + c) * g->HW;
}

void ck_batchnorm_backward(ck_variant v, float *dX, float *dgamma, float *dbeta, const float *dY, const float *X,
                           const float *mean, const float *var, const float *gamma, float eps, int N, int C, int HW) {
    const double work = 10.0 * N * C * HW;
    const gradient_planes planes = {dY, C, HW};
    CK_PARALLEL_FOR(c, C, work, batchnorm_channel_backward(v, gradient_plane_of, &planes, 0, NULL, dX, dgamma, dbeta, NULL, X,
                                                          mean, var, gamma, eps, N, C, HW, c));
}
