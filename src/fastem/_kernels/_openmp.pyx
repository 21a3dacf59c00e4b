"""What the compiled kernels know about OpenMP."""

cdef extern from "_omp_shim.h":
    int FASTEM_OPENMP
    int omp_get_max_threads() nogil


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(FASTEM_OPENMP)


def omp_max_threads():
    """omp_get_max_threads(): honours OMP_NUM_THREADS and threadpoolctl limits."""
    return omp_get_max_threads()
