"""Threads across the process: the same bits for any number of threads from every
initialisation; a child forked after a fit, which must not hang; and the BLAS limit of
fits running in several threads at once and in a child forked while a limit was on."""

import contextlib
import io
import os
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import warnings

import numpy as np
import pytest
import scipy.sparse
from numpy.testing import assert_array_equal
from threadpoolctl import threadpool_info, threadpool_limits

import fastem
from _builders import RandomData, assert_identical_fit
from fastem import ForkedAfterOpenMPWarning, GaussianMixture
from fastem._engine.threads import (
    dense_row_equivalents,
    effective_n_threads,
    idle_cpus,
    limit_blas_threads,
    max_kernel_threads,
    threads_for,
)

# --- the same bits for any number of threads -----------------------------------------

# Data on which scikit-learn's float32 KMeans labels differ for 1, 2 and 3 threads.
THREAD_SENSITIVE = RandomData(
    seed=2, n_samples=20_000, n_components=8, n_features=2, spread=1.0
)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "init_params", ["kmeans", "k-means++", "random", "random_from_data"]
)
def test_every_initialisation_gives_the_same_bits_for_any_number_of_threads(
    init_params, dtype
):
    X = THREAD_SENSITIVE.X["full"].astype(dtype)
    fits = []
    for n_threads in (1, 2, 3):
        with threadpool_limits(limits=n_threads, user_api="openmp"):
            fits.append(
                GaussianMixture(
                    8, init_params=init_params, max_iter=5, random_state=2
                ).fit(X)
            )
    assert_identical_fit(fits[1], fits[0])
    assert_identical_fit(fits[2], fits[0])


# --- fork ----------------------------------------------------------------------------


def run_in_forked_child(function, timeout=60):
    """Run ``function()`` in a child of ``os.fork()``; fail unless it returns within
    ``timeout`` seconds (a hung child is killed)."""
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        status = 1
        try:
            function()
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child did not finish in {timeout} s")


# --- threads on a busy machine ---------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="Linux's /proc")
def test_idle_cpus_sees_busy_loops_on_every_cpu(monkeypatch):
    import fastem._engine.threads as threads

    monkeypatch.setattr(threads, "LOAD_RECHECK_SECONDS", 0.0)
    n_cpus = os.cpu_count()
    assert 1 <= idle_cpus() <= n_cpus
    loops = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(n_cpus)
    ]
    try:
        time.sleep(0.5)  # every loop started and runnable
        seen = [idle_cpus() for _ in range(5)]
        monkeypatch.setattr(threads, "idle_cpus", idle_cpus)
        capped = threads_for(n_cpus, 1_000_000, 8)  # a pass of ~40 ms on one thread
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    assert seen == [1] * 5 and capped == 1, seen


def test_busy_cpus_are_taken_only_for_large_passes(monkeypatch):
    monkeypatch.setattr("fastem._engine.threads.idle_cpus", lambda: 1)
    assert threads_for(8, 1_000_000, 8) == 1  # ~40 ms on one thread
    assert threads_for(8, 1_000_000, 32) == 3  # 50 ms or more on each of three
    assert threads_for(8, 150, 3) == 1
    monkeypatch.setattr("fastem._engine.threads.idle_cpus", lambda: 3)
    assert threads_for(8, 1_000_000, 8) == 3
    assert threads_for(2, 1_000_000, 8) == 2
    assert threads_for(8, 10_000_000, 32) == 8
    monkeypatch.setattr("fastem._engine.threads.idle_cpus", lambda: None)  # unknown
    assert threads_for(8, 1_000_000, 8) == 8


def test_sparse_rows_count_their_stored_values_for_threads():
    """A CSR pass costs its stored values, not rows x features: 1e5 rows of 1e4
    features holding 1e3 values in all size their threads as ~10 dense rows."""
    X = scipy.sparse.random(100_000, 10_000, density=1e-6, format="csr", random_state=0)
    assert dense_row_equivalents(X) == -(-(X.nnz + 100_000) // 10_001)
    assert dense_row_equivalents(X) < 20
    assert dense_row_equivalents(X.toarray()[:50]) == 50
    assert dense_row_equivalents(scipy.sparse.csr_matrix((4, 3))) == 1


@pytest.mark.parametrize("data", ["digits", "thread_sensitive"])
def test_the_initial_kmeans_on_its_own_threads_gives_scikit_learns_labels(data):
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_digits

    from fastem._engine.sources import ArraySource
    from fastem._latent.mixture import initial_labels

    if data == "digits":
        X, n_components = load_digits().data, 10
    else:
        X, n_components = THREAD_SENSITIVE.X["full"], 8
    ours = initial_labels(
        "kmeans", ArraySource(X), X, n_components, np.random.RandomState(0)
    )
    # scikit-learn's KMeans on every CPU, as scikit-learn's GaussianMixture runs it.
    theirs = KMeans(n_components, n_init=1, random_state=0).fit(X).labels_
    assert_array_equal(ours, theirs)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_child_forked_after_a_fit_runs_on_one_thread_with_one_warning():
    """GNU OpenMP's threads do not survive fork: the child's next fit hung in its
    first parallel region (fastem's kernels, or scikit-learn's KMeans)."""
    if max_kernel_threads() < 2:
        pytest.skip("one thread here: no OpenMP threads to lose in a fork")
    X = RandomData(seed=3, n_samples=100_000).X["full"]  # enough for 2 threads
    fitted = {
        init: GaussianMixture(3, init_params=init, max_iter=5, random_state=0).fit(X)
        for init in ("kmeans", "k-means++")
    }

    def child():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for init, parent in fitted.items():
                model = GaussianMixture(
                    3, init_params=init, max_iter=5, random_state=0
                ).fit(X)
                assert_identical_fit(model, parent)
                model.predict(X)
        forks = [w for w in caught if w.category is ForkedAfterOpenMPWarning]
        assert len(forks) == 1
        assert "'spawn' or 'forkserver'" in str(forks[0].message)
        assert effective_n_threads() == 1
        with contextlib.redirect_stdout(io.StringIO()) as report:
            fastem.show_versions()
        assert "kernel threads: 1 (this process was forked" in report.getvalue()

    run_in_forked_child(child)


def test_a_child_forked_before_any_fit_keeps_its_threads():
    """A fresh interpreter that imports fastem and forks: the child keeps every
    thread and gets no warning."""
    code = textwrap.dedent(
        """
        import os, warnings
        from fastem._engine.threads import effective_n_threads, max_kernel_threads
        pid = os.fork()
        if pid == 0:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                same = effective_n_threads() == max_kernel_threads()
            os._exit(0 if same else 1)
        raise SystemExit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, child.stderr


# --- BLAS limits ---------------------------------------------------------------------


def blas_threads():
    """The thread count of each BLAS library loaded in this process."""
    return [
        pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"
    ]


@pytest.fixture
def blas_threads_before():
    """The BLAS thread counts now; more than one, or a limit left behind cannot show.
    (Not set here with threadpoolctl: the thread that sets a limit would own the
    BLAS pool and every other thread's limit would do nothing.)"""
    before = blas_threads()
    if not before or min(before) < 2:
        pytest.skip("BLAS runs on one thread here: a limit left behind would not show")
    return before


def run_threads(*targets):
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()


def test_blas_limits_overlapping_in_two_threads_restore_the_first_setting(
    blas_threads_before,
):
    """A enters, B enters, A leaves, B leaves: BLAS on one thread while both are
    inside, then the setting from before, and limits still work."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with limit_blas_threads():
            a_in.set()
            assert b_in.wait(timeout=30)
        a_out.set()

    def second():
        assert a_in.wait(timeout=30)
        with limit_blas_threads():
            seen["both inside"] = blas_threads()
            b_in.set()
            assert a_out.wait(timeout=30)

    run_threads(first, second)
    assert seen["both inside"] == [1] * len(blas_threads_before)
    assert blas_threads() == blas_threads_before
    with limit_blas_threads():
        assert blas_threads() == [1] * len(blas_threads_before)
    assert blas_threads() == blas_threads_before


def test_concurrent_fits_leave_the_blas_threads_as_they_were(blas_threads_before):
    X = RandomData(seed=0, n_samples=5000).X["full"]
    start = threading.Barrier(4)

    def fits():
        start.wait(timeout=30)
        for seed in range(5):
            GaussianMixture(3, max_iter=5, random_state=seed).fit(X)

    run_threads(*[fits] * 4)
    assert blas_threads() == blas_threads_before


def test_a_child_forked_inside_a_blas_limit_gets_the_setting_back(
    blas_threads_before,
):
    """The limit of a thread that does not exist in the child is lifted there, and
    the child limits and fits as any process."""
    inside, leave = threading.Event(), threading.Event()

    def holding():
        with limit_blas_threads():
            inside.set()
            assert leave.wait(timeout=30)

    def child():
        assert blas_threads() == blas_threads_before
        with limit_blas_threads():
            assert blas_threads() == [1] * len(blas_threads_before)
        assert blas_threads() == blas_threads_before
        GaussianMixture(2, init_params="random_from_data", random_state=0).fit(
            RandomData(seed=0).X["diag"]
        )

    thread = threading.Thread(target=holding)
    thread.start()
    try:
        assert inside.wait(timeout=30)
        run_in_forked_child(child)
    finally:
        leave.set()
        thread.join()
    assert blas_threads() == blas_threads_before
