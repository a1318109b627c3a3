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

// Vector registers the compiler may allocate: AVX-512 has 32 (zmm0-31, of which the ymm halves
// carry these 8-lane vectors), AVX2 16. The convolution's register tiles are sized from it at
// compile time; every tile sums each output in the same order, so results do not depend on it.
#if defined(__AVX512F__) && defined(__AVX512VL__)
#define CK_VREGS 32
#else
#define CK_VREGS 16
#endif
// The most accumulators any register tile holds (arrays sized by it stay in registers after
// unrolling; only OB·R·V of them are used).
#define CK_TILE_MAX (CK_VREGS == 32 ? 28 : 12)

static inline vf vload(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void vstore(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline vf vsplat(float s) { return (vf){s, s, s, s, s, s, s, s}; }
// Lanes summed pairwise in a fixed order, so the result never depends on who computed it.
static inline float vsum(vf v) {
    float a = (v[0] + v[4]) + (v[2] + v[6]);
    float b = (v[1] + v[5]) + (v[3] + v[7]);
    return a + b;
}

// r[0..7] := its transpose, lane j of r[i] to lane i of r[j]: two rounds of pair interleaves,
// then the halves swapped (the usual 24-shuffle 8×8 transpose).
static inline void vtranspose8(vf r[8]) {
    vf t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4)
        for (int h = 0; h < 2; h++) {
            u[i + 2 * h] = __builtin_shufflevector(t[i + h], t[i + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            u[i + 2 * h + 1] = __builtin_shufflevector(t[i + h], t[i + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    for (int j = 0; j < 4; j++) {
        r[j] = __builtin_shufflevector(u[j], u[j + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        r[j + 4] = __builtin_shufflevector(u[j], u[j + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

#define FORCE_INLINE static inline __attribute__((always_inline))
#define NO_VECTORIZE _Pragma("clang loop vectorize(disable) interleave(disable)")

// A parallel region costs a few microseconds to wake the team; below this many flops (about
// 10 µs of one core's work) the loop runs on the calling thread.
#define CK_PARALLEL_MIN_FLOPS (1.0 * (1 << 20))

// A weight matrix this large (the tutorial's 3380×100 is 1.35 MB) does not fit one core's L2;
// split across two cores, each half stays in its core's L2 from one step to the next, so a
// pass over it is worth the team even when its flops are few.
#define CK_MEMORY_BOUND_BYTES (256.0 * 1024)

#ifdef _OPENMP
#include <omp.h>
// Thread t of T takes items [COUNT·t/T, COUNT·(t+1)/T): contiguous, and the same split for every
// loop of the same length, so consecutive kernels over the same rows keep them on one core.
#define CK_TEAM_RANGE(COUNT, LO, HI)                                               \
    const int ck_t_ = omp_get_thread_num(), ck_n_ = omp_get_num_threads();        \
    const int LO = (int)((long)(COUNT) * ck_t_ / ck_n_);                           \
    const int HI = (int)((long)(COUNT) * (ck_t_ + 1) / ck_n_)
#endif

// for (int I = 0; I < COUNT; I++) BODY, on the OpenMP team when WORK ≥ CK_PARALLEL_MIN_FLOPS,
// else as a plain loop: an `if(0)` parallel region still costs libomp about a microsecond, as
// much as a whole single-plane correlation. The team splits the range itself rather than with
// `omp for`, whose static-schedule set-up allocates on every call in Debian's libomp 14.
// BODY should be a call (it is compiled twice).
#ifdef _OPENMP
#define CK_PARALLEL_FOR(I, COUNT, WORK, BODY)                                      \
    do {                                                                           \
        const int ck_count_ = (COUNT);                                             \
        if ((WORK) >= CK_PARALLEL_MIN_FLOPS && ck_count_ > 1) {                    \
            _Pragma("omp parallel")                                                \
            {                                                                      \
                CK_TEAM_RANGE(ck_count_, ck_lo_, ck_hi_);                          \
                for (int I = ck_lo_; I < ck_hi_; I++) { BODY; }                    \
            }                                                                      \
        } else {                                                                   \
            for (int I = 0; I < ck_count_; I++) { BODY; }                          \
        }                                                                          \
    } while (0)
#else
#define CK_PARALLEL_FOR(I, COUNT, WORK, BODY)                                      \
    do {                                                                           \
        const int ck_count_ = (COUNT);                                             \
        for (int I = 0; I < ck_count_; I++) { BODY; }                              \
    } while (0)
#endif

#endif
