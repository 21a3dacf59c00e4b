"""Dask arrays: each block runs the compiled kernel on a worker of a real
``distributed.LocalCluster`` (processes), only statistics travel, and the fit equals
the in-memory one; a worker killed mid-fit changes nothing; the kernel releases the GIL.
"""

import os
import signal
import sys
import threading

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from _builders import COVARIANCE_TYPES, FITTED_ARRAYS, RandomData, random_params
from fastem import GaussianMixture
from fastem._engine import streams
from fastem._kernels import get_backend

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

# The same EM with its sums in block order: agreement with the in-memory fit.
DASK_RTOL, DASK_ATOL = 1e-10, 1e-12


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def problem(covariance_type, seed=0):
    data = RandomData(seed=seed, n_samples=2000, n_components=3, n_features=3)
    params = dict(
        n_components=3,
        covariance_type=covariance_type,
        max_iter=6,
        tol=0.0,
        **data.initial_guess(covariance_type),
    )
    return data.X[covariance_type], params


def assert_close_fit(got, want):
    for name in FITTED_ARRAYS:
        assert_allclose(
            getattr(got, name),
            getattr(want, name),
            rtol=DASK_RTOL,
            atol=DASK_ATOL,
            err_msg=name,
        )
    assert_allclose(got.lower_bounds_, want.lower_bounds_, rtol=DASK_RTOL)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_dask_fit_equals_the_in_memory_fit(client, covariance_type):
    X, params = problem(covariance_type)
    want = GaussianMixture(**params).fit(X)
    got = GaussianMixture(**params).fit(da.from_array(X, chunks=(300, 2)))
    assert_close_fit(got, want)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_dask_methods_return_dask_arrays_equal_to_the_in_memory_ones(client):
    X, params = problem("full")
    model = GaussianMixture(**params).fit(X)
    blocks = da.from_array(X.astype(np.float32), chunks=400)
    rows = X.astype(np.float32)
    labels = model.predict(blocks)
    assert isinstance(labels, da.Array)
    assert_array_equal(labels.compute(), model.predict(rows))
    for method in ("predict_proba", "score_samples"):
        got = getattr(model, method)(blocks)
        assert isinstance(got, da.Array)
        want = getattr(model, method)(rows)
        assert got.dtype == want.dtype
        assert_allclose(got.compute(), want, rtol=1e-6, atol=1e-6)
    for method in ("score", "bic", "aic"):
        assert_allclose(getattr(model, method)(blocks), getattr(model, method)(rows))
    assert_array_equal(
        GaussianMixture(**params).fit_predict(blocks).compute(),
        GaussianMixture(**params).fit_predict(rows),
    )


def test_dask_initialisation_from_all_rows_is_the_in_memory_one(client):
    X, _ = problem("diag", seed=1)
    want = GaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    got = GaussianMixture(3, covariance_type="diag", random_state=0)
    got.fit(da.from_array(X, chunks=500))
    assert_close_fit(got, want)


def test_bad_dask_blocks_are_named(client):
    X = np.ones((100, 2))
    X[57, 1] = np.inf
    with pytest.raises(ValueError, match="chunk 2 contains infinity"):
        GaussianMixture(1).fit(da.from_array(X, chunks=25))
    with pytest.raises(TypeError, match="expected numbers"):
        GaussianMixture(1).fit(da.from_array(np.full((10, 2), "a"), chunks=5))
    model = GaussianMixture(1).fit(np.ones((10, 2)) + np.eye(10, 2))
    with pytest.raises(ValueError, match="X has 3 features, but the model expects 2"):
        model.predict(da.ones((10, 3)))


def test_without_distributed_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install fastem\[dask\]"):
        GaussianMixture(1).fit(da.ones((10, 2)))


def test_the_kernel_releases_the_gil():
    # With a switch interval far longer than the kernel, a thread holding the GIL
    # keeps it until it blocks: the main thread, woken just before the kernel starts,
    # runs before the kernel ends only if the kernel has released the GIL.
    params = random_params(np.random.default_rng(0), 16, 8, "full")
    X = np.random.default_rng(1).normal(size=(400_000, 8))
    buffers = [np.empty(16), np.empty((16, 8)), np.empty((16, 8, 8))]
    kernels = get_backend()
    started, finished = threading.Event(), []

    def run_kernel():
        started.set()
        kernels.gaussian.accumulate(
            X, None, *params.kernel_args[:3], "full", 1, *buffers
        )
        finished.append(True)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        worker = threading.Thread(target=run_kernel)
        worker.start()
        started.wait()
        finished_while_waiting = bool(finished)
        worker.join()
    finally:
        sys.setswitchinterval(interval)
    assert not finished_while_waiting


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_worker_killed_mid_fit_does_not_change_the_fit(client, monkeypatch):
    X, params = problem("full", seed=2)
    want = GaussianMixture(**params).fit(X)
    accumulate, calls = streams.DaskSource.accumulate, []

    def accumulate_then_kill_a_worker(self, *args):
        calls.append(None)
        if len(calls) == 2:  # between the first and second EM iterations
            pids = client.run(os.getpid)
            os.kill(next(iter(pids.values())), signal.SIGKILL)
        return accumulate(self, *args)

    monkeypatch.setattr(streams.DaskSource, "accumulate", accumulate_then_kill_a_worker)
    got = GaussianMixture(**params).fit(da.from_array(X, chunks=(250, 3)))
    assert len(calls) == params["max_iter"]
    assert_close_fit(got, want)
