/* OpenMP through one shim (serial answers without OpenMP), and CPU feature checks. */
#ifndef FASTEM_OMP_SHIM_H
#define FASTEM_OMP_SHIM_H
#ifdef _OPENMP
#include <omp.h>
#define FASTEM_OPENMP 1
#else
#define FASTEM_OPENMP 0
static inline int omp_get_max_threads(void) { return 1; }
#endif

static inline int fe_cpu_has_x86_64_v3(void)
{
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
#else
    return 0;
#endif
}

static inline int fe_cpu_has_x86_64_v4(void)
{
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
    /* __builtin_cpu_supports also asks the OS (XGETBV) whether it saves the ZMM
     * registers. */
    return fe_cpu_has_x86_64_v3() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}
#endif
