// Batch norm, ReLU and max pooling fused into fewer passes over memory. After a convolution they
// are memory-bound: a batch's activations outgrow the caches (64 Fashion-MNIST images through 32
// filters are 6.4 MB), so each separate pass reads and writes them from L3 or DRAM. Here each
// plane (n, c) goes through all the steps while it is in L1, in a scratch plane on the stack, and
// only the last step's output is written: relu(BN(X)) without BN(X); the pooled maximum of
// relu(BN(X)) with neither; on the way back, the gradient under the ReLU and the pooling is
// rebuilt plane by plane where batch norm's backward pass reads it.
//
// Every value is computed by the same plane steps as the separate kernels (planes.h), in the same
// order, so the fused passes give the separate passes' results bit for bit (tested).
#include "CKernels.h"
#include "vec.h"
#include "planes.h"

// ---- batch norm then ReLU ----

static void batchnorm_relu_plane(ck_variant v, float *Yp, const float *Xp, float m, float invstd, float g, float b, int HW) {
    normalize_plane(v, Yp, Xp, m, invstd, g, b, HW);
    relu_forward(v, Yp, Yp, NULL, (size_t)HW);
}

void ck_batchnorm_relu_forward(ck_variant v, float *Y, const float *X, const float *mean, const float *var,
                               const float *gamma, const float *beta, float eps, int N, int C, int HW) {
    const double work = 4.0 * N * C * HW;
    CK_PARALLEL_FOR(p, N * C, work, batchnorm_relu_plane(v, Y + (size_t)p * HW, X + (size_t)p * HW, mean[p % C],
                                                         inverse_std(var[p % C], eps), gamma[p % C], beta[p % C], HW));
}

// The planes a fused backward pass reads and rebuilds: its input (H,W), its output after the
// pooling (OH,OW), windows K×K, S apart (K = S = 1, OH = H, OW = W without pooling).
typedef struct { int H, W, OH, OW, K, S; } pool_shape;

static pool_shape no_pool(int HW) { return (pool_shape){.H = 1, .W = HW, .OH = 1, .OW = HW, .K = 1, .S = 1}; }

static pool_shape pooled(int H, int W, int K, int S) {
    return (pool_shape){.H = H, .W = W, .OH = (H - K) / S + 1, .OW = (W - K) / S + 1, .K = K, .S = S};
}

// What a batch norm's backward pass reads for plane (n, c), ∂E/∂BN(X), rebuilt by `rebuild`
// into a plane dZp (H·W) from dY, Y and argmax (planes of OH·OW), what follows the batch norm.
typedef void (*rebuild_fn)(ck_variant v, float *dZp, const float *dYp, const float *Yp, const int32_t *Ap, pool_shape s);

typedef struct {
    ck_variant v;
    rebuild_fn rebuild;
    const float *dY, *Y;
    const int32_t *argmax;
    pool_shape s;
    int C;
} rebuilt_planes;

static const float *rebuilt_plane(const void *context, int n, int c, float *into) {
    const rebuilt_planes *r = context;
    const size_t p = (size_t)n * r->C + c, OHW = (size_t)r->s.OH * r->s.OW;
    r->rebuild(r->v, into, r->dY + p * OHW, r->Y + p * OHW, r->argmax ? r->argmax + p * OHW : NULL, r->s);
    return into;
}

// Batch norm's backward pass for channel c over the rebuilt planes. Where dX overlaps none of the
// inputs, each plane is rebuilt once, into dX's own plane, which the pass then overwrites with
// batch norm's input gradient (rebuilding each plane twice, once for the sums and once for dX,
// had taken a third of the pass's time); otherwise, as for a caller that works in place, twice,
// on the stack.
static void channel_backward_rebuilt(ck_variant v, rebuild_fn rebuild, int into_dX, float *dX, float *dgamma,
                                     float *dbeta, float *dX_sum, const float *dY, const float *Y, const int32_t *argmax,
                                     const float *X, const float *mean, const float *var, const float *gamma, float eps,
                                     int N, int C, pool_shape s, int c) {
    float scratch[s.H * s.W];  // H·W ≤ CK_FUSED_PLANE_MAX
    const rebuilt_planes planes = {v, rebuild, dY, Y, argmax, s, C};
    batchnorm_channel_backward(v, rebuilt_plane, &planes, into_dX, scratch, dX, dgamma, dbeta, dX_sum, X, mean, var,
                               gamma, eps, N, C, s.H * s.W, c);
}

// Whether [a, a + a_bytes) and [b, b + b_bytes) share a byte.
static int overlaps(const void *a, size_t a_bytes, const void *b, size_t b_bytes) {
    const uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return a && b && x < y + b_bytes && y < x + a_bytes;
}

// Whether dX (N,C,H,W) can hold the rebuilt planes: it overlaps none of what the pass reads, X of
// its shape, dY, Y and argmax of (N,C,OH,OW).
static int rebuilds_into(const float *dX, const float *X, const float *dY, const float *Y, const int32_t *argmax,
                         int N, int C, pool_shape s) {
    const size_t inputs = sizeof(float) * N * C * s.H * s.W, outputs = (size_t)N * C * s.OH * s.OW;
    return dX && !overlaps(dX, inputs, X, inputs) && !overlaps(dX, inputs, dY, sizeof(float) * outputs) &&
           !overlaps(dX, inputs, Y, sizeof(float) * outputs) &&
           !overlaps(dX, inputs, argmax, sizeof(int32_t) * outputs);
}

// Under a ReLU: dZ = Y > 0 ? dY : 0 (Y the ReLU's output).
static void relu_gradient_plane(ck_variant v, float *dZp, const float *dYp, const float *Yp, const int32_t *Ap,
                                pool_shape s) {
    (void)Ap;
    relu_backward(v, dZp, dYp, Yp, (size_t)s.H * s.W);
}

void ck_batchnorm_relu_backward(ck_variant v, float *dX, float *dgamma, float *dbeta, float *dX_sum, const float *dY,
                                const float *Y, const float *X, const float *mean, const float *var, const float *gamma, float eps,
                                int N, int C, int HW) {
    const double work = 10.0 * N * C * HW;
    const int into_dX = rebuilds_into(dX, X, dY, Y, NULL, N, C, no_pool(HW));
    CK_PARALLEL_FOR(c, C, work, channel_backward_rebuilt(v, relu_gradient_plane, into_dX, dX, dgamma, dbeta, dX_sum, dY,
                                                         Y, NULL, X, mean, var, gamma, eps, N, C, no_pool(HW), c));
}

// ---- ReLU then max pooling ----

static void relu_maxpool_plane(float *Yp, int32_t *Ap, const float *Xp, int H, int W, int OH, int OW, int K, int S) {
    float Zp[H * W];  // H·W ≤ CK_FUSED_PLANE_MAX
    relu_forward(CK_SIMD, Zp, Xp, NULL, (size_t)H * W);
    pool_plane_any(Yp, Ap, Zp, W, OH, OW, K, S);
}

void ck_relu_maxpool_forward(float *Y, int32_t *argmax, const float *X, int N, int C, int H, int W, int K, int S) {
    const int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    const double bytes = 4.0 * N * C * (H * W + 2.0 * OH * OW);
    const double work = bytes >= CK_MEMORY_BOUND_BYTES ? CK_PARALLEL_MIN_FLOPS : 1.0 * N * C * OH * OW * K * K;
    CK_PARALLEL_FOR(p, N * C, work, relu_maxpool_plane(Y + (size_t)p * OH * OW, argmax ? argmax + (size_t)p * OH * OW : NULL,
                                                       X + (size_t)p * H * W, H, W, OH, OW, K, S));
}

// Under a ReLU and a max pool: each window's dY goes to its maximum where that maximum, the
// window's Y, is positive. A position several windows pick has one ReLU output, their common Y,
// so this adds the same terms in the same order as the pool's backward pass masked afterwards.
static void relu_maxpool_gradient_plane(ck_variant v, float *dZp, const float *dYp, const float *Yp, const int32_t *Ap,
                                        pool_shape s) {
    float dYmasked[s.OH * s.OW];  // OH·OW ≤ H·W ≤ CK_FUSED_PLANE_MAX
    relu_backward(v, dYmasked, dYp, Yp, (size_t)s.OH * s.OW);  // a select per value: no branch to mispredict
    unpool_plane_any(dZp, dYmasked, Ap, s.H, s.W, s.OH, s.OW, s.K, s.S);
}

void ck_relu_maxpool_backward(float *dX, const float *dY, const float *Y, const int32_t *argmax,
                              int N, int C, int H, int W, int K, int S) {
    const pool_shape s = pooled(H, W, K, S);
    const double bytes = 4.0 * N * C * (H * W + 2.0 * s.OH * s.OW);
    const double work = bytes >= CK_MEMORY_BOUND_BYTES ? CK_PARALLEL_MIN_FLOPS : 1.0 * N * C * H * W;
    const size_t plane = (size_t)H * W, outputs = (size_t)s.OH * s.OW;
    CK_PARALLEL_FOR(p, N * C, work, relu_maxpool_gradient_plane(CK_SIMD, dX + p * plane, dY + p * outputs, Y + p * outputs,
                                                                argmax + p * outputs, s));
}

// ---- batch norm, ReLU and max pooling ----

static void batchnorm_relu_maxpool_plane(ck_variant v, float *Yp, int32_t *Ap, const float *Xp, float m, float invstd,
                                         float g, float b, int H, int W, int OH, int OW, int K, int S) {
    float Zp[H * W];  // H·W ≤ CK_FUSED_PLANE_MAX
    batchnorm_relu_plane(v, Zp, Xp, m, invstd, g, b, H * W);
    pool_plane_any(Yp, Ap, Zp, W, OH, OW, K, S);
}

void ck_batchnorm_relu_maxpool_forward(ck_variant v, float *Y, int32_t *argmax, const float *X, const float *mean,
                                       const float *var, const float *gamma, const float *beta, float eps,
                                       int N, int C, int H, int W, int K, int S) {
    const int OH = (H - K) / S + 1, OW = (W - K) / S + 1;
    const double work = 4.0 * N * C * H * W;
    CK_PARALLEL_FOR(p, N * C, work,
                    batchnorm_relu_maxpool_plane(v, Y + (size_t)p * OH * OW, argmax ? argmax + (size_t)p * OH * OW : NULL,
                                                 X + (size_t)p * H * W, mean[p % C], inverse_std(var[p % C], eps),
                                                 gamma[p % C], beta[p % C], H, W, OH, OW, K, S));
}

void ck_batchnorm_relu_maxpool_backward(ck_variant v, float *dX, float *dgamma, float *dbeta, float *dX_sum,
                                        const float *dY, const float *Y, const int32_t *argmax, const float *X, const float *mean,
                                        const float *var, const float *gamma, float eps, int N, int C, int H, int W,
                                        int K, int S) {
    const double work = 10.0 * N * C * H * W;
    const pool_shape s = pooled(H, W, K, S);
    const int into_dX = rebuilds_into(dX, X, dY, Y, argmax, N, C, s);
    CK_PARALLEL_FOR(c, C, work, channel_backward_rebuilt(v, relu_maxpool_gradient_plane, into_dX, dX, dgamma, dbeta,
                                                         dX_sum, dY, Y, argmax, X, mean, var, gamma, eps, N, C, s, c));
}
