// Private to CKernels: the 8-lane vector type the SIMD variants are written in, and the
// threshold below which work stays on one thread.
#ifndef CKERNELS_VEC_H
#define CKERNELS_VEC_H

#include <string.h>

// GCC/Clang vector extension: one AVX ymm register on x86-64 with AVX2 (Zen 4 runs 256-bit FMAs
// at the same peak as 512-bit ones), two xmm on plain x86-64, two NEON registers on arm64.
typedef float vf __attribute__((vector_size(32)));
typedef int vi __attribute__((vector_size(32)));
#define VL 8

static inline vf vload(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline vf vsplat(float s) { return (vf){s, s, s, s, s, s, s, s}; }
// Lanes summed pairwise in a fixed order, so the result never depends on who computed it.
static inline float vsum(vf v) {
    float a = (v[0] + v[4]) + (v[2] + v[6]);
    float b = (v[1] + v[5]) + (v[3] + v[7]);
    return a + b;
}

#define FORCE_INLINE static inline __attribute__((always_inline))
#define NO_VECTORIZE _Pragma("clang loop vectorize(disable) interleave(disable)")

// A parallel region costs a few microseconds to wake the team; below this many flops (about
// 10 µs of one core's work) the loop runs on the calling thread.
#define CK_PARALLEL_MIN_FLOPS (1.0 * (1 << 20))

// for (int I = 0; I < COUNT; I++) BODY, on the OpenMP team when WORK ≥ CK_PARALLEL_MIN_FLOPS,
// else as a plain loop: an `if(0)` parallel region still costs libomp about a microsecond, as
// much as a whole single-plane correlation. BODY should be a call (it is compiled twice).
#define CK_PARALLEL_FOR(I, COUNT, WORK, BODY)                                      \
    do {                                                                           \
        const int ck_count_ = (COUNT);                                             \
        if ((WORK) >= CK_PARALLEL_MIN_FLOPS) {                                     \
            _Pragma("omp parallel for schedule(static)")                           \
            for (int I = 0; I < ck_count_; I++) { BODY; }                          \
        } else {                                                                   \
            for (int I = 0; I < ck_count_; I++) { BODY; }                          \
        }                                                                          \
    } while (0)

#endif
