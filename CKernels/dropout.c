// Dropout. The mask is a pure function of (key, sample, element), a counter-based hash rather
// than a generator's state, so it is the same on any thread count, in any share of a batch and
// after a resume. 32-bit arithmetic throughout: AVX2 has a 32-bit vector multiply but no
// 64-bit one, and the SIMD variant gives exactly the scalar variant's mask.
#include "CKernels.h"
#include "vec.h"

// lowbias32 (Chris Wellons' hash prospector): a bijection of 32 bits with strong avalanche.
static inline uint32_t mix32(uint32_t x) {
    x ^= x >> 16; x *= 0x7feb352dU;
    x ^= x >> 15; x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static inline vu vmix32(vu x) {
    x ^= x >> 16; x *= 0x7feb352dU;
    x ^= x >> 15; x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

// The hash of element i of a sample whose own hash is s.
static inline uint32_t element_hash(uint32_t s, uint32_t k1, uint32_t i) { return mix32(mix32(s + i * 0x9E3779B9U) ^ k1); }

static void dropout_sample(ck_variant v, float *Yp, float *Mp, const float *Xp, uint32_t s, uint32_t k1,
                           uint32_t threshold, float scale, int D) {
    int i = 0;
    if (v == CK_SIMD) {
        vu lanes;
        for (int l = 0; l < VL; l++) lanes[l] = (uint32_t)l;
        for (; i + VL <= D; i += VL) {
            const vu h = vmix32(vmix32(s + (lanes + (uint32_t)i) * 0x9E3779B9U) ^ k1);
            const vi keep = (vi)(h >= threshold);  // all bits set where kept
            const vf scales = vsplat(scale);
            vi bits;
            memcpy(&bits, &scales, sizeof bits);
            bits &= keep;
            vf m;
            memcpy(&m, &bits, sizeof m);
            vstore(Mp + i, m);
            vstore(Yp + i, vload(Xp + i) * m);
        }
    }
    NO_VECTORIZE
    for (; i < D; i++) {
        const float m = element_hash(s, k1, (uint32_t)i) >= threshold ? scale : 0.0f;
        Mp[i] = m;
        Yp[i] = Xp[i] * m;
    }
}

void ck_dropout_forward(ck_variant v, float *Y, float *mask, const float *X, float p, uint64_t key,
                        long first_sample, int N, int D) {
    // Kept where the hash is at least p·2³²: probability 1 − p to within 2⁻³².
    const double t = (double)p * 4294967296.0;
    const uint32_t threshold = t >= 4294967295.0 ? 0xFFFFFFFFU : (uint32_t)t;
    const float scale = 1.0f / (1.0f - p);
    const uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    const double work = 16.0 * N * D;
    CK_PARALLEL_FOR(n, N, work,
                    dropout_sample(v, Y + (size_t)n * D, mask + (size_t)n * D, X + (size_t)n * D,
                                   mix32(k0 ^ mix32((uint32_t)(first_sample + n))),
                                   k1, threshold, scale, D));
}

static void multiply_range(ck_variant v, float *dX, const float *dY, const float *mask, size_t lo, size_t hi) {
    if (v == CK_SIMD) {
        #pragma omp simd
        for (size_t i = lo; i < hi; i++) dX[i] = dY[i] * mask[i];
    } else {
        NO_VECTORIZE
        for (size_t i = lo; i < hi; i++) dX[i] = dY[i] * mask[i];
    }
}

void ck_dropout_backward(ck_variant v, float *dX, const float *dY, const float *mask, int N, int D) {
    const double work = 1.0 * N * D;
    CK_PARALLEL_FOR(n, N, work, multiply_range(v, dX, dY, mask, (size_t)n * D, (size_t)(n + 1) * D));
}
