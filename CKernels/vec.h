// Private to CKernels: the vector type the SIMD variants are written in, and the threshold below
// which work stays on one thread.
#ifndef CKERNELS_VEC_H
#define CKERNELS_VEC_H

#include <stdint.h>
#include <string.h>
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

// One vector register (GCC/Clang vector extension): 16 lanes, a zmm register, where the CPU has
// AVX-512; 8 lanes elsewhere, a ymm register with AVX2 (two xmm on plain x86-64, two NEON
// registers on arm64). Zen 4 runs a 512-bit FMA as two 256-bit halves, so there the width only
// halves the instructions; Intel's AVX-512 cores have two 512-bit FMA units and twice AVX2's
// peak (docs/kernels.md, "Vector width"). The manifest passes -mprefer-vector-width=512, without
// which clang splits these vectors into ymm halves on Intel.
#if defined(__AVX512F__)
#define VL 16
#else
#define VL 8
#endif
typedef float vf __attribute__((vector_size(4 * VL)));
typedef int32_t vi __attribute__((vector_size(4 * VL)));
typedef uint32_t vu __attribute__((vector_size(4 * VL)));
// 8 lanes whatever VL is: the blocks of the 8×8 transposes that move planes to and from the
// channel-last layouts.
typedef float vf8 __attribute__((vector_size(32)));

// Vector registers the compiler may allocate: AVX-512 has 32 (zmm0-31), AVX2 16. The
// convolution's register tiles are sized from it at compile time; every tile sums each output
// in the same order, so results do not depend on it.
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
static inline vf vsplat(float s) {
    vf v;
    for (int l = 0; l < VL; l++) v[l] = s;  // one broadcast (0 + s would be an add: -0 + 0 is +0)
    return v;
}
static inline vf8 vload8(const float *p) { vf8 v; memcpy(&v, p, sizeof v); return v; }
static inline void vstore8(float *p, vf8 v) { memcpy(p, &v, sizeof v); }
// Lanes 8h ..< 8h+8 of v.
static inline vf8 vpart8(vf v, int h) { vf8 r; memcpy(&r, (const float *)&v + 8 * h, sizeof r); return r; }
// A vector whose low half is the VL/2 floats at p and whose high half those at p + next (two
// rows' ends in one vector), and its store.
static inline vf vload_split(const float *p, int next) {
#if VL == 16
    return __builtin_shufflevector(vload8(p), vload8(p + next), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#else
    vf v;
    memcpy(&v, p, sizeof(float) * VL / 2);
    memcpy((float *)&v + VL / 2, p + next, sizeof(float) * VL / 2);
    return v;
#endif
}
static inline void vstore_split(float *p, vf v, int next) {
    memcpy(p, &v, sizeof(float) * VL / 2);
    memcpy(p + next, (const float *)&v + VL / 2, sizeof(float) * VL / 2);
}

// Lanes summed pairwise in a fixed order, so the result never depends on who computed it: the
// two halves of a 16-lane vector added lane by lane first.
static inline float vsum8(vf8 v) {
    float a = (v[0] + v[4]) + (v[2] + v[6]);
    float b = (v[1] + v[5]) + (v[3] + v[7]);
    return a + b;
}
static inline float vsum(vf v) {
#if VL == 16
    return vsum8(vpart8(v, 0) + vpart8(v, 1));
#else
    return vsum8(v);
#endif
}

// Lanes VL-s ..< 2VL-s of the concatenation (a, b): b moved up by s lanes with a's top lanes
// below it (AVX-512's valignd). s must be a constant.
#if VL == 16
#define CK_ALIGN(a, b, s)                                                                          \
    __builtin_shufflevector(a, b, 16 - (s), 17 - (s), 18 - (s), 19 - (s), 20 - (s), 21 - (s), 22 - (s), \
                            23 - (s), 24 - (s), 25 - (s), 26 - (s), 27 - (s), 28 - (s), 29 - (s),       \
                            30 - (s), 31 - (s))
#else
#define CK_ALIGN(a, b, s)                                                                          \
    __builtin_shufflevector(a, b, 8 - (s), 9 - (s), 10 - (s), 11 - (s), 12 - (s), 13 - (s), 14 - (s), 15 - (s))
#endif

// r[0..7] := its transpose, lane j of r[i] to lane i of r[j]: two rounds of pair interleaves,
// then the halves swapped (the usual 24-shuffle 8×8 transpose).
static inline void vtranspose8(vf8 r[8]) {
    vf8 t[8], u[8];
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

// Rows r[0..7] of VL lanes stored transposed: lane l of the 8 rows, 8 floats, to dst + l·stride,
// for lanes l < count (8 at a time through vtranspose8 where all 8 are wanted).
static inline void vstore_transposed(float *dst, size_t stride, const vf r[8], int count) {
    for (int h = 0; h < VL / 8 && 8 * h < count; h++) {
        if (8 * h + 8 <= count) {
            vf8 t[8];
            for (int i = 0; i < 8; i++) t[i] = vpart8(r[i], h);
            vtranspose8(t);
            for (int l = 0; l < 8; l++) vstore8(dst + (size_t)(8 * h + l) * stride, t[l]);
        } else {
            for (int l = 8 * h; l < count; l++)
                for (int i = 0; i < 8; i++) dst[(size_t)l * stride + i] = r[i][l];
        }
    }
}

// Lanes lo ..< hi of v stored to p[lo ..< hi], the other lanes' memory untouched (and not
// touched at all where masked stores exist: p[0 ..< VL) need not all be valid); and loaded,
// the other lanes kept from `into`.
#if VL == 16
static inline __mmask16 lane_mask(int lo, int hi) { return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1)); }
static inline void vstore_lanes(float *p, vf v, int lo, int hi) { _mm512_mask_storeu_ps(p, lane_mask(lo, hi), (__m512)v); }
static inline vf vload_lanes(vf into, const float *p, int lo, int hi) {
    return (vf)_mm512_mask_loadu_ps((__m512)into, lane_mask(lo, hi), p);
}
// The lanes of p set in mask, the others zero: memory under the other lanes is not read.
static inline vf vload_masked(const float *p, uint16_t mask) { return (vf)_mm512_maskz_loadu_ps((__mmask16)mask, p); }
#elif defined(__AVX2__)
static inline __m256i lane_mask(int lo, int hi) {
    const __m256i l = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_si256(_mm256_cmpgt_epi32(l, _mm256_set1_epi32(lo - 1)), _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), l));
}
static inline void vstore_lanes(float *p, vf v, int lo, int hi) { _mm256_maskstore_ps(p, lane_mask(lo, hi), (__m256)v); }
static inline vf vload_lanes(vf into, const float *p, int lo, int hi) {
    const __m256i m = lane_mask(lo, hi);
    return (vf)_mm256_blendv_ps((__m256)into, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
#else
static inline void vstore_lanes(float *p, vf v, int lo, int hi) { for (int l = lo; l < hi; l++) p[l] = v[l]; }
static inline vf vload_lanes(vf into, const float *p, int lo, int hi) {
    for (int l = lo; l < hi; l++) into[l] = p[l];
    return into;
}
#endif

// The first n lanes (0 ≤ n ≤ VL) of p, the rest zero, and stored: a plain load or store when n is
// VL, masked otherwise (the end of a row or a plane).
static inline vf vload_first(const float *p, int n) { return n == VL ? vload(p) : vload_lanes(vsplat(0.0f), p, 0, n); }
static inline void vstore_first(float *p, vf v, int n) {
    if (n == VL) vstore(p, v);
    else vstore_lanes(p, v, 0, n);
}

#define FORCE_INLINE static inline __attribute__((always_inline))
// Shared between CKernels' files, never exported from the library.
#define CK_INTERNAL __attribute__((visibility("hidden")))
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
// Thread t of T owns items [COUNT·t/T, COUNT·(t+1)/T): contiguous, and the same split for every
// loop of the same length, so consecutive kernels over the same rows keep them on one core (on
// Zen 4 a core reads lines another core wrote at about a third of the rate of its own). It takes
// them in order, one at a time; a thread whose items are done takes the back half of what
// another has left (work stealing). On a shared host one vCPU often runs slower than the other,
// and with a fixed split the faster then waited at every barrier: 10 % of its time in the fashion
// step on Zen 4. Which thread runs an item never changes its result (each item writes its own
// outputs, summed in its own fixed order), so the bits stay the same on any thread count.
//
// A thread's range lives in one 64-bit word, next item above, end below, on a cache line of its
// own: the owner claims its next item, and a thief the back half, each by compare-and-swap, so
// every item is taken once. A range a thief took goes in the thief's own word (empty until then:
// no other thread can have changed it), where others may steal from it in turn.
typedef struct { uint64_t range; char pad[56]; } __attribute__((aligned(64))) ck_team_slot;

FORCE_INLINE uint64_t ck_team_range(int next, int end) { return (uint64_t)(uint32_t)next << 32 | (uint32_t)end; }

// The next item of slot s into *item; 0 when s is empty.
FORCE_INLINE int ck_team_claim(ck_team_slot *s, int *item) {
    uint64_t r = __atomic_load_n(&s->range, __ATOMIC_ACQUIRE);
    for (;;) {
        const int next = (int)(r >> 32), end = (int)(uint32_t)r;
        if (next >= end) return 0;
        if (__atomic_compare_exchange_n(&s->range, &r, ck_team_range(next + 1, end), 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            *item = next;
            return 1;
        }
    }
}

// Moves the back half of another thread's range (the last item too) into slot me; 0 when every
// other range is empty.
FORCE_INLINE int ck_team_steal(ck_team_slot *slots, int team, int me) {
    for (int k = 1; k < team; k++) {
        ck_team_slot *s = &slots[(me + k) % team];
        uint64_t r = __atomic_load_n(&s->range, __ATOMIC_ACQUIRE);
        for (;;) {
            const int next = (int)(r >> 32), end = (int)(uint32_t)r;
            if (next >= end) break;
            const int middle = next + (end - next) / 2;
            if (__atomic_compare_exchange_n(&s->range, &r, ck_team_range(next, middle), 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                __atomic_store_n(&slots[me].range, ck_team_range(middle, end), __ATOMIC_RELEASE);
                return 1;
            }
        }
    }
    return 0;
}

// The calling thread's next item: its own, else one stolen; 0 when no thread has any left.
FORCE_INLINE int ck_team_next(ck_team_slot *slots, int team, int me, int *item) {
    while (!ck_team_claim(&slots[me], item))
        if (!ck_team_steal(slots, team, me)) return 0;
    return 1;
}
#endif

// for (int I = 0; I < COUNT; I++) BODY, on the OpenMP team when WORK ≥ CK_PARALLEL_MIN_FLOPS,
// else as a plain loop: an `if(0)` parallel region still costs libomp about a microsecond, as
// much as a whole single-plane correlation. The team splits the range itself (above) rather
// than with `omp for`, whose static-schedule set-up allocates on every call in Debian's libomp
// 14 and whose dynamic schedules give up the contiguous split. BODY should be a call (it is
// compiled twice) and must not depend on which thread runs it.
#ifdef _OPENMP
#define CK_PARALLEL_FOR(I, COUNT, WORK, BODY)                                      \
    do {                                                                           \
        const int ck_count_ = (COUNT);                                             \
        if ((WORK) >= CK_PARALLEL_MIN_FLOPS && ck_count_ > 1) {                    \
            const int ck_max_ = omp_get_max_threads();                             \
            ck_team_slot ck_slots_[ck_max_];                                       \
            memset(ck_slots_, 0, sizeof(ck_slots_));                               \
            _Pragma("omp parallel")                                                \
            {                                                                      \
                const int ck_t_ = omp_get_thread_num(), ck_n_ = omp_get_num_threads(); \
                __atomic_store_n(&ck_slots_[ck_t_].range,                          \
                                 ck_team_range((int)((long)ck_count_ * ck_t_ / ck_n_), \
                                               (int)((long)ck_count_ * (ck_t_ + 1) / ck_n_)), \
                                 __ATOMIC_RELEASE);                                \
                for (int I; ck_team_next(ck_slots_, ck_n_, ck_t_, &I);) { BODY; }  \
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
