"""How many threads the kernels use."""

import os
import threading
import time
import warnings
from functools import cache

import threadpoolctl
from joblib import cpu_count
from threadpoolctl import ThreadpoolController

from .._kernels._platform import omp_max_threads


class ForkedAfterOpenMPWarning(UserWarning):
    """This process was forked after OpenMP threads had started: fastem's kernels
    and the KMeans of its initialisation run on one thread in it.

    GNU OpenMP's threads do not survive ``fork``; start processes with
    multiprocessing's 'spawn' or 'forkserver' method instead.

    Examples
    --------
    To stop at the fork rather than run on one thread:

    >>> import warnings
    >>> from fastem import ForkedAfterOpenMPWarning
    >>> warnings.simplefilter("error", ForkedAfterOpenMPWarning)
    >>> warnings.resetwarnings()
    """


FORK_MESSAGE = (
    "this process was forked after fastem had run OpenMP threads, and GNU OpenMP "
    "(libgomp) does not survive fork: more than one thread would hang. fastem runs "
    "on one thread in this process. To keep every thread, start processes with "
    "multiprocessing's 'spawn' or 'forkserver' method (get_context('spawn')), or "
    "fork before the first fit."
)

# GNU libgomp keeps its threads between parallel regions, and a forked child has
# none of them: its first region on more than one thread waits for them forever.
# A region on one thread uses none. So a child of a process that may have run a
# region on more than one thread (fastem's, or scikit-learn's KMeans) runs on one.
_threads_started = False  # this process resolved more than one kernel thread
_forked_after_threads = False  # ... or is a fork of one that did
_fork_warned = False


def _after_fork_in_child():
    global _forked_after_threads, _fork_warned
    _forked_after_threads = _forked_after_threads or _threads_started
    _fork_warned = False  # one warning in each process


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def forked_after_threads():
    """Whether this process was forked after OpenMP threads had started (fastem
    then runs on one thread in it)."""
    return _forked_after_threads


def max_kernel_threads():
    """Threads the kernels may use, resolved as scikit-learn's KMeans does.

    ``OMP_NUM_THREADS`` and threadpoolctl limits (through ``omp_get_max_threads``) are
    honoured; otherwise no more than the CPUs this process may use (cgroups included).
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return max(1, omp_max_threads())
    return max(1, min(omp_max_threads(), cpu_count()))


def effective_n_threads():
    """Threads for one kernel call: :func:`max_kernel_threads`, but one in a process
    forked after OpenMP threads had started (with a
    :class:`ForkedAfterOpenMPWarning`, once)."""
    global _threads_started, _fork_warned
    if _forked_after_threads:
        if not _fork_warned:
            _fork_warned = True
            warnings.warn(FORK_MESSAGE, ForkedAfterOpenMPWarning)
        return 1
    n_threads = max_kernel_threads()
    if n_threads > 1:
        _threads_started = True
    return n_threads


def scikit_learn_openmp_limit(n_threads):
    """Context manager: scikit-learn's OpenMP code (KMeans) on at most ``n_threads``
    threads in this thread (one where the process was forked after OpenMP threads
    had started: its threads would hang too)."""
    limit = 1 if _forked_after_threads else n_threads
    return _threadpool_controller().select(user_api="openmp").limit(limits=limit)


# (row, component) pairs a thread must get before it is worth waking: ~0.5 ms of work.
# Fewer threads on small problems cost nothing else, as results are the same bits for
# any thread count, and spare a busy machine the wait for a descheduled thread.
MIN_PAIRS_PER_THREAD = 100_000
# ... and before it is worth a core that other work is running on: ~50 ms of work, ten
# scheduler time slices, so that the wait at the pass's end for a thread the scheduler
# put aside costs little beside the share of the busy cores the thread gets.
BUSY_MIN_PAIRS_PER_THREAD = 10_000_000

# Seconds between two looks at the machine's load (a look reads a few /proc files,
# ~0.1 ms): a load that comes or goes is seen within this time.
LOAD_RECHECK_SECONDS = 0.1
_load_lock = threading.Lock()
_load_seen = [-float("inf"), None]  # when, and the idle CPUs seen then


def _idle_cpus_now():
    """``os.cpu_count()`` less the runnable tasks of other processes (at least 1),
    from Linux's /proc; None where it cannot be read."""
    try:
        with open("/proc/loadavg", "rb") as loadavg:
            runnable = int(loadavg.read().split()[3].split(b"/")[0])
        own = 0
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/stat", "rb") as stat:
                    # The state follows the command name, which may hold ") ".
                    own += stat.read().rpartition(b") ")[2][:1] == b"R"
            except OSError:  # the thread has ended
                continue
    except (OSError, ValueError, IndexError):
        return None
    return max(1, (os.cpu_count() or 1) - (runnable - own))


def idle_cpus():
    """CPUs that no other process's work is running on now, at least 1 (None where
    the system does not say, off Linux); looked at again after
    ``LOAD_RECHECK_SECONDS``."""
    now = time.monotonic()
    with _load_lock:
        if now - _load_seen[0] >= LOAD_RECHECK_SECONDS:
            _load_seen[:] = now, _idle_cpus_now()
        return _load_seen[1]


def dense_row_equivalents(X):
    """The rows of X as rows of every feature, for sizing the threads of a pass:
    the number of rows of an array, and for a sparse matrix (whose kernels read its
    stored values only) its stored values and rows over ``n_features + 1``, a
    row's fixed work counted as one more value."""
    n_rows, n_features = X.shape
    if not hasattr(X, "nnz"):
        return n_rows
    return -(-(X.nnz + n_rows) // (n_features + 1))


def threads_for(n_threads, n_samples, n_components):
    """At most ``n_threads``, no more than the work of one pass keeps busy, and, beyond
    the CPUs other work leaves idle, only for large passes.

    On a machine whose cores are busy, an OpenMP thread waits for a core at every
    barrier (and others spin on theirs): two threads ran several times slower than one
    there on passes of a few milliseconds, and faster on passes of a tenth of a second.
    Results are the same bits for any thread count, so the count may follow the load
    from pass to pass.
    """
    pairs = n_samples * n_components
    threads = min(n_threads, pairs // MIN_PAIRS_PER_THREAD)
    idle = idle_cpus()
    if idle is not None and threads > idle:
        threads = max(idle, min(threads, pairs // BUSY_MIN_PAIRS_PER_THREAD))
    return max(1, threads)


@cache
def _threadpool_controller():
    # Finding the loaded BLAS and OpenMP libraries takes tens of milliseconds: once.
    return ThreadpoolController()


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
                # BLAS only: restoring leaves the OpenMP settings alone.
                blas = _threadpool_controller().select(user_api="blas")
                self._limiter = blas.limit(limits=1)
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
