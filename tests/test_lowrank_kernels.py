"""The factor-model kernels (``_lowrank``) against their twin (``_reference.lowrank``)
and independent maths: every compiled variant, dense rows in any memory layout with
NaN, float32 and float64, CSR rows with int32 and int64 indices, weights, rows that
observe nothing, and the same bits for any number of threads."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import multivariate_normal

from _builders import LAYOUTS, with_layout
from fastem._kernels import TWIN
from fastem._kernels._lowrank_checks import packed_length, record_length
from fastem._latent.factors import LowRankStats, unpack

# Twin and kernels sum in different orders: float64 rounding of sums of O(n) terms.
RTOL = 1e-10


def problem(seed=0, n_samples=300, n_features=9, n_components=3, missing=0.3):
    """Parameters and rows of a factor model, a fraction of the entries NaN, row 1
    observing nothing and row 2 everything."""
    rng = np.random.default_rng(seed)
    loadings = rng.normal(size=(n_features, n_components))
    mean = rng.normal(size=n_features) + 4.0
    noise = rng.uniform(0.2, 1.5, size=n_features)
    X = rng.normal(size=(n_samples, n_components)) @ loadings.T + mean
    X += np.sqrt(noise) * rng.normal(size=X.shape)
    X[rng.random(X.shape) < missing] = np.nan
    X[1] = np.nan
    X[2] = rng.normal(size=n_features)
    # The kernel's parameters: near, not at, the truth.
    params = (
        loadings + 0.1 * rng.normal(size=loadings.shape),
        mean + 0.1,
        noise * 1.2,
    )
    return X, params


def as_csr(X, index_dtype=np.int32):
    rows, cols = np.nonzero(~np.isnan(X))
    matrix = sp.csr_array((X[rows, cols], (rows, cols)), shape=X.shape)
    matrix.indices = matrix.indices.astype(index_dtype)
    matrix.indptr = matrix.indptr.astype(index_dtype)
    return matrix


def run(module, X, params, sample_weight=None, n_threads=2):
    """(log-likelihood, per_feature, shared, log_prob, factors) of one module."""
    d, q = params[0].shape
    per_feature = np.empty((d, record_length(q)))
    shared = np.empty(packed_length(q))
    total = module.accumulate(X, sample_weight, *params, n_threads, per_feature, shared)
    log_prob = np.empty(X.shape[0])
    factors = np.empty((X.shape[0], q))
    module.score(X, *params, n_threads, log_prob, factors)
    return total, per_feature, shared, log_prob, factors


def assert_runs_close(got, want, rtol=RTOL):
    scale = np.abs(want[1]).max()
    assert_allclose(got[0], want[0], rtol=rtol)
    assert_allclose(got[1], want[1], rtol=rtol, atol=rtol * scale)
    assert_allclose(got[2], want[2], rtol=rtol, atol=rtol * scale)
    assert_allclose(got[3], want[3], rtol=rtol, atol=rtol)
    assert_allclose(got[4], want[4], rtol=rtol, atol=rtol)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_rows_in_any_layout_match_the_twin(compiled, layout, dtype, memmap_dir):
    X, params = problem()
    X = with_layout(X.astype(dtype), layout, memmap_dir)
    weight = np.random.default_rng(1).uniform(0, 2, size=X.shape[0])
    weight[5] = 0.0
    for sample_weight in (None, weight):
        assert_runs_close(
            run(compiled.lowrank, X, params, sample_weight),
            run(TWIN.lowrank, X, params, sample_weight),
        )


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_csr_rows_match_the_twin(compiled, index_dtype, dtype):
    X, params = problem(missing=0.7)
    matrix = as_csr(X.astype(dtype), index_dtype)
    assert_runs_close(
        run(compiled.lowrank, matrix, params), run(TWIN.lowrank, matrix, params)
    )


@pytest.mark.parametrize("missing", [0.0, 0.2, 0.45, 0.55, 0.9])
def test_dense_and_sparse_rows_give_the_same_sums(missing):
    """Dense rows observing at least half the features split their second moments
    differently (shared, less the missing features), but add up to the same sums."""
    X, params = problem(seed=3, missing=missing)
    dense = run(TWIN.lowrank, X, params)
    sparse = run(TWIN.lowrank, as_csr(X), params)
    shift, q = params[1], params[0].shape[1]
    moments = [
        LowRankStats(shift, per_feature, shared).moments()
        for per_feature, shared in (dense[1:3], sparse[1:3])
    ]
    for got, want in zip(*moments):
        assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    assert_allclose(dense[0], sparse[0], rtol=1e-12)
    assert_allclose(dense[3], sparse[3], rtol=1e-12)
    assert moments[0][1].shape == (X.shape[1], q + 1, q + 1)


def test_the_twin_is_the_textbook_e_step():
    """Each row's log-density is that of N(mu_O, W_O W_O^T + Psi_O) at x_O, its
    factors E[z | x_O] = W_O^T C_O^-1 (x_O - mu_O), and the statistics are the sums of
    r E[z~] and E[z~ z~^T] over the rows observing each feature."""
    X, params = problem(n_samples=40, n_features=6, n_components=2)
    loadings, mean, noise = params
    total, per_feature, shared, log_prob, factors = run(TWIN.lowrank, X, params)
    q = loadings.shape[1]
    sums = np.zeros((X.shape[1], q + 1))
    moments = np.zeros((X.shape[1], q + 1, q + 1))
    squares = np.zeros(X.shape[1])
    for i, row in enumerate(X):
        observed = ~np.isnan(row)
        if not observed.any():
            assert log_prob[i] == 0.0 and np.all(factors[i] == 0.0)
            continue
        w = loadings[observed]
        cov = w @ w.T + np.diag(noise[observed])
        r = row[observed] - mean[observed]
        assert_allclose(
            log_prob[i],
            multivariate_normal(mean[observed], cov).logpdf(row[observed]),
            rtol=1e-12,
        )
        posterior_mean = w.T @ np.linalg.solve(cov, r)
        posterior_cov = np.eye(q) - w.T @ np.linalg.solve(cov, w)
        assert_allclose(factors[i], posterior_mean, rtol=1e-10, atol=1e-12)
        z = np.append(posterior_mean, 1.0)
        second = np.outer(z, z)
        second[:q, :q] += posterior_cov
        for j in np.flatnonzero(observed):
            rj = row[j] - mean[j]
            sums[j] += rj * z
            moments[j] += second
            squares[j] += rj * rj
    stats = LowRankStats(mean, per_feature, shared)
    got = stats.moments()
    assert_allclose(got[0], sums, rtol=1e-10, atol=1e-10)
    assert_allclose(got[1], moments, rtol=1e-10, atol=1e-10)
    assert_allclose(got[2], squares, rtol=1e-10)
    assert_allclose(total, np.sum(log_prob), rtol=1e-12)


def test_packed_moments_unpack_symmetric():
    q = 3
    full = np.arange(16.0).reshape(4, 4)
    full = full + full.T
    rows, cols = np.triu_indices(q + 1)
    assert_array_equal(unpack(full[rows, cols], q), full)


@pytest.mark.parametrize("sparse", [False, True])
def test_the_bits_do_not_depend_on_the_thread_count(compiled, sparse):
    """Fixed blocks added in order: 1, 2 and 3 threads give the same bits, run after
    run (a race on a per-row variable once showed only now and then)."""
    X, params = problem(n_samples=3000, n_features=20, n_components=4, missing=0.4)
    data = as_csr(X) if sparse else X
    want = run(compiled.lowrank, data, params, n_threads=1)
    for _ in range(5):
        for n_threads in (2, 3):
            got = run(compiled.lowrank, data, params, n_threads=n_threads)
            for a, b in zip(got, want):
                assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


def test_empty_input_and_rows_observing_nothing(compiled):
    _, params = problem()
    d = params[0].shape[0]
    empty = run(compiled.lowrank, np.empty((0, d)), params)
    assert empty[0] == 0.0 and not empty[1].any() and not empty[2].any()
    holes = np.full((4, d), np.nan)
    for data in (holes, sp.csr_array((4, d))):
        total, per_feature, shared, log_prob, factors = run(
            compiled.lowrank, data, params
        )
        assert total == 0.0 and not per_feature.any() and not shared.any()
        assert not log_prob.any() and not factors.any()


def test_bad_arguments_are_refused_alike(compiled):
    X, params = problem()
    loadings, mean, noise = params
    d, q = loadings.shape
    bad_index = as_csr(X)
    bad_index.indices[3] = d
    cases = [
        ((X, loadings, mean, -noise), ValueError, "noise_variance must be positive"),
        ((X, loadings[:, :0], mean, noise), ValueError, "at least one component"),
        ((X, loadings.T.copy(), mean, noise), ValueError, "loadings must be"),
        ((X, loadings, mean[:-1], noise), ValueError, "mean must be"),
        ((X.tolist(), loadings, mean, noise), TypeError, "NumPy array"),
        ((sp.csc_array(as_csr(X)), loadings, mean, noise), TypeError, "CSR"),
        ((bad_index, loadings, mean, noise), ValueError, "column index outside"),
    ]
    for module in (compiled.lowrank, TWIN.lowrank):
        for (data, *parameters), error, message in cases:
            with pytest.raises(error, match=message):
                module.accumulate(
                    data,
                    None,
                    *parameters,
                    1,
                    np.empty((d, record_length(q))),
                    np.empty(packed_length(q)),
                )
        with pytest.raises(ValueError, match="n_threads must be at least 1"):
            module.score(X, *params, 0, np.empty(X.shape[0]), None)
        with pytest.raises(ValueError, match="factors must be"):
            module.score(X, *params, 1, None, np.empty((X.shape[0], q + 1)))
