/* OpenMP through one shim: without OpenMP the calls compile to serial answers. */
#ifndef FASTEM_OMP_SHIM_H
#define FASTEM_OMP_SHIM_H
#ifdef _OPENMP
#include <omp.h>
#define FASTEM_OPENMP 1
#else
#define FASTEM_OPENMP 0
static inline int omp_get_max_threads(void) { return 1; }
#endif
#endif
