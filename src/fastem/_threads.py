"""How many threads the kernels use."""

import os
from functools import cache

from joblib import cpu_count
from threadpoolctl import ThreadpoolController

from ._kernels._platform import omp_max_threads


def effective_n_threads():
    """Threads for one kernel call, resolved as scikit-learn's KMeans does.

    ``OMP_NUM_THREADS`` and threadpoolctl limits (through ``omp_get_max_threads``) are
    honoured; otherwise no more than the CPUs this process may use (cgroups included).
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return max(1, omp_max_threads())
    return max(1, min(omp_max_threads(), cpu_count()))


# (row, component) pairs a thread must get before it is worth waking: ~0.5 ms of work.
# Fewer threads on small problems cost nothing else, as results are the same bits for
# any thread count, and spare a busy machine the wait for a descheduled thread.
MIN_PAIRS_PER_THREAD = 100_000


def threads_for(n_threads, n_samples, n_components):
    """At most ``n_threads``, and no more than the work of one pass keeps busy."""
    return max(1, min(n_threads, n_samples * n_components // MIN_PAIRS_PER_THREAD))


@cache
def _threadpool_controller():
    # Finding the loaded BLAS and OpenMP libraries takes tens of milliseconds: once.
    return ThreadpoolController()


def limit_blas_threads():
    """Context manager: BLAS on one thread (a cached controller, as scikit-learn's)."""
    return _threadpool_controller().limit(limits=1, user_api="blas")
