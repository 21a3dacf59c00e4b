"""k-means++ seeding: the compiled kernels against their twin (to the bit), the twin
against plain NumPy, and the seeds against scikit-learn's ``kmeans_plusplus``.

The kernels and the twin compute the same floating-point operations in the same order
(squared distances summed over features in order, no fused multiply-add; block sums
in KMEANSPP_LANES lanes added pairwise; the scan of a block in row order), so they are
held to identical bits, and so are any two thread counts.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import datasets
from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus
from sklearn.preprocessing import StandardScaler

import fastem
from _builders import LAYOUTS, random_sample_weight, with_layout
from fastem import GaussianMixture
from fastem._engine.seeding import BLOCK_ROWS, kmeans_plusplus
from fastem._kernels import TWIN

DTYPES = (np.float32, np.float64)

# Rows around the kernel's chunk (256 rows), row group (16) and lane (8) boundaries.
BOUNDARY_ROW_COUNTS = (1, 7, 8, 9, 15, 16, 17, 255, 256, 257, 511, 513, 2049)


def run_potentials(
    kernels, X, sample_weight, last, candidates, block_rows, closest, n_threads=1
):
    """(closest after the call, block_sums) of one ``kmeanspp_potentials`` call."""
    closest = closest.copy()
    n_blocks = -(-len(X) // block_rows)
    block_sums = np.full((n_blocks, len(candidates)), np.nan)
    kernels.kmeans_plusplus.kmeanspp_potentials(
        X, sample_weight, last, candidates, block_rows, n_threads, closest, block_sums
    )
    return closest, block_sums


def run_searchsorted(
    kernels, X, sample_weight, last, closest, block_cumsum, targets, block_rows
):
    """The rows ``kmeanspp_searchsorted`` finds for ``targets``."""
    candidates = np.full(len(targets), -1, dtype=np.intp)
    kernels.kmeans_plusplus.kmeanspp_searchsorted(
        X, sample_weight, last, closest, block_cumsum, targets, block_rows, candidates
    )
    return candidates


def assert_same_bits(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


def targets_for(rng, block_cumsum, n_targets):
    """Random targets in [0, total], plus the ends and the exact block boundaries."""
    total = block_cumsum[-1]
    edges = [0.0, total, block_cumsum[0], np.nextafter(total, 0.0)]
    return np.concatenate([rng.uniform(0.0, total, n_targets), edges])


# --- kernels == twin ------------------------------------------------------------------

problems = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from(DTYPES),
        "n_samples": st.one_of(
            st.sampled_from(BOUNDARY_ROW_COUNTS), st.integers(1, 3000)
        ),
        "n_features": st.one_of(st.integers(1, 9), st.integers(10, 24)),
        "n_candidates": st.integers(1, 8),
        "block_rows": st.sampled_from((8, 16, 24, 256, 264, 2048)),
        "n_threads": st.integers(1, 3),
        "weighted": st.booleans(),
        "with_last": st.booleans(),
        "first_step": st.booleans(),
        "layout": st.sampled_from(LAYOUTS),
        "seed": st.integers(0, 2**32 - 1),
    }
)


def build_problem(problem, directory):
    """X (in the problem's layout), weights or None, closest, last, candidates."""
    rng = np.random.default_rng(problem["seed"])
    n, d = problem["n_samples"], problem["n_features"]
    centres = 5.0 * rng.normal(size=(4, d))
    X = (centres[rng.integers(0, 4, n)] + rng.normal(size=(n, d))).astype(
        problem["dtype"]
    )
    X[rng.integers(0, n, n // 10)] = X[0]  # duplicate rows: zero distances and ties
    sample_weight = random_sample_weight(rng, n) if problem["weighted"] else None
    closest = (
        np.full(n, np.inf)
        if problem["first_step"]
        else 30.0 * rng.uniform(size=n) * (rng.uniform(size=n) > 0.1)
    )
    last = int(rng.integers(0, n)) if problem["with_last"] else -1
    candidates = rng.integers(0, n, problem["n_candidates"]).astype(np.intp)
    return (
        with_layout(X, problem["layout"], directory),
        sample_weight,
        closest,
        last,
        candidates,
    )


@settings(max_examples=80, deadline=None)
@given(problem=problems)
def test_kernels_match_twin_to_the_bit(problem, memmap_dir, compiled):
    X, sample_weight, closest, last, candidates = build_problem(problem, memmap_dir)
    X_before = np.array(X, copy=True)
    block_rows = problem["block_rows"]

    got = run_potentials(
        compiled,
        X,
        sample_weight,
        last,
        candidates,
        block_rows,
        closest,
        problem["n_threads"],
    )
    want = run_potentials(TWIN, X, sample_weight, last, candidates, block_rows, closest)
    for got_array, want_array in zip(got, want):
        assert_same_bits(got_array, want_array)

    # The next step: candidates drawn from the blocks of a candidate's sums, the
    # closest distances not yet updated with it.
    if np.isfinite(closest).all():
        block_cumsum = np.cumsum(want[1][:, -1])
        targets = targets_for(
            np.random.default_rng(problem["seed"] + 1), block_cumsum, 20
        )
        assert_array_equal(
            run_searchsorted(
                compiled,
                X,
                sample_weight,
                candidates[-1],
                want[0],
                block_cumsum,
                targets,
                block_rows,
            ),
            run_searchsorted(
                TWIN,
                X,
                sample_weight,
                candidates[-1],
                want[0],
                block_cumsum,
                targets,
                block_rows,
            ),
        )
    assert_array_equal(X, X_before)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_features", [2, 3, 8])
def test_same_bits_for_any_number_of_threads(dtype, n_features, compiled):
    """70000 rows: 35 blocks of 2048 rows, the last one short."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(70000, n_features)).astype(dtype)
    closest = rng.uniform(size=70000)
    candidates = rng.integers(0, 70000, 5).astype(np.intp)

    results = [
        run_potentials(compiled, X, None, 3, candidates, BLOCK_ROWS, closest, n)
        for n in (1, 2, 3, 4)
    ]

    for other in results[1:]:
        for got, want in zip(other, results[0]):
            assert_same_bits(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rows_at_any_byte_stride(dtype, compiled):
    """A field of a packed structured array: the row stride is no multiple of the
    itemsize (3 * itemsize + 2 bytes)."""
    rng = np.random.default_rng(2)
    records = np.zeros(700, dtype=[("x", dtype, (3,)), ("tag", np.int16)])
    records["x"] = rng.normal(size=(700, 3))
    X = records["x"]
    assert X.strides[0] % X.itemsize != 0
    closest = rng.uniform(size=700)

    for got, want in zip(
        run_potentials(compiled, X, None, 5, np.array([1, 2]), 256, closest),
        run_potentials(TWIN, X, None, 5, np.array([1, 2]), 256, closest),
    ):
        assert_same_bits(got, want)


# --- the twin against plain NumPy -----------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_twin_potentials_are_block_sums_of_the_closest_distances(weighted):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1000, 4))
    w = random_sample_weight(rng, 1000) if weighted else None
    closest = rng.uniform(0.0, 8.0, size=1000)
    last, candidates = 7, np.array([3, 500, 999])

    updated, block_sums = run_potentials(TWIN, X, w, last, candidates, 64, closest)

    distances = np.sum((X[:, np.newaxis, :] - X[candidates]) ** 2, axis=2)
    want_closest = np.minimum(closest, np.sum((X - X[last]) ** 2, axis=1))
    terms = np.minimum(want_closest[:, np.newaxis], distances)
    if weighted:
        terms *= w[:, np.newaxis]
    want = np.add.reduceat(terms, np.arange(0, 1000, 64), axis=0)
    assert_allclose(updated, want_closest, rtol=1e-14)
    assert_allclose(block_sums, want, rtol=1e-13)


def test_twin_searchsorted_is_numpy_searchsorted_of_the_cumulative_sum():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(1000, 3))
    closest = rng.uniform(0.0, 8.0, size=1000) * (rng.uniform(size=1000) > 0.2)
    last = 11
    # The block sums of min(closest, ||x - x_last||^2), closest not yet updated.
    _, block_sums = run_potentials(TWIN, X, None, -1, [last], 64, closest)
    block_cumsum = np.cumsum(block_sums[:, 0])
    targets = rng.uniform(0.0, block_cumsum[-1], 200)

    got = run_searchsorted(TWIN, X, None, last, closest, block_cumsum, targets, 64)

    terms = np.minimum(closest, np.sum((X - X[last]) ** 2, axis=1))
    cumsum = np.cumsum(terms)
    want = np.minimum(np.searchsorted(cumsum, targets), len(X) - 1)
    # Summed in another order, the cumulative sums agree to rounding: rows can only
    # differ for a target within rounding of a boundary, and none is here.
    assert np.min(np.abs(cumsum[:, np.newaxis] - targets)) > 1e-9 * cumsum[-1]
    assert_array_equal(got, want)
    assert np.all(terms[got] > 0.0)


# --- seeds: scikit-learn's ------------------------------------------------------------


def real_data(name):
    """X of a data set shipped with scikit-learn, as the estimator tests prepare it."""
    if name == "iris":
        return datasets.load_iris().data
    if name == "wine":
        return StandardScaler().fit_transform(datasets.load_wine().data)
    if name == "breast_cancer":
        return StandardScaler().fit_transform(datasets.load_breast_cancer().data)
    return datasets.load_digits().data


def blobs(seed, n_samples, n_features, n_centres=8):
    rng = np.random.default_rng(seed)
    centres = 6.0 * rng.normal(size=(n_centres, n_features))
    return centres[rng.integers(0, n_centres, n_samples)] + rng.normal(
        size=(n_samples, n_features)
    )


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits"])
@pytest.mark.parametrize("n_clusters", [1, 3, 10])
def test_seeds_are_sklearns_on_real_data(name, n_clusters, backend):
    X = real_data(name)
    for seed in range(5):
        want = sk_kmeans_plusplus(X, n_clusters, random_state=seed)
        with fastem.use_backend(backend):
            got = kmeans_plusplus(X, n_clusters, random_state=seed, n_threads=2)
        assert_array_equal(got[1], want[1])
        assert_array_equal(got[0], want[0])


@pytest.mark.parametrize(
    "n_samples, n_features, n_clusters",
    [(500, 2, 5), (5000, 3, 16), (20000, 8, 32), (3000, 30, 12)],
)
def test_seeds_are_sklearns_on_blobs(n_samples, n_features, n_clusters):
    for seed in range(4):
        X = blobs(seed, n_samples, n_features)
        want = sk_kmeans_plusplus(X, n_clusters, random_state=seed)[1]
        got = kmeans_plusplus(X, n_clusters, random_state=seed, n_threads=2)[1]
        assert_array_equal(got, want)


def test_seeds_are_sklearns_with_sample_weight_and_trials():
    rng = np.random.default_rng(5)
    X = blobs(5, 3000, 4)
    w = rng.uniform(0.0, 2.0, 3000) * (rng.uniform(size=3000) > 0.3)
    for n_local_trials in (None, 1, 9):
        want = sk_kmeans_plusplus(
            X, 10, sample_weight=w, random_state=0, n_local_trials=n_local_trials
        )[1]
        got = kmeans_plusplus(
            X, 10, sample_weight=w, random_state=0, n_local_trials=n_local_trials
        )[1]
        assert_array_equal(got, want)
        assert np.all(w[got] > 0.0)


@pytest.mark.parametrize("name", ["iris", "wine", "digits"])
def test_float32_seeds_are_sklearns_on_small_data(name):
    """We compute in float64 whatever the dtype; scikit-learn's float32 cumulative
    sums lose digits with n_samples (at 2e4 rows, 1 run in 5 picks other rows), but
    on small data sets they still choose the same rows."""
    X = real_data(name).astype(np.float32)
    for seed in range(5):
        want = sk_kmeans_plusplus(X, 8, random_state=seed)
        got = kmeans_plusplus(X, 8, random_state=seed)
        assert_array_equal(got[1], want[1])
        assert got[0].dtype == np.float32


def test_seeds_do_not_depend_on_backend_threads_or_layout(memmap_dir):
    X = blobs(6, 9000, 5)
    want = kmeans_plusplus(X, 20, random_state=3, n_threads=1)[1]
    for n_threads in (2, 3):
        got = kmeans_plusplus(X, 20, random_state=3, n_threads=n_threads)[1]
        assert_array_equal(got, want)
    with fastem.use_backend("numpy"):
        assert_array_equal(kmeans_plusplus(X, 20, random_state=3)[1], want)
    for layout in ("F", "reversed", "read-only", "memmap"):
        view = with_layout(X, layout, memmap_dir)
        assert_array_equal(kmeans_plusplus(view, 20, random_state=3)[1], want)


def test_identical_rows_are_chosen_as_scikit_learn_does():
    """Fewer distinct rows than seeds: the potential falls to zero and every later
    draw is row 0, as in scikit-learn."""
    X = np.repeat(np.array([[0.0, 1.0], [2.0, 3.0], [5.0, 5.0]]), 40, axis=0)
    want = sk_kmeans_plusplus(X, 6, random_state=0)[1]
    assert_array_equal(kmeans_plusplus(X, 6, random_state=0)[1], want)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_gaussian_mixture_starts_from_the_same_seeds_on_both_backends(covariance_type):
    X = blobs(7, 2000, 3)
    params = dict(
        n_components=6,
        covariance_type=covariance_type,
        init_params="k-means++",
        max_iter=0,
        random_state=1,
    )
    compiled = GaussianMixture(**params).fit(X)
    with fastem.use_backend("numpy"):
        twin = GaussianMixture(**params).fit(X)
    assert_array_equal(twin.means_, compiled.means_)


# --- bad arguments --------------------------------------------------------------------


def valid_arguments(kernel):
    X = np.random.default_rng(8).normal(size=(40, 3))
    closest = np.ones(40)
    if kernel == "kmeanspp_potentials":
        return dict(
            X=X,
            sample_weight=None,
            last_center=-1,
            candidates=np.array([0, 5]),
            block_rows=16,
            n_threads=2,
            closest=closest,
            block_sums=np.empty((3, 2)),
        )
    return dict(
        X=X,
        sample_weight=None,
        last_center=2,
        closest=closest,
        block_cumsum=np.array([16.0, 32.0, 40.0]),
        targets=np.array([0.5, 39.0]),
        block_rows=16,
        candidates=np.empty(2, dtype=np.intp),
    )


BAD_ARGUMENTS = {
    "kmeanspp_potentials": {
        "block_rows not a multiple of 8": dict(block_rows=12),
        "block_rows zero": dict(block_rows=0),
        "last_center too large": dict(last_center=40),
        "last_center below -1": dict(last_center=-2),
        "candidate out of range": dict(candidates=np.array([0, 40])),
        "negative candidate": dict(candidates=np.array([-1, 3])),
        "closest too short": dict(closest=np.ones(39)),
        "sample_weight too long": dict(sample_weight=np.ones(41)),
        "block_sums too few blocks": dict(block_sums=np.empty((2, 2))),
        "block_sums too few candidates": dict(block_sums=np.empty((3, 1))),
        "block_sums Fortran-ordered": dict(block_sums=np.empty((3, 2), order="F")),
    },
    "kmeanspp_searchsorted": {
        "block_rows not a multiple of 8": dict(block_rows=20),
        "last_center too large": dict(last_center=40),
        "block_cumsum too short": dict(block_cumsum=np.array([16.0, 40.0])),
        "closest too long": dict(closest=np.ones(41)),
        "candidates too short": dict(candidates=np.empty(1, dtype=np.intp)),
    },
}


@pytest.mark.parametrize(
    "kernel, bad",
    [(kernel, bad) for kernel, cases in BAD_ARGUMENTS.items() for bad in cases],
)
def test_bad_arguments_raise_value_error(kernel, bad, compiled):
    arguments = {**valid_arguments(kernel), **BAD_ARGUMENTS[kernel][bad]}
    with pytest.raises(ValueError):
        getattr(compiled.kmeans_plusplus, kernel)(*arguments.values())


@pytest.mark.parametrize("kernel", sorted(BAD_ARGUMENTS))
def test_valid_arguments_are_accepted(kernel, compiled):
    got, want = valid_arguments(kernel), valid_arguments(kernel)
    getattr(compiled.kmeans_plusplus, kernel)(*got.values())
    getattr(TWIN.kmeans_plusplus, kernel)(*want.values())
    for name in ("closest", "block_sums", "candidates"):
        if name in got:
            assert_array_equal(got[name], want[name], err_msg=name)
