"""Out-of-core fits: memory maps, HDF5 / Zarr arrays and chunk callables stream through
the kernels and give the in-memory results; bad chunks are named.

Oracles: the in-memory fit from the same initial parameters, and the in-memory
methods of the same fitted model.
"""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_iris
from sklearn.utils.random import sample_without_replacement

from _builders import COVARIANCE_TYPES, FITTED_ARRAYS, RandomData, assert_stats_close
from fastem import GaussianMixture
from fastem._engine import sources as _sources
from fastem._engine import streams
from fastem._families import gaussian as gm
from fastem._families.gaussian import sufficient_stats

# The same EM summed in another order (chunk by chunk): agreement of fitted attributes,
# with an absolute floor for entries that are zero up to rounding.
STREAM_RTOL, STREAM_ATOL = 1e-10, 1e-12
SOURCE_KINDS = ("npy memmap", "callable", "hdf5", "zarr")

ignore_convergence = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


def chunk_callable(X, rows):
    """A chunk callable over X: a fresh iterator of ``rows``-row chunks per call."""
    return lambda: (X[start : start + rows] for start in range(0, len(X), rows))


def out_of_core(X, kind, directory):
    """X stored as ``kind``, read back lazily."""
    if kind == "npy memmap":
        np.save(directory / "X.npy", X)
        return np.load(directory / "X.npy", mmap_mode="r")
    if kind == "callable":
        return chunk_callable(X, rows=97)
    if kind == "hdf5":
        h5py = pytest.importorskip("h5py")
        handle = h5py.File(directory / "X.h5", "w")
        return handle.create_dataset("X", data=X, chunks=(50, X.shape[1]))
    zarr = pytest.importorskip("zarr")
    array = zarr.open_array(
        str(directory / "X.zarr"),
        mode="w",
        shape=X.shape,
        chunks=(50, X.shape[1]),
        dtype=X.dtype,
    )
    array[...] = X
    return array


def assert_close_fit(got, want):
    for name in FITTED_ARRAYS:
        assert_allclose(
            getattr(got, name),
            getattr(want, name),
            rtol=STREAM_RTOL,
            atol=STREAM_ATOL,
            err_msg=name,
        )
        assert getattr(got, name).dtype == getattr(want, name).dtype
    assert_allclose(got.lower_bounds_, want.lower_bounds_, rtol=STREAM_RTOL)
    assert got.n_iter_ == want.n_iter_
    assert got.converged_ == want.converged_


@ignore_convergence
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", SOURCE_KINDS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_streamed_fit_equals_the_in_memory_fit(covariance_type, kind, dtype, tmp_path):
    data = RandomData(seed=1, n_samples=500, n_components=3, n_features=3)
    X = data.X[covariance_type].astype(dtype)
    params = dict(
        n_components=3,
        covariance_type=covariance_type,
        max_iter=8,
        tol=0.0,
        **data.initial_guess(covariance_type),
    )
    want = GaussianMixture(**params).fit(X)
    got = GaussianMixture(**params).fit(out_of_core(X, kind, tmp_path))
    assert_close_fit(got, want)
    assert got.n_features_in_ == 3


@ignore_convergence
@pytest.mark.parametrize("kind", [*SOURCE_KINDS, "dask"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_streamed_rows_with_missing_values_give_the_in_memory_fit(
    covariance_type, kind, tmp_path
):
    """Statistics add over chunks as they add over missingness patterns: chunks
    with NaN (rows with nothing observed too) stream through the pattern source."""
    data = RandomData(seed=5, n_samples=500, n_components=3, n_features=3)
    X = data.X[covariance_type].copy()
    X[np.random.default_rng(5).random(X.shape) < 0.2] = np.nan
    X[[7, 300]] = np.nan
    params = dict(
        n_components=3,
        covariance_type=covariance_type,
        max_iter=8,
        tol=0.0,
        **data.initial_guess(covariance_type),
    )
    want = GaussianMixture(**params).fit(X)
    if kind == "dask":
        da = pytest.importorskip("dask.array")
        pytest.importorskip("distributed")
        stored = da.from_array(X, chunks=(97, 3))
    else:
        stored = out_of_core(X, kind, tmp_path)
    got = GaussianMixture(**params).fit(stored)
    assert_close_fit(got, want)
    assert_allclose(
        np.asarray(got.score_samples(stored)), want.score_samples(X), rtol=1e-12
    )


@ignore_convergence
@pytest.mark.parametrize("scale", [1e-40, 1e120])
@pytest.mark.parametrize("kind", [*SOURCE_KINDS, "dask"])
def test_streamed_rows_at_extreme_scales_are_rescaled_as_in_memory(
    kind, scale, tmp_path
):
    """Out of core too, data beyond 2**+-100 runs on an exactly rescaled copy (each
    chunk as it is read): the fit is the in-memory one, not every variance at
    reg_covar and one label for all rows."""
    data = RandomData(seed=6, n_samples=400, n_components=2, n_features=2)
    X = data.X["full"] * scale
    params = dict(n_components=2, max_iter=10, tol=0.0, random_state=0)
    want = GaussianMixture(**params).fit(X)
    if kind == "dask":
        da = pytest.importorskip("dask.array")
        pytest.importorskip("distributed")
        stored = da.from_array(X, chunks=(97, 2))
    else:
        stored = out_of_core(X, kind, tmp_path)
    got = GaussianMixture(**params).fit(stored)
    assert_close_fit(got, want)
    assert len(np.unique(np.asarray(got.predict(stored)))) == 2
    with pytest.raises(ValueError, match="cannot be represented in float64"):
        GaussianMixture(2).fit(chunk_callable(X / scale * 1e200, rows=50))


@ignore_convergence
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_streamed_fit_equals_the_in_memory_fit_on_real_data(covariance_type):
    X = load_iris().data
    params = dict(
        n_components=3, covariance_type=covariance_type, random_state=0, max_iter=20
    )
    want = GaussianMixture(**params).fit(X)
    got = GaussianMixture(**params).fit(chunk_callable(X, rows=16))
    assert_close_fit(got, want)


@ignore_convergence
@pytest.mark.parametrize("kind", ("npy memmap", "callable"))
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_streamed_fit_with_a_default_prior_equals_the_in_memory_fit(
    covariance_type, kind, tmp_path
):
    # The prior's defaults come from all the rows, read in chunks like EM's.
    X = (
        20.0
        + RandomData(seed=2, n_samples=6000, n_components=3, n_features=3).X[
            covariance_type
        ]
    )
    params = dict(
        n_components=3,
        covariance_type=covariance_type,
        prior="default",
        random_state=0,
        max_iter=5,
        tol=0.0,
    )
    want = GaussianMixture(**params).fit(X)
    got = GaussianMixture(**params).fit(out_of_core(X, kind, tmp_path))
    assert_close_fit(got, want)


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_methods_on_streamed_data_equal_the_in_memory_ones(kind, tmp_path):
    data = RandomData(seed=2, n_samples=400, n_components=3, n_features=2)
    X = data.X["full"]
    model = GaussianMixture(3, random_state=0).fit(X)
    stored = out_of_core(X, kind, tmp_path)
    assert_array_equal(model.predict(stored), model.predict(X))
    for method in ("predict_proba", "score_samples"):
        got = getattr(model, method)(stored)
        assert isinstance(got, np.ndarray)
        assert_allclose(got, getattr(model, method)(X), rtol=1e-13, atol=1e-15)
    for method in ("score", "bic", "aic"):
        assert_allclose(getattr(model, method)(stored), getattr(model, method)(X))
    labels = GaussianMixture(3, random_state=0).fit_predict(stored)
    assert_array_equal(labels, model.predict(X))


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random"])
def test_initialisation_from_all_rows_when_few_is_the_in_memory_one(
    init_params, tmp_path
):
    data = RandomData(seed=3, n_samples=300, n_components=3, n_features=2)
    X = data.X["diag"]
    params = dict(
        n_components=3, covariance_type="diag", init_params=init_params, random_state=7
    )
    want = GaussianMixture(**params).fit(X)
    got = GaussianMixture(**params).fit(out_of_core(X, "npy memmap", tmp_path))
    assert_close_fit(got, want)


def test_initialisation_from_a_sample_is_reproducible_and_uses_the_sample(tmp_path):
    data = RandomData(seed=4, n_samples=3000, n_components=3, n_features=2)
    X = data.X["full"]
    stored = out_of_core(X, "npy memmap", tmp_path)
    params = dict(n_components=3, init_sample_size=500, random_state=3, max_iter=0)
    first = GaussianMixture(**params).fit(stored)
    again = GaussianMixture(**params).fit(chunk_callable(X, 128))
    for name in FITTED_ARRAYS:
        assert_array_equal(getattr(first, name), getattr(again, name), err_msg=name)
    # The start is the in-memory start on the rows the same random state draws.
    random_state = np.random.RandomState(3)
    rows = np.sort(sample_without_replacement(3000, 500, random_state=random_state))
    model = GaussianMixture(3)
    context = model._begin_fit(_sources.ArraySource(X[rows]), online=False)
    want = model._initialize(context, random_state)
    assert_allclose(first.means_, want.means, rtol=1e-12)
    assert_allclose(first.weights_, want.weights, rtol=1e-12)


def test_memmap_pages_are_released_after_each_chunk(tmp_path, monkeypatch):
    X = RandomData(seed=5, n_samples=200, n_features=2).X["full"]
    stored = out_of_core(X, "npy memmap", tmp_path)
    released = []
    monkeypatch.setattr(streams, "_drop_mapped_pages", released.append)
    monkeypatch.setattr(streams, "CHUNK_BYTES", 50 * 2 * 8)
    GaussianMixture(2, random_state=0, max_iter=2).fit(stored)
    assert len(released) >= 4 * 3  # four chunks per pass: initialisation, 2 EM
    assert all(chunk.shape[0] <= 50 for chunk in released)


def test_dropping_mapped_pages_keeps_the_data(tmp_path):
    X = np.arange(3 * 2**16, dtype=np.float64).reshape(-1, 3)
    stored = out_of_core(X, "npy memmap", tmp_path)
    total = stored.sum()
    streams._drop_mapped_pages(stored[100:5000])
    assert stored.sum() == total


def in_memory_memmaps(directory):
    """Arrays whose class is ``np.memmap`` over heap memory, not a file's."""
    rng = np.random.default_rng(7)
    np.save(directory / "X.npy", rng.normal(size=(3000, 3)))
    mapped = np.load(directory / "X.npy", mmap_mode="r")
    return {
        "copy": mapped.copy(),
        "astype": mapped.astype(np.float32),
        "view": rng.normal(size=(3000, 3)).view(np.memmap),
    }


@ignore_convergence
def test_memmaps_of_heap_memory_are_in_memory_data(tmp_path, monkeypatch):
    released = []
    monkeypatch.setattr(streams, "_drop_mapped_pages", released.append)
    for name, X in in_memory_memmaps(tmp_path).items():
        assert streams.as_source(X) is None, name
        before = np.array(X)
        params = {"n_components": 2, "random_state": 0, "max_iter": 3, "tol": 0}
        model = GaussianMixture(**params).fit(X)
        want = GaussianMixture(**params).fit(before)
        assert_array_equal(model.means_, want.means_, err_msg=name)
        assert_array_equal(model.predict_proba(X), want.predict_proba(before))
        model.partial_fit(X)
        assert_array_equal(X, before, err_msg=name)
    assert released == []


def test_dropping_pages_never_touches_heap_memory(tmp_path):
    for name, X in in_memory_memmaps(tmp_path).items():
        before = np.array(X)
        streams._drop_mapped_pages(X[100:2000])
        assert_array_equal(X, before, err_msg=name)


MEMMAP_COPY_SCRIPT = """
import sys
import numpy as np
from fastem import GaussianMixture

mapped = np.load(sys.argv[1], mmap_mode="r")
for X in (mapped.copy(), mapped.astype(np.float32), np.array(mapped).view(np.memmap)):
    before = np.array(X)
    model = GaussianMixture(2, random_state=0, max_iter=2, tol=0).fit(X)
    for method in ("predict", "predict_proba", "score_samples", "partial_fit"):
        getattr(model, method)(X)
    assert np.array_equal(X, before), "the caller's array changed"
print("intact")
"""


def test_a_memmaps_copy_is_neither_zeroed_nor_crashes(tmp_path):
    # A process of its own: handing heap pages back to the OS corrupts malloc's
    # state, and the crash would take the test runner down with it.
    np.save(tmp_path / "X.npy", np.random.default_rng(3).normal(size=(200_000, 3)))
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", MEMMAP_COPY_SCRIPT, tmp_path / "X.npy"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "intact"


@settings(max_examples=25, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 300), max_size=6),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    seed=st.integers(0, 2**16),
)
def test_statistics_add_up_over_any_chunking(cuts, covariance_type, seed):
    data = RandomData(seed=seed, n_samples=300, n_components=2, n_features=3)
    X, params = data.X[covariance_type], data.params[covariance_type]
    bounds = [0, *sorted(cuts), 300]
    chunks = streams.ChunkSource(
        lambda: (X[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:]))
    )
    got = chunks.accumulate(params.frozen)
    want = _sources.ArraySource(X).accumulate(params.frozen)
    assert_stats_close(
        (got.nk, got.s1, got.s2),
        (want.nk, want.s1, want.s2),
        X,
        None,
        params.means,
        rtol=1e-12,
    )
    assert_allclose(got.log_likelihood, want.log_likelihood, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_recentred_statistics_equal_the_statistics_around_the_new_shift(
    covariance_type,
):
    rng = np.random.default_rng(0)
    X = 5.0 + rng.normal(size=(200, 3))
    resp = rng.dirichlet(np.ones(4), size=200)
    old, new = rng.normal(size=(4, 3)), 5.0 + rng.normal(size=(4, 3))

    def stats(shift):
        result = gm.GaussianStats.empty(shift, covariance_type)
        sufficient_stats(
            X, None, resp, shift, covariance_type, result.nk, result.s1, result.s2
        )
        return result

    got = stats(old).recentred(new)
    want = stats(new)
    assert_array_equal(got.shift, new)
    assert_stats_close(
        (got.nk, got.s1, got.s2), (want.nk, want.s1, want.s2), X, None, new, 1e-12
    )


# --- bad input ------------------------------------------------------------------------


def chunks_of(*chunks):
    return lambda: iter(chunks)


GOOD = np.random.default_rng(0).normal(size=(20, 2))


@pytest.mark.parametrize(
    "chunks, error, message",
    [
        (chunks_of(GOOD, GOOD, GOOD[:, :1]), ValueError, "chunk 2 has 1 columns; "),
        (chunks_of(), ValueError, "yielded no chunk"),
        (chunks_of(GOOD, np.full((3, 2), "a")), TypeError, "chunk 1 has dtype <U1"),
        (chunks_of(GOOD, [[1.0, None]]), TypeError, "chunk 1 has dtype object"),
        (
            chunks_of(GOOD, np.where(np.arange(40).reshape(20, 2) == 9, np.inf, GOOD)),
            ValueError,
            r"chunk 1 contains infinity \(first in its row 4\)",
        ),
        (chunks_of(GOOD, np.ones(3)), ValueError, r"chunk 1 has shape \(3,\)"),
        (chunks_of(GOOD[:1]), ValueError, "minimum of 2 is required"),
    ],
)
def test_bad_chunks_raise_errors_naming_the_chunk(chunks, error, message):
    with pytest.raises(error, match=message):
        GaussianMixture(1).fit(chunks)


def test_a_one_shot_iterator_is_refused_by_fit_but_scored():
    chunks = iter([GOOD, GOOD])
    with pytest.raises(TypeError, match="callable that returns a fresh iterator"):
        GaussianMixture(2).fit(chunks)
    model = GaussianMixture(2, random_state=0).fit(np.vstack([GOOD, GOOD]))
    assert_allclose(
        model.score_samples(iter([GOOD, GOOD])),
        model.score_samples(np.vstack([GOOD] * 2)),
    )


def test_chunks_that_change_between_passes_are_an_error():
    calls = []

    def chunks():
        calls.append(None)
        return iter([GOOD] * (1 if len(calls) > 2 else 2))

    with pytest.raises(ValueError, match="each call must yield the same rows"):
        GaussianMixture(2, max_iter=5).fit(chunks)


def test_scoring_chunks_with_the_wrong_width_names_the_chunk():
    model = GaussianMixture(2, random_state=0).fit(GOOD)
    with pytest.raises(ValueError, match="chunk 1 has 3 columns; expected 2"):
        model.predict(chunks_of(GOOD, np.ones((4, 3))))


def test_stored_arrays_of_the_wrong_shape_are_refused(tmp_path):
    np.save(tmp_path / "v.npy", np.ones(10))
    with pytest.raises(ValueError, match=r"X has shape \(10,\)"):
        GaussianMixture(1).fit(np.load(tmp_path / "v.npy", mmap_mode="r"))
    model = GaussianMixture(1).fit(GOOD)
    np.save(tmp_path / "m.npy", np.ones((10, 3)))
    with pytest.raises(ValueError, match="X has 3 features, but the model expects 2"):
        model.predict(np.load(tmp_path / "m.npy", mmap_mode="r"))


def test_impute_takes_memory_maps_but_refuses_chunks_and_dask_arrays(tmp_path):
    X = RandomData(seed=3, n_samples=300, n_components=2, n_features=3).X["full"]
    X[::7, 1] = np.nan
    model = GaussianMixture(2, random_state=0).fit(X)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    assert_array_equal(model.impute(mapped), model.impute(X))
    with pytest.raises(TypeError, match="impute needs X in memory"):
        model.impute(chunk_callable(X, rows=50))
    da = pytest.importorskip("dask.array")
    with pytest.raises(TypeError, match="impute needs X in memory"):
        model.impute(da.from_array(X, chunks=100))
