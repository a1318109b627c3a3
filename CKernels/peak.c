// The machine's peak fp32 FMA rate and memory bandwidth, for reporting every other kernel as a
// share of them.
//
// Each thread runs PEAK_CHAINS independent accumulator vectors through acc = acc·a + b: FMA
// latency is 4 cycles and the cores issue two FMAs a cycle, so at least 8 chains are in flight;
// 12 (plus the two constants) still fit the 16 registers of AVX2, so nothing spills.
// a = 0.999999 and b = 1e-6 converge to 1.0: no overflow, no subnormals.
#include "CKernels.h"
#include "vec.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#define PEAK_CHAINS 12

static volatile float peak_sink;

// 16-lane vectors: one zmm register where the CPU has AVX-512 (12 chains and the constants fit
// its 32), two ymm halves elsewhere. Where the kernels have 8 lanes, it shows what 16-lane ones
// could reach; where they have 16 (vf is then the same type), it is the same measurement.
typedef float vf16 __attribute__((vector_size(64)));

// One thread's chains of type T (LANES lanes): acc = acc·a + b, summed at the end so no chain is
// dead code.
#define PEAK_CHAINS_OF(name, T, LANES)                                                                  \
    static float name(long iterations) {                                                                \
        T a, b, acc[PEAK_CHAINS];                                                                       \
        for (int l = 0; l < LANES; l++) { a[l] = 0.999999f; b[l] = 1e-6f; }                              \
        /* Every chain starts away from the fixed point 1.0, so the compiler cannot fold any away. */   \
        for (int i = 0; i < PEAK_CHAINS; i++)                                                           \
            for (int l = 0; l < LANES; l++) acc[i][l] = 1.0f + (i + 1) * 1e-3f;                         \
        for (long it = 0; it < iterations; it++) {                                                      \
            _Pragma("GCC unroll 12") for (int i = 0; i < PEAK_CHAINS; i++) acc[i] = acc[i] * a + b;     \
        }                                                                                               \
        float s = 0.0f;                                                                                 \
        for (int i = 0; i < PEAK_CHAINS; i++)                                                           \
            for (int l = 0; l < LANES; l++) s += acc[i][l];                                             \
        return s;                                                                                       \
    }

PEAK_CHAINS_OF(peak_chains, vf, VL)
PEAK_CHAINS_OF(peak_chains_16, vf16, 16)

static double peak_run(int threads, long iterations, int lanes) {
    if (threads < 1) threads = 1;
    float total = 0.0f;
    int team = 1;
    #pragma omp parallel num_threads(threads) reduction(+ : total)
    {
        total += lanes == 16 ? peak_chains_16(iterations) : peak_chains(iterations);
#ifdef _OPENMP
        #pragma omp single
        team = omp_get_num_threads();
#endif
    }
    peak_sink = total;
    return 2.0 * lanes * PEAK_CHAINS * (double)iterations * team;
}

double ck_peak_fma(int threads, long iterations) { return peak_run(threads, iterations, VL); }

double ck_peak_fma_16(int threads, long iterations) { return peak_run(threads, iterations, 16); }

// ---- memory bandwidth ---------------------------------------------------------------------------

// One pass over x[lo, hi) as a training step passes over a weight matrix: a read sweep (the
// forward pass) and a read-modify-write sweep (the backward pass fused with the update), 12
// bytes per element. x = x·a + b with a = 1 - 2⁻²⁰ and b = 2⁻²⁰ keeps values near 1.
static float stream_slice(float *x, size_t lo, size_t hi) {
    const vf a = vsplat(1.0f - 0x1p-20f), b = vsplat(0x1p-20f);
    vf s0 = vsplat(0.0f), s1 = s0, s2 = s0, s3 = s0;
    size_t i = lo;
    for (; i + 4 * VL <= hi; i += 4 * VL) {
        s0 += vload(x + i);
        s1 += vload(x + i + VL);
        s2 += vload(x + i + 2 * VL);
        s3 += vload(x + i + 3 * VL);
    }
    float tail = 0.0f;
    for (; i < hi; i++) tail += x[i];
    for (i = lo; i + VL <= hi; i += VL) vstore(x + i, vload(x + i) * a + b);
    for (; i < hi; i++) x[i] = x[i] * a[0] + b[0];
    return vsum((s0 + s1) + (s2 + s3)) + tail;
}

double ck_stream_bandwidth(float *x, size_t n, int threads, long passes) {
    if (threads < 1) threads = 1;
    float total = 0.0f;
#ifdef _OPENMP
    #pragma omp parallel num_threads(threads) reduction(+ : total)
    {
        // The same contiguous split as CK_TEAM_RANGE, so each thread passes over its own slice
        // every time and keeps it in its own cache when it fits.
        const int t = omp_get_thread_num(), team = omp_get_num_threads();
        const size_t lo = n * t / team, hi = n * (t + 1) / team;
        for (long p = 0; p < passes; p++) total += stream_slice(x, lo, hi);
    }
#else
    for (long p = 0; p < passes; p++) total += stream_slice(x, 0, n);
#endif
    peak_sink = total;
    return 12.0 * (double)n * passes;
}
