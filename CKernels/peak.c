// The machine's peak fp32 FMA rate, for reporting every other kernel as a share of it.
//
// Each thread runs PEAK_CHAINS independent accumulator vectors through acc = acc·a + b: FMA
// latency is 4 cycles and Zen 4 issues two 256-bit FMAs a cycle, so at least 8 chains are in
// flight; 12 (plus the two constants) still fit the 16 ymm registers of AVX2, so nothing spills.
// a = 0.999999 and b = 1e-6 converge to 1.0: no overflow, no subnormals.
#include "CKernels.h"
#include "vec.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#define PEAK_CHAINS 12

static volatile float peak_sink;

static float peak_chains(long iterations) {
    const vf a = vsplat(0.999999f), b = vsplat(1e-6f);
    vf acc[PEAK_CHAINS];
    // Every chain starts away from the fixed point 1.0, so the compiler cannot fold any away.
    for (int i = 0; i < PEAK_CHAINS; i++) acc[i] = vsplat(1.0f + (i + 1) * 1e-3f);
    for (long it = 0; it < iterations; it++) {
        #pragma GCC unroll 12
        for (int i = 0; i < PEAK_CHAINS; i++) acc[i] = acc[i] * a + b;
    }
    vf s = acc[0];
    for (int i = 1; i < PEAK_CHAINS; i++) s += acc[i];
    return vsum(s);
}

double ck_peak_fma(int threads, long iterations) {
    if (threads < 1) threads = 1;
    float total = 0.0f;
    int team = 1;
    #pragma omp parallel num_threads(threads) reduction(+ : total)
    {
        total += peak_chains(iterations);
#ifdef _OPENMP
        #pragma omp single
        team = omp_get_num_threads();
#endif
    }
    peak_sink = total;
    return 2.0 * VL * PEAK_CHAINS * (double)iterations * team;
}
