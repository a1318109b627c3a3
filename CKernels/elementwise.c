// Activations. The SIMD variants use their own vector exp, because libm's expf does not
// vectorise: for the tutorial net, 3,482 scalar expf calls per sample would cost more than
// its whole convolution.
#include <math.h>
#include "CKernels.h"
#include "vec.h"
#include "planes.h"

// e^x for x in [-87, 88] (callers clamp): x = k·ln2 + r with |r| ≤ ln2/2, e^r by the
// degree-6 minimax polynomial of Cephes' expf (relative error about 1e-7), 2^k built in the
// exponent bits.
static inline vf vexp(vf x) {
    const vf k = __builtin_elementwise_floor(x * 1.44269504088896341f + 0.5f);
    vf r = x - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    vf p = vsplat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    vi bits = (__builtin_convertvector(k, vi) + 127) << 23;
    vf scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline vf vclamp(vf x, float lo, float hi) {
    return __builtin_elementwise_min(__builtin_elementwise_max(x, vsplat(lo)), vsplat(hi));
}

// σ(x) = 1/(1+e^-x); beyond |x| = 87 it is 0 or 1 to float precision anyway.
static inline vf vsigmoid(vf x) { return 1.0f / (1.0f + vexp(vclamp(-x, -87.0f, 87.0f))); }

static void sigmoid_forward(ck_variant v, float *y, const float *x, const float *unused, size_t n) {
    (void)unused;
    size_t i = 0;
    if (v == CK_SIMD) {
        for (; i + VL <= n; i += VL) vstore(y + i, vsigmoid(vload(x + i)));
    }
    NO_VECTORIZE
    for (; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
}

static void sigmoid_backward(ck_variant v, float *dx, const float *dy, const float *y, size_t n) {
    if (v == CK_SIMD) {
        #pragma omp simd
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
    } else {
        NO_VECTORIZE
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
    }
}

// tanh(x) = 1 - 2/(e^{2x}+1): exact at 0, saturates cleanly to ±1.
static void tanh_forward(ck_variant v, float *y, const float *x, const float *unused, size_t n) {
    (void)unused;
    size_t i = 0;
    if (v == CK_SIMD) {
        for (; i + VL <= n; i += VL) {
            const vf e = vexp(vclamp(2.0f * vload(x + i), -87.0f, 87.0f));
            vstore(y + i, 1.0f - 2.0f / (e + 1.0f));
        }
    }
    NO_VECTORIZE
    for (; i < n; i++) y[i] = tanhf(x[i]);
}

static void tanh_backward(ck_variant v, float *dx, const float *dy, const float *y, size_t n) {
    if (v == CK_SIMD) {
        #pragma omp simd
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
    } else {
        NO_VECTORIZE
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
    }
}

void relu_forward(ck_variant v, float *y, const float *x, const float *unused, size_t n) {
    (void)unused;
    if (v == CK_SIMD) {
        #pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    } else {
        NO_VECTORIZE
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    }
}

// The gradient is taken from the output: y > 0 exactly where x > 0.
void relu_backward(ck_variant v, float *dx, const float *dy, const float *y, size_t n) {
    if (v == CK_SIMD) {
        #pragma omp simd
        for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    } else {
        NO_VECTORIZE
        for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    }
}

// The sum of two branches (a residual block's body and shortcut). a + b rounds the same way on
// either path, so the variants agree bit for bit.
static void add(ck_variant v, float *out, const float *a, const float *b, size_t n) {
    if (v == CK_SIMD) {
        #pragma omp simd
        for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
    } else {
        NO_VECTORIZE
        for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
    }
}

// ---- public entry points ----------------------------------------------------------------------

// Elements per parallel item: a multiple of VL, so every element takes the same path (vector or
// scalar tail) whatever the split, and results do not depend on the number of threads.
#define MAP_BLOCK 4096

typedef void (*map_fn)(ck_variant, float *, const float *, const float *, size_t);

// out[i] = f(a[i], b[i]) over n elements in blocks. A map does a few flops per element and is
// bound by memory: it goes to the team once its arrays outgrow CK_MEMORY_BOUND_BYTES (LeNet's
// first ReLU passes over 2.4 MB per batch), split as the convolutions split their images, so
// each core maps the activations it has just written. Smaller maps (the tutorial's 3380
// sigmoids) stay on the calling thread.
static void map_blocks(map_fn f, ck_variant v, float *out, const float *a, const float *b, size_t n, int arrays) {
    const int blocks = (int)((n + MAP_BLOCK - 1) / MAP_BLOCK);
    const double work = 4.0 * n * arrays >= CK_MEMORY_BOUND_BYTES ? CK_PARALLEL_MIN_FLOPS : 0.0;
    CK_PARALLEL_FOR(i, blocks, work,
                    f(v, out + (size_t)i * MAP_BLOCK, a + (size_t)i * MAP_BLOCK, b ? b + (size_t)i * MAP_BLOCK : NULL,
                      (size_t)i * MAP_BLOCK + MAP_BLOCK <= n ? MAP_BLOCK : n - (size_t)i * MAP_BLOCK));
}

void ck_sigmoid_forward(ck_variant v, float *y, const float *x, size_t n) { map_blocks(sigmoid_forward, v, y, x, NULL, n, 2); }
void ck_sigmoid_backward(ck_variant v, float *dx, const float *dy, const float *y, size_t n) { map_blocks(sigmoid_backward, v, dx, dy, y, n, 3); }
void ck_tanh_forward(ck_variant v, float *y, const float *x, size_t n) { map_blocks(tanh_forward, v, y, x, NULL, n, 2); }
void ck_tanh_backward(ck_variant v, float *dx, const float *dy, const float *y, size_t n) { map_blocks(tanh_backward, v, dx, dy, y, n, 3); }
void ck_relu_forward(ck_variant v, float *y, const float *x, size_t n) { map_blocks(relu_forward, v, y, x, NULL, n, 2); }
void ck_relu_backward(ck_variant v, float *dx, const float *dy, const float *y, size_t n) { map_blocks(relu_backward, v, dx, dy, y, n, 3); }
void ck_add(ck_variant v, float *out, const float *a, const float *b, size_t n) { map_blocks(add, v, out, a, b, n, 3); }
