"""How many threads the kernels use."""

import os
import threading
from functools import cache

import threadpoolctl
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
def _blas_controller():
    # Finding the loaded BLAS and OpenMP libraries takes tens of milliseconds: once.
    # BLAS only: its limits then leave the OpenMP settings alone.
    return ThreadpoolController().select(user_api="blas")


def _let_go_of_blas():
    """threadpoolctl (>= 3.6) lets only the thread that last sized a process-wide
    OpenBLAS pool size it again until that thread lets go (as a ``with`` block's
    exit does): let go, so that whichever thread restores the setting may."""
    let_go = getattr(threadpoolctl.OpenBLASController, "clear_controlling_thread", None)
    if let_go is not None:
        let_go()


class _SharedBlasLimit:
    """BLAS on one thread while any call is inside; the setting from before the
    first call in comes back when the last one leaves.

    A BLAS library's thread count is one setting for the whole process. Calls that
    each set and restore a limit, overlapping in several threads, restore each
    other's: the last to leave may restore the one thread it found, for good (so
    may scikit-learn's KMeans, which limits BLAS per call, run inside a fit). Here
    a count under a lock makes the first call in set the limit and the last out
    restore it.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._depth = threading.local()  # this thread's calls inside (its ``n``)
        self._limiter = None

    def __enter__(self):
        with self._lock:
            if self._users == 0:
                self._limiter = _blas_controller().limit(limits=1)
                _let_go_of_blas()
            self._users += 1
            self._depth.n = getattr(self._depth, "n", 0) + 1
        return self

    def __exit__(self, *exc_info):
        with self._lock:
            self._depth.n -= 1
            self._users -= 1
            if self._users == 0:
                self._limiter.restore_original_limits()
                _let_go_of_blas()
                self._limiter = None

    def _after_fork_in_child(self):
        """A forked child has only the forking thread: the calls of the others are
        not inside here (and if none of its own is, the setting comes back), and
        the lock may have been held by one of them."""
        self._lock = threading.Lock()
        self._users = getattr(self._depth, "n", 0)
        if self._users == 0 and self._limiter is not None:
            self._limiter.restore_original_limits()
            _let_go_of_blas()
            self._limiter = None


_BLAS_LIMIT = _SharedBlasLimit()
if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_BLAS_LIMIT._after_fork_in_child)


def limit_blas_threads():
    """Context manager: BLAS on one thread while any call of the process is inside
    one; after the last leaves, the BLAS setting the first found (re-entrant)."""
    return _BLAS_LIMIT
