"""What the compiled code knows about this machine: OpenMP, threads, CPU features."""

cdef extern from "_omp_shim.h":
    int FASTEM_OPENMP
    int omp_get_max_threads() nogil
    int fe_cpu_has_x86_64_v3() nogil
    int fe_cpu_has_x86_64_v4() nogil


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(FASTEM_OPENMP)


def omp_max_threads():
    """omp_get_max_threads(): honours OMP_NUM_THREADS and threadpoolctl limits."""
    return omp_get_max_threads()


def x86_64_v3_supported():
    """True on an x86-64 CPU with AVX2, FMA, BMI1 and BMI2 (the x86-64-v3 level)."""
    return bool(fe_cpu_has_x86_64_v3())


def x86_64_v4_supported():
    """True on an x86-64-v3 CPU with AVX-512 F, BW, CD, DQ and VL (the x86-64-v4
    level), whose OS saves the AVX-512 registers."""
    return bool(fe_cpu_has_x86_64_v4())
