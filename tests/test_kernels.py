"""The compiled kernels (every variant in ``COMPILED``) against their NumPy twin.

Also the kernels' own promises: the same bits for any number of threads, the caller's
X read as it is and never written, exact statistics for tight clusters far from the
origin, a safe exp, ValueError (not a crash) on bad arguments and MemoryError (not a
crash) where a thread's scratch cannot be allocated.
"""

import contextvars
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from threadpoolctl import threadpool_limits

import fastem
from _builders import (
    BOUNDARY_ROW_COUNTS,
    COVARIANCE_TYPES,
    LAYOUTS,
    assert_stats_close,
    make_params,
    random_params,
    random_sample_weight,
    sample_mixture,
    score_buffers,
    stats_buffers,
    with_layout,
)
from fastem._engine.threads import limit_blas_threads
from fastem._families import gaussian as gm
from fastem._kernels import (
    BACKENDS,
    COMPILED,
    COMPILED_VARIANT,
    KERNEL_MODULES,
    TWIN,
    _platform,
    get_backend,
)

# Kernel vs twin, relative to the sum of absolute terms of each statistic. The kernel
# converts float32 rows to float64 exactly and accumulates in float64, so both dtypes
# are held to the same tolerance.
RTOL = {np.float32: 1e-10, np.float64: 1e-10}

# Covariances of tight clusters far apart against an exact (long double) computation.
EXACT_RTOL = {np.float32: 1e-12, np.float64: 1e-12}

DTYPES = (np.float32, np.float64)

# Above 8 features (FE_SMALL_D), full covariances, and the sums of tied ones with
# fewer than 8 components, take the large-d path: register-blocked kernels
# (x86-64-v3 and v4 builds) or BLAS (other builds). 33 and 64 leave
# remainders after the blocks of 6 and of 4 x 3 columns (v4: 6 x 4).
LARGE_D = (9, 16, 33, 64)


def run_accumulate(kernels, X, sample_weight, params, n_threads=1):
    """(nk, s1, s2, log_likelihood) of one ``accumulate`` call of ``kernels``."""
    nk, s1, s2 = stats_buffers(
        params.n_components, params.n_features, params.covariance_type
    )
    log_likelihood = kernels.gaussian.accumulate(
        X, sample_weight, *params.kernel_args, n_threads, nk, s1, s2
    )
    return nk, s1, s2, log_likelihood


def run_score(
    kernels,
    X,
    params,
    n_threads=1,
    with_resp=True,
    with_labels=True,
    with_log_prob=True,
):
    """(log_prob_norm, resp, labels) of one ``score`` call; None where not asked."""
    log_prob_norm, resp, labels = score_buffers(len(X), params.n_components)
    log_prob_norm = log_prob_norm if with_log_prob else None
    resp = resp if with_resp else None
    labels = labels if with_labels else None
    kernels.gaussian.score(
        X, *params.kernel_args, n_threads, log_prob_norm, resp, labels
    )
    return log_prob_norm, resp, labels


def assert_accumulated_close(actual, expected, X, sample_weight, params, rtol):
    """(nk, s1, s2, log_likelihood) equal to ``rtol`` of their sums of absolute
    terms."""
    assert_stats_close(actual[:3], expected[:3], X, sample_weight, params.means, rtol)
    weights = np.ones(len(X)) if sample_weight is None else sample_weight
    log_prob_norm = logsumexp(
        TWIN.gaussian.weighted_log_prob(X, *params.kernel_args), axis=1
    )
    scale = np.abs(weights) @ np.abs(log_prob_norm)
    assert_allclose(actual[3], expected[3], rtol=rtol, atol=rtol * scale)


def assert_same_bits(actual, expected):
    """Arrays (or floats) with identical bytes."""
    for got, want in zip(actual, expected):
        if want is not None:
            assert np.asarray(got).tobytes() == np.asarray(want).tobytes()


def clear_labels(weighted_log_prob, tol=1e-9):
    """Rows whose best component leads the next by more than rounding could flip."""
    if weighted_log_prob.shape[1] == 1:
        return np.ones(len(weighted_log_prob), dtype=bool)
    top = np.sort(weighted_log_prob, axis=1)[:, -2:]
    return top[:, 1] - top[:, 0] > tol * (1.0 + np.abs(top[:, 1]))


# --- names ----------------------------------------------------------------------------


def test_kernels_and_twin_export_the_same_names(compiled):
    """Each kernel module and its twin (``_gaussian`` and ``_reference.gaussian``, and
    so on) export the same functions, in a namespace of their own."""
    for name in KERNEL_MODULES:
        module, twin = getattr(compiled, name), getattr(TWIN, name)
        assert module.__all__ == twin.__all__, name
        for function in module.__all__:
            assert callable(getattr(module, function))
            assert callable(getattr(twin, function))


def test_exp_is_within_one_ulp_of_numpys_on_its_domain(compiled):
    """The E-steps' exp (also what benchmarks time as its rate): 1 ulp from NumPy's
    on [-708, 0], 0 below, the same bits for any thread count, and the twin's
    values to that ulp."""
    x = np.concatenate([np.linspace(-750.0, 0.0, 300_001), [-708.0, -1e-300, -0.0]])
    out = np.full_like(x, np.nan)
    compiled.gaussian.exp(x, out, 1)
    inside = x >= -708.0
    expected = np.exp(x[inside])
    assert np.all(np.abs(out[inside] - expected) <= np.spacing(expected))
    assert np.all(out[~inside] == 0.0)
    threaded = np.empty_like(x)
    compiled.gaussian.exp(x, threaded, 3)
    assert_same_bits([threaded], [out])
    twin = np.empty_like(x)
    TWIN.gaussian.exp(x, twin, 1)
    assert_allclose(out, twin, rtol=2.3e-16, atol=0)
    with pytest.raises(ValueError, match="out has 2 elements; x has 3"):
        compiled.gaussian.exp(x[:3], out[:2], 1)


def test_openmp_enabled():
    """A serial build must be loud: it fails here unless it was asked for."""
    if os.environ.get("FASTEM_ALLOW_SERIAL") == "1":
        pytest.skip("FASTEM_ALLOW_SERIAL=1: a serial build is allowed")
    assert _platform.openmp_enabled(), (
        "the kernels were built without OpenMP; set FASTEM_ALLOW_SERIAL=1 if intended"
    )


def test_openmp_limits_reach_the_kernels_runtime():
    """threadpoolctl's OpenMP limits reach the runtime the kernels run on, both ways,
    also where a wheel vendors its own beside scikit-learn's (two in one process)."""
    if not _platform.openmp_enabled():
        pytest.skip("a serial build has no OpenMP runtime")
    for limit in (1, 2, 3):
        with threadpool_limits(limits=limit, user_api="openmp"):
            assert _platform.omp_max_threads() == limit


@pytest.mark.parametrize(
    "variant, supported",
    [
        ("x86-64-v3", _platform.x86_64_v3_supported),
        ("x86-64-v4", _platform.x86_64_v4_supported),
    ],
)
def test_fast_variant_runs_where_the_cpu_has_it(variant, supported):
    """A CPU with AVX2 + FMA (x86-64-v3) or AVX-512 (x86-64-v4) must get that build
    (v3: 2-3x faster than baseline; v4: 1.2-1.5x faster than v3), never silently a
    slower one."""
    if not supported():
        pytest.skip(f"this CPU lacks {variant}")
    assert variant in COMPILED
    if os.environ.get("FASTEM_KERNEL") is None:
        assert COMPILED_VARIANT == list(COMPILED)[-1]
        assert BACKENDS["cython"] is COMPILED[COMPILED_VARIANT]


def test_variants_are_ordered_by_what_they_need():
    """A CPU that runs v4 runs v3: the default is the last variant, the fastest."""
    assert not _platform.x86_64_v4_supported() or _platform.x86_64_v3_supported()
    levels = ["baseline", "x86-64-v3", "x86-64-v4"]
    assert list(COMPILED) == [level for level in levels if level in COMPILED]


# --- choosing the backend -------------------------------------------------------------


def test_use_backend_called_alone_switches_until_the_next_call():
    """The README's bare ``fastem.use_backend("numpy")`` switches (run in a copy of
    the context, so that the switch ends with this test)."""

    def calls():
        fastem.use_backend("numpy")
        assert get_backend() is TWIN
        fastem.use_backend("cython-baseline")
        assert get_backend() is COMPILED["baseline"]

    contextvars.copy_context().run(calls)
    assert get_backend() is BACKENDS["cython"]


def test_use_backend_rejects_a_bad_name_at_the_call():
    with pytest.raises(ValueError, match=r"backend must be one of \[.*'numpy'"):
        fastem.use_backend("fortran")
    assert get_backend() is BACKENDS["cython"]


def test_use_backend_in_a_with_block_restores_the_previous_one():
    with fastem.use_backend("numpy"):
        assert get_backend() is TWIN
        with fastem.use_backend("cython-baseline"):
            assert get_backend() is COMPILED["baseline"]
        assert get_backend() is TWIN
    assert get_backend() is BACKENDS["cython"]
    with pytest.raises(KeyError), fastem.use_backend("numpy"):
        raise KeyError
    assert get_backend() is BACKENDS["cython"]


def test_use_backend_leaves_other_threads_alone():
    """A joblib or Dask worker thread keeps its backend while another thread is in
    a ``with fastem.use_backend(...)`` block."""
    entered, checked = threading.Event(), threading.Event()
    seen = []

    def switching():
        with fastem.use_backend("numpy"):
            entered.set()
            checked.wait(timeout=30)
            seen.append(get_backend())

    thread = threading.Thread(target=switching)
    thread.start()
    assert entered.wait(timeout=30)
    seen.append(get_backend())
    checked.set()
    thread.join()
    assert seen == [BACKENDS["cython"], TWIN]


# --- kernel == twin on random problems ------------------------------------------------

problems = st.fixed_dictionaries(
    {
        "covariance_type": st.sampled_from(COVARIANCE_TYPES),
        "dtype": st.sampled_from(DTYPES),
        "n_samples": st.one_of(
            st.sampled_from(BOUNDARY_ROW_COUNTS), st.integers(1, 1200)
        ),
        "n_features": st.one_of(st.integers(1, 10), st.integers(9, 40)),
        # 8 and more: tied sums around anchors (from 5 or 8 features)
        "n_components": st.one_of(st.integers(1, 6), st.integers(8, 10)),
        "n_threads": st.integers(1, 3),
        "weighted": st.booleans(),
        "layout": st.sampled_from(LAYOUTS),
        "seed": st.integers(0, 2**32 - 1),
    }
)


def build_problem(problem, directory):
    """(params, X in the problem's layout and dtype, sample_weight or None)."""
    rng = np.random.default_rng(problem["seed"])
    n_samples, n_features = problem["n_samples"], problem["n_features"]
    params = random_params(
        rng, problem["n_components"], n_features, problem["covariance_type"]
    )
    X = (3.0 * rng.normal(size=(n_samples, n_features))).astype(problem["dtype"])
    sample_weight = None
    if problem["weighted"]:
        sample_weight = random_sample_weight(rng, n_samples)
    return params, with_layout(X, problem["layout"], directory), sample_weight


def check_accumulate(problem, directory, kernels):
    """``kernels.accumulate`` == the twin's on ``problem``; X left as it was."""
    params, X, sample_weight = build_problem(problem, directory)
    X_before = np.array(X, copy=True)

    got = run_accumulate(kernels, X, sample_weight, params, problem["n_threads"])
    want = run_accumulate(TWIN, X, sample_weight, params)

    assert_accumulated_close(
        got, want, X, sample_weight, params, RTOL[problem["dtype"]]
    )
    assert_array_equal(X, X_before)


def check_score(
    problem, directory, kernels, with_resp=True, with_labels=True, with_log_prob=True
):
    """``kernels.score`` == the twin's on ``problem``; X left as it was."""
    params, X, _ = build_problem(problem, directory)
    X_before = np.array(X, copy=True)
    rtol = RTOL[problem["dtype"]]

    log_prob_norm, resp, labels = run_score(
        kernels,
        X,
        params,
        problem["n_threads"],
        with_resp,
        with_labels,
        with_log_prob,
    )
    want_log_prob_norm, want_resp, want_labels = run_score(TWIN, X, params)

    if with_log_prob:
        assert_allclose(
            log_prob_norm,
            want_log_prob_norm,
            rtol=rtol,
            atol=rtol * np.max(np.abs(want_log_prob_norm)),
        )
    if with_resp:
        assert_allclose(resp, want_resp, rtol=rtol, atol=rtol)
    if with_labels:
        clear = clear_labels(TWIN.gaussian.weighted_log_prob(X, *params.kernel_args))
        assert_array_equal(labels[clear], want_labels[clear])
    assert_array_equal(X, X_before)


@settings(max_examples=60, deadline=None)
@given(problem=problems)
def test_accumulate_matches_twin(problem, memmap_dir, compiled):
    check_accumulate(problem, memmap_dir, compiled)


@settings(max_examples=60, deadline=None)
@given(
    problem=problems,
    with_resp=st.booleans(),
    with_labels=st.booleans(),
    with_log_prob=st.booleans(),
)
def test_score_matches_twin(
    problem, with_resp, with_labels, with_log_prob, memmap_dir, compiled
):
    check_score(problem, memmap_dir, compiled, with_resp, with_labels, with_log_prob)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_features", LARGE_D)
def test_large_d_matches_twin(
    n_features, covariance_type, dtype, n_threads, layout, memmap_dir, compiled
):
    """Every large-d case the random problems may miss: 513 rows are two full
    chunks and one of a single row (padded with seven)."""
    problem = dict(
        covariance_type=covariance_type,
        dtype=dtype,
        n_samples=513,
        n_features=n_features,
        n_components=3,
        n_threads=n_threads,
        weighted=True,
        layout=layout,
        seed=n_features,
    )
    check_accumulate(problem, memmap_dir, compiled)
    check_score(problem, memmap_dir, compiled)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_features", [3, *LARGE_D])
def test_negative_sample_weights_match_twin(n_features, covariance_type, compiled):
    """Where BLAS adds the large-d path's second moments, they come from
    sqrt(w r) (x - mu); a chunk with a negative weight must take another way to the
    same sums."""
    rng = np.random.default_rng(11)
    params = random_params(rng, 3, n_features, covariance_type)
    X = 3.0 * rng.normal(size=(600, n_features))
    sample_weight = random_sample_weight(rng, 600)
    sample_weight[300] = -0.5  # in the second chunk only: the others stay fast

    assert_accumulated_close(
        run_accumulate(compiled, X, sample_weight, params, 2),
        run_accumulate(TWIN, X, sample_weight, params),
        X,
        sample_weight,
        params,
        RTOL[np.float64],
    )


@pytest.mark.parametrize("n_features", [5, 8, 9, 33])
@pytest.mark.parametrize("n_components", [8, 20])
def test_anchored_tied_sums_match_twin(n_features, n_components, compiled):
    """Tied second moments taken around each row's anchor component (from 8
    components and 5 or 8 features on): the twin's sums where responsibilities are
    soft, so that every term of the anchored sums counts, with a negative weight, and
    the same bits for any number of threads."""
    rng = np.random.default_rng(12)
    params = random_params(rng, n_components, n_features, "tied", spread=1.0)
    X = 3.0 * rng.normal(size=(3000, n_features))
    sample_weight = random_sample_weight(rng, 3000)
    sample_weight[300] = -0.5
    resp = run_score(TWIN, X, params)[1]
    assert np.mean(np.max(resp, axis=1) < 0.9) > 0.1

    with limit_blas_threads():
        stats = [
            run_accumulate(compiled, X, sample_weight, params, t) for t in (1, 2, 3)
        ]

    assert_accumulated_close(
        stats[0],
        run_accumulate(TWIN, X, sample_weight, params),
        X,
        sample_weight,
        params,
        RTOL[np.float64],
    )
    for other in stats[1:]:
        assert_same_bits(other, stats[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_rows_at_any_byte_stride(dtype, compiled):
    """A field of a packed structured array has a row stride that is no multiple of
    its itemsize (here 3 * itemsize + 2 bytes); the kernels must read it as it is."""
    rng = np.random.default_rng(3)
    params = random_params(rng, 3, 3, "full")
    records = np.zeros(300, dtype=[("x", dtype, (3,)), ("tag", np.int16)])
    records["x"] = rng.normal(size=(300, 3))
    X = records["x"]
    assert X.strides[0] % X.itemsize != 0

    assert_accumulated_close(
        run_accumulate(compiled, X, None, params),
        run_accumulate(TWIN, X, None, params),
        X,
        None,
        params,
        RTOL[dtype],
    )
    assert_allclose(
        run_score(compiled, X, params)[0],
        run_score(TWIN, X, params)[0],
        rtol=RTOL[dtype],
    )


@pytest.mark.parametrize("n_samples", [5, 256])
@pytest.mark.parametrize("n_features", [3, 33])
def test_padding_rows_do_not_poison_the_sums(n_features, n_samples, compiled):
    """Rows exactly at components 1e160 from the origin are finite for the twin; the
    zero rows that pad a chunk to the SIMD lanes (3 of them for n = 5, none for
    n = 256) are infinitely unlikely there and must not turn the sums into NaN."""
    rng = np.random.default_rng(4)
    params = random_params(rng, 3, n_features, "full", centre=1e160, spread=1e150)
    X = params.means[rng.integers(0, 3, n_samples)]

    want = run_accumulate(TWIN, X, None, params)
    assert np.all(np.isfinite(want[0]))
    assert_accumulated_close(
        run_accumulate(compiled, X, None, params),
        want,
        X,
        None,
        params,
        RTOL[np.float64],
    )


# --- threads --------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_samples", [300, 20000, 70000])
@pytest.mark.parametrize("n_features", [5, 40])
def test_same_bits_for_any_number_of_threads(
    n_features, covariance_type, dtype, n_samples, compiled
):
    """Rows are cut into 2, 79 or 274 chunks: one chunk per block for the first two,
    two per block (at most 256 blocks) for the last. BLAS, where the kernels call it
    (40 features), runs on one thread, as the data sources run it."""
    rng = np.random.default_rng(5)
    params = random_params(rng, 4, n_features, covariance_type)
    X = (3.0 * rng.normal(size=(n_samples, n_features))).astype(dtype)
    sample_weight = rng.uniform(size=n_samples)

    threads = (1, 2, 3, 4)
    with limit_blas_threads():
        stats = [run_accumulate(compiled, X, sample_weight, params, t) for t in threads]
        scores = [run_score(compiled, X, params, t) for t in threads]

    assert_accumulated_close(
        stats[0],
        run_accumulate(TWIN, X, sample_weight, params),
        X,
        sample_weight,
        params,
        RTOL[dtype],
    )
    for other in stats[1:]:
        assert_same_bits(other, stats[0])
    for other in scores[1:]:
        assert_same_bits(other, scores[0])


# --- accuracy -------------------------------------------------------------------------


def exact_covariances(X, labels, n_components, covariance_type):
    """Means and covariances of a hard assignment, in long double (max. likelihood)."""
    X = np.asarray(X, dtype=np.longdouble)
    counts = np.bincount(labels, minlength=n_components)
    clusters = [X[labels == k] for k in range(n_components)]
    means = np.stack([rows.sum(axis=0) / len(rows) for rows in clusters])
    scatters = np.stack(
        [(rows - mean).T @ (rows - mean) for rows, mean in zip(clusters, means)]
    )
    if covariance_type == "full":
        covariances = scatters / counts[:, np.newaxis, np.newaxis]
    elif covariance_type == "tied":
        covariances = scatters.sum(axis=0) / counts.sum()
    else:
        diagonals = np.diagonal(scatters, axis1=1, axis2=2) / counts[:, np.newaxis]
        covariances = diagonals if covariance_type == "diag" else diagonals.mean(axis=1)
    return means.astype(np.float64), covariances.astype(np.float64)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "sigma, spread, centre",
    [(1e-3, 100.0, 0.0), (1e-2, 10.0, 1e4)],
    ids=["sigma 1e-3 spread 100", "sigma 1e-2 at 1e4"],
)
@pytest.mark.parametrize("n_features", [3, 33])
@pytest.mark.parametrize("n_components", [3, 9])
def test_tight_clusters_far_apart_are_exact(
    n_components, n_features, covariance_type, dtype, sigma, spread, centre, compiled
):
    """9 components: tied sums around anchors at 33 features."""
    rng = np.random.default_rng(6)
    params = random_params(
        rng,
        n_components,
        n_features,
        covariance_type,
        spread=spread,
        scale=sigma,
        centre=centre,
    )
    X, labels = sample_mixture(rng, params, 3000)
    X = X.astype(dtype)
    # The clusters are so far apart that the responsibilities are hard.
    assert_array_equal(run_score(TWIN, X, params)[2], labels)

    nk, s1, s2, _ = run_accumulate(compiled, X, None, params)
    stats = gm.GaussianStats(nk, s1, s2, params.means, covariance_type)
    _, means, covariances = gm.maximize(stats, covariance_type, reg_covar=0.0, eps=0.0)
    exact_means, exact = exact_covariances(X, labels, n_components, covariance_type)

    rtol = EXACT_RTOL[dtype]
    assert_allclose(nk, np.bincount(labels, minlength=n_components), rtol=rtol)
    assert_allclose(means, exact_means, rtol=rtol)
    assert_allclose(covariances, exact, rtol=rtol, atol=rtol * np.max(np.abs(exact)))


# --- exp, log-sum-exp and labels ------------------------------------------------------


def test_extreme_logits_are_normalised(compiled):
    rng = np.random.default_rng(8)
    means = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    params = make_params(np.full(3, 1 / 3), means, np.stack([np.eye(2)] * 3), "full")
    far = np.array([[-300.0, -300.0], [400.0, 350.0], [1000.0, -20.0], [-30.0, 450.0]])
    X = np.vstack([means[k] + rng.normal(size=(100, 2)) for k in range(3)] + [far])
    weighted_log_prob = TWIN.gaussian.weighted_log_prob(X, *params.kernel_args)
    # Far rows: log-densities beyond -4e4, components more than 800 apart.
    assert np.all(weighted_log_prob[-4:] < -4e4)
    assert np.all(np.ptp(weighted_log_prob[-4:], axis=1) > 800)

    log_prob_norm, resp, labels = run_score(compiled, X, params)
    log_likelihood = run_accumulate(compiled, X, None, params)[3]

    assert np.all(np.isfinite(log_prob_norm))
    assert_allclose(log_prob_norm, logsumexp(weighted_log_prob, axis=1), rtol=1e-12)
    assert_allclose(log_likelihood, np.sum(log_prob_norm), rtol=1e-12)
    assert_allclose(resp.sum(axis=1), 1.0, rtol=0, atol=1e-14)
    assert_array_equal(labels, np.argmax(resp, axis=1))
    assert_array_equal(labels, np.argmax(weighted_log_prob, axis=1))


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_labels_skip_components_of_zero_weight(covariance_type, compiled):
    """A component of weight 0 has the logit -inf in every row: never a label, and
    no row's label is lost to it (the argmax's selects start from a true zero)."""
    rng = np.random.default_rng(9)
    X = rng.normal(size=(37, 3))
    means = rng.normal(size=(4, 3))
    covariances = {"full": np.stack([np.eye(3)] * 4), "diag": np.ones((4, 3))}
    params = make_params(
        np.array([0.0, 0.5, 0.0, 0.5]),
        means,
        covariances[covariance_type],
        covariance_type,
    )
    weighted_log_prob = TWIN.gaussian.weighted_log_prob(X, *params.kernel_args)
    assert np.all(np.isneginf(weighted_log_prob[:, [0, 2]]))

    labels = run_score(compiled, X, params, with_resp=False, with_log_prob=False)[2]

    assert_array_equal(labels, np.argmax(weighted_log_prob, axis=1))


def test_small_responsibilities_keep_their_relative_accuracy(compiled):
    """Logit gaps from 0 to about -685: the kernel's exp stays as close to NumPy's
    in relative terms as the rounding of the logits allows, down to where exp
    underflows."""
    separation = 37.0
    params = make_params(
        np.array([0.5, 0.5]),
        np.array([[0.0], [separation]]),
        np.array([1.0, 1.0]),
        "spherical",
    )
    # Row x has the logit gap (2 x separation - separation^2) / 2; the largest
    # quadratic form is separation^2, so the logits round by about 1e-13.
    X = np.linspace(separation / 2, 0.0, 1001)[:, np.newaxis]

    resp = run_score(compiled, X, params)[1]
    want = run_score(TWIN, X, params)[1]

    assert np.min(want) < 1e-297
    assert_allclose(resp, want, rtol=1e-12, atol=0)


# --- bad arguments --------------------------------------------------------------------


def valid_arguments(kernel):
    """Valid arguments of ``kernel`` ('accumulate' or 'score'), by name and in order."""
    params = random_params(np.random.default_rng(9), 3, 3, "full")
    X = np.random.default_rng(10).normal(size=(20, 3))
    means, precisions_chol, log_norm, covariance_type = params.kernel_args
    if kernel == "accumulate":
        nk, s1, s2 = stats_buffers(3, 3, "full")
        return dict(
            X=X,
            sample_weight=None,
            means=means,
            precisions_chol=precisions_chol,
            log_norm=log_norm,
            covariance_type=covariance_type,
            n_threads=2,
            nk=nk,
            s1=s1,
            s2=s2,
        )
    log_prob_norm, resp, labels = score_buffers(20, 3)
    return dict(
        X=X,
        means=means,
        precisions_chol=precisions_chol,
        log_norm=log_norm,
        covariance_type=covariance_type,
        n_threads=2,
        log_prob_norm=log_prob_norm,
        resp=resp,
        labels=labels,
    )


BAD_ARGUMENTS = {
    "accumulate": {
        "precisions_chol of diag shape": dict(precisions_chol=np.ones((3, 3))),
        "precisions_chol too narrow": dict(precisions_chol=np.ones((3, 3, 2))),
        "log_norm too short": dict(log_norm=np.zeros(2)),
        "X of other width": dict(X=np.zeros((20, 2))),
        "unknown covariance_type": dict(covariance_type="banana"),
        "means strided": dict(means=np.zeros((3, 6))[:, ::2]),
        "sample_weight too long": dict(sample_weight=np.ones(21)),
        "nk too long": dict(nk=np.empty(4)),
        "s1 of other shape": dict(s1=np.empty((3, 4))),
        "s2 of diag shape": dict(s2=np.empty((3, 3))),
        "nk strided": dict(nk=np.empty(6)[::2]),
        "s1 Fortran-ordered": dict(s1=np.empty((3, 3), order="F")),
        "s2 Fortran-ordered": dict(s2=np.empty((3, 3, 3), order="F")),
        "nk float32": dict(nk=np.empty(3, dtype=np.float32)),
    },
    "score": {
        "precisions_chol of tied shape": dict(precisions_chol=np.eye(3)),
        "log_norm too long": dict(log_norm=np.zeros(4)),
        "X of other width": dict(X=np.zeros((20, 4))),
        "unknown covariance_type": dict(covariance_type="banana"),
        "log_prob_norm too short": dict(log_prob_norm=np.empty(19)),
        "log_prob_norm strided": dict(log_prob_norm=np.empty(40)[::2]),
        "resp of other shape": dict(resp=np.empty((20, 4))),
        "resp Fortran-ordered": dict(resp=np.empty((20, 3), order="F")),
        "resp float32": dict(resp=np.empty((20, 3), dtype=np.float32)),
        "labels too long": dict(labels=np.empty(21, dtype=np.intp)),
        "labels float64": dict(labels=np.empty(20)),
        "labels int32": dict(labels=np.empty(20, dtype=np.int32)),
    },
}


@pytest.mark.parametrize(
    "kernel, bad",
    [(kernel, bad) for kernel, cases in BAD_ARGUMENTS.items() for bad in cases],
)
def test_bad_arguments_raise_value_error(kernel, bad, compiled):
    arguments = {**valid_arguments(kernel), **BAD_ARGUMENTS[kernel][bad]}
    with pytest.raises(ValueError):
        getattr(compiled.gaussian, kernel)(*arguments.values())


OUTPUTS = {
    "accumulate": ("nk", "s1", "s2"),
    "score": ("log_prob_norm", "resp", "labels"),
}


@pytest.mark.parametrize("kernel", sorted(BAD_ARGUMENTS))
def test_valid_arguments_are_accepted(kernel, compiled):
    """The baseline that each bad-argument case changes one thing of."""
    got, want = valid_arguments(kernel), valid_arguments(kernel)

    getattr(compiled.gaussian, kernel)(*got.values())
    getattr(TWIN.gaussian, kernel)(*want.values())

    for name in OUTPUTS[kernel]:
        assert_allclose(got[name], want[name], rtol=1e-10, atol=1e-10, err_msg=name)


# --- scratch that cannot be allocated -------------------------------------------------

# A child process whose address space is limited to what it uses plus HEADROOM: the
# kernels' per-thread scratch of each scenario (about 600-800 MiB) does not fit, and
# nothing is really allocated. A thread pool runs first, so its threads exist.
ALLOCATION_FAILURE = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from fastem import GaussianMixture

    HEADROOM = 512 * 2**20
    K = 400_000  # a thread's EM scratch holds K rows of 264 doubles: 806 MiB
    rng = np.random.default_rng(0)
    model = GaussianMixture(2, covariance_type="spherical", random_state=0)
    model.fit(rng.normal(size=(1000, 1)))
    scenario = sys.argv[1]
    if scenario == "fit":
        X = rng.normal(size=(K, 1))
        model = GaussianMixture(
            K, covariance_type="spherical", weights_init=np.full(K, 1 / K),
            means_init=X.copy(), precisions_init=np.ones(K), max_iter=1,
        )
    elif scenario == "predict":  # a model with K components, as from a crafted file
        model.weights_ = np.full(K, 1 / K)
        model.means_ = rng.normal(size=(K, 1))
        for name in ("covariances_", "precisions_", "precisions_cholesky_"):
            setattr(model, name, np.ones(K))
        X = rng.normal(size=(10, 1))
    else:  # k-means++: 256 rows of 300,000 features per thread, 586 MiB
        X = rng.normal(size=(4, 300_000)).astype(np.float32)
        model = GaussianMixture(
            2, covariance_type="diag", init_params="k-means++", max_iter=1
        )
    with open("/proc/self/status") as status:
        used = next(int(line.split()[1]) * 1024 for line in status
                    if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (used + HEADROOM, resource.RLIM_INFINITY))
    try:
        model.predict(X) if scenario == "predict" else model.fit(X)
    except MemoryError as error:
        print(f"MemoryError: {error}")
    """
)


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's"
)
@pytest.mark.parametrize("scenario", ["fit", "predict", "k-means++"])
def test_scratch_that_cannot_be_allocated_raises_memory_error(scenario):
    """Each thread's malloc of its scratch is checked: a failure is a MemoryError
    after the parallel region, not a NULL pointer written to (a segfault)."""
    child = subprocess.run(
        [sys.executable, "-c", ALLOCATION_FAILURE, scenario],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.startswith("MemoryError: cannot allocate the "), child.stdout
    assert "MiB of scratch each" in child.stdout


def test_scratch_beyond_what_malloc_takes_raises_memory_error(compiled):
    """Sizes that a Py_ssize_t cannot hold are refused before any malloc."""
    gaussian, kmeans_plusplus = compiled.gaussian, compiled.kmeans_plusplus
    with pytest.raises(MemoryError, match="n_components=4611686018427387904 "):
        gaussian._scratch_length(2**62, 0, 2**62, 1)
    with pytest.raises(MemoryError, match="n_features=4611686018427387904 "):
        kmeans_plusplus._scratch_length(2**62, 4)
