#include "CKernels.h"
#include "vec.h"
#ifdef _OPENMP
#include <omp.h>
#endif

int ck_openmp_enabled(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int ck_max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void ck_set_num_threads(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

int ck_simd_lanes(void) { return VL; }

// The lane count is VL and the register count CK_VREGS, the one the convolution's tiles are
// sized from.
const char *ck_simd_isa(void) {
#if VL == 16 && CK_VREGS == 32
    return "AVX-512 (16-lane vectors, tiles for 32 registers)";
#elif VL == 16
    return "AVX-512F (16-lane vectors, tiles for 16 registers)";
#elif defined(__AVX2__) && defined(__FMA__)
    return "AVX2+FMA (8-lane vectors, tiles for 16 registers)";
#elif defined(__AVX__)
    return "AVX (8-lane vectors)";
#elif defined(__SSE2__)
    return "SSE2 (8-lane vectors as 2x4)";
#elif defined(__ARM_NEON)
    return "NEON (8-lane vectors as 2x4)";
#else
    return "generic (8-lane vectors, compiler-lowered)";
#endif
}
