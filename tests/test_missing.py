"""Missing values (NaN) handled by EM, per missingness pattern: checked against a
per-row reference, scipy.stats, closed-form conditionals, scipy.optimize, the twin,
and real data with real holes (palmerpenguins)."""

import dataclasses
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy import optimize
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning

from _builders import COVARIANCE_TYPES, RandomData, random_params, sample_mixture
from fastem import GaussianMixture, use_backend
from fastem._engine.patterns import MissingValueSource, group_patterns
from fastem._engine.sources import ArraySource
from fastem._families import gaussian as gm


def with_holes(X, fraction, seed=0):
    """A copy of X with ``fraction`` of its entries NaN, no row entirely NaN."""
    rng = np.random.default_rng(seed)
    X = np.array(X, dtype=np.float64)
    holes = rng.random(X.shape) < fraction
    empty = holes.all(axis=1)
    holes[empty, rng.integers(0, X.shape[1], size=empty.sum())] = False
    X[holes] = np.nan
    return X


def dense(gmm):
    """(K, d, d) covariance matrices of a fitted model."""
    K, d = gmm.means_.shape
    cov = np.asarray(gmm.covariances_, dtype=np.float64)
    if gmm.covariance_type == "full":
        return cov
    if gmm.covariance_type == "tied":
        return np.broadcast_to(cov, (K, d, d))
    if gmm.covariance_type == "diag":
        return np.stack([np.diag(c) for c in cov])
    return cov[:, None, None] * np.eye(d)


def oracle_rows(x, weights, means, covariances):
    """Per-row closed forms for one row with NaN, from scipy.stats.

    Returns log p(x_O), p(k | x_O) (K,), E[x | x_O, k] (K, d) and the conditional
    covariance of x given x_O and k embedded in d x d (zero on observed coordinates).
    """
    obs = ~np.isnan(x)
    mis = ~obs
    K, d = means.shape
    log_dens = np.array(
        [
            np.log(weights[k])
            + multivariate_normal(
                means[k][obs], covariances[k][np.ix_(obs, obs)]
            ).logpdf(x[obs])
            for k in range(K)
        ]
    )
    log_p = logsumexp(log_dens)
    expected = np.empty((K, d))
    conditional = np.zeros((K, d, d))
    for k in range(K):
        s_oo = covariances[k][np.ix_(obs, obs)]
        s_mo = covariances[k][np.ix_(mis, obs)]
        expected[k, obs] = x[obs]
        expected[k, mis] = means[k][mis] + s_mo @ np.linalg.solve(
            s_oo, x[obs] - means[k][obs]
        )
        conditional[k][np.ix_(mis, mis)] = covariances[k][
            np.ix_(mis, mis)
        ] - s_mo @ np.linalg.solve(s_oo, s_mo.T)
    return log_p, np.exp(log_dens - log_p), expected, conditional


def fitted_on(covariance_type, seed=0, n_features=3):
    data = RandomData(seed=seed, n_features=n_features)
    gmm = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    return gmm.fit(data.X[covariance_type]), data.X[covariance_type]


# --- per-pattern statistics vs a per-row reference -----------------------------------


def reference_stats(X, weight, means, covariances, covariance_type, log_weights):
    """Statistics of rows with NaN computed row by row from the closed forms."""
    K, d = means.shape
    nk, s1, s2_full, log_likelihood = np.zeros(K), np.zeros((K, d)), 0.0, 0.0
    s2_full = np.zeros((K, d, d))
    for x, w in zip(X, weight):
        log_p, resp, expected, conditional = oracle_rows(
            x, np.exp(log_weights), means, covariances
        )
        log_likelihood += w * log_p
        centred = expected - means
        nk += w * resp
        s1 += w * resp[:, None] * centred
        s2_full += (
            w
            * resp[:, None, None]
            * (np.einsum("ki,kj->kij", centred, centred) + conditional)
        )
    s2 = {
        "full": s2_full,
        "tied": s2_full.sum(axis=0),
        "diag": np.diagonal(s2_full, axis1=1, axis2=2),
        "spherical": np.trace(s2_full, axis1=1, axis2=2),
    }[covariance_type]
    return nk, s1, s2, log_likelihood


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_accumulate_matches_row_by_row_reference(covariance_type, backend):
    rng = np.random.default_rng(1)
    params = random_params(rng, 3, 4, covariance_type)
    X, _ = sample_mixture(rng, params, 120)
    X = with_holes(X, 0.35, seed=2)
    X[0, 0], X[0, 1:] = 0.3, np.nan  # all but one coordinate missing
    weight = rng.uniform(0.0, 2.0, size=len(X))
    source = MissingValueSource(X, np.isnan(X), weight)
    with use_backend(backend):
        stats = source.accumulate(params.frozen)
    nk, s1, s2, log_likelihood = reference_stats(
        X,
        weight,
        params.means,
        params.dense_covariances(),
        covariance_type,
        np.log(params.weights),
    )
    assert_allclose(stats.nk, nk, rtol=1e-10)
    assert_allclose(stats.s1, s1, rtol=1e-9, atol=1e-10)
    assert_allclose(stats.s2, s2, rtol=1e-9, atol=1e-10)
    assert_allclose(stats.log_likelihood, log_likelihood, rtol=1e-11)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_pattern_source_on_complete_rows_is_the_array_source(covariance_type):
    rng = np.random.default_rng(3)
    params = random_params(rng, 3, 3, covariance_type)
    X, _ = sample_mixture(rng, params, 300)
    got = MissingValueSource(X, np.zeros(X.shape, bool)).accumulate(params.frozen)
    want = ArraySource(X).accumulate(params.frozen)
    for name in ("nk", "s1", "s2", "log_likelihood"):
        assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-12)


def test_rows_are_grouped_by_pattern():
    missing = np.array(
        [[0, 1, 0], [0, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]], dtype=bool
    )
    patterns = {
        tuple(p.missing): (tuple(p.rows), tuple(p.observed))
        for p in group_patterns(missing)
    }
    assert patterns == {
        (): ((1, 4), (0, 1, 2)),
        (1,): ((0, 2), (0, 2)),
        (0, 1): ((3,), (2,)),
    }


# --- the estimator's methods vs scipy.stats -------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_methods_on_nan_match_scipy(covariance_type):
    gmm, X = fitted_on(covariance_type)
    X = with_holes(X[:60], 0.4, seed=4)
    X[5, -1], X[5, :-1] = 0.3, np.nan
    rows = [oracle_rows(x, gmm.weights_, gmm.means_, dense(gmm)) for x in X]
    log_p = np.array([row[0] for row in rows])
    resp = np.array([row[1] for row in rows])
    assert_allclose(gmm.score_samples(X), log_p, rtol=1e-11)
    assert_allclose(gmm.score(X), log_p.mean(), rtol=1e-11)
    assert_allclose(gmm.predict_proba(X), resp, rtol=1e-9, atol=1e-12)
    assert_array_equal(gmm.predict(X), resp.argmax(axis=1))
    n_params = gm.n_parameters(3, X.shape[1], covariance_type)
    assert_allclose(gmm.bic(X), -2 * log_p.sum() + n_params * np.log(60), rtol=1e-11)
    assert_allclose(gmm.aic(X), -2 * log_p.sum() + 2 * n_params, rtol=1e-11)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_impute_is_the_closed_form_conditional_expectation(covariance_type):
    gmm, X = fitted_on(covariance_type, n_features=4, seed=5)
    X = with_holes(X[:50], 0.5, seed=5)
    copy = X.copy()
    imputed = gmm.impute(X)
    assert_array_equal(X, copy)  # the caller's array is not written
    want = np.array(
        [
            np.einsum(
                "k,kd->d", *oracle_rows(x, gmm.weights_, gmm.means_, dense(gmm))[1:3]
            )
            for x in X
        ]
    )
    assert_allclose(imputed, want, rtol=1e-10, atol=1e-12)
    observed = ~np.isnan(X)
    assert_array_equal(imputed[observed], X[observed])


def test_impute_keeps_float32_and_complete_data():
    gmm, X = fitted_on("full")
    assert_array_equal(gmm.impute(X), X)
    holes = with_holes(X, 0.3).astype(np.float32)
    imputed = gmm.impute(holes)
    assert imputed.dtype == np.float32 and not np.isnan(imputed).any()


# --- fitting --------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_lower_bound_never_falls_and_is_the_observed_log_likelihood(covariance_type):
    data = RandomData(seed=6, n_features=3)
    X = with_holes(data.X[covariance_type], 0.3, seed=6)
    gmm = GaussianMixture(
        3,
        covariance_type=covariance_type,
        tol=0.0,
        max_iter=25,
        **data.initial_guess(covariance_type),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(X)
    bounds = np.array(gmm.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    # One more iteration's lower bound is the fitted model's observed log-likelihood.
    gmm.set_params(warm_start=True, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        score = gmm.score(X)
        gmm.fit(X)
    assert_allclose(gmm.lower_bound_, score, rtol=1e-12)


# 'tied' from one-row seeds or random responsibilities starts, as in scikit-learn, from
# the total scatter of X, and its components merge even on complete data: not tested.
@pytest.mark.parametrize(
    "init_params, covariance_type",
    [
        (init_params, covariance_type)
        for init_params in ("kmeans", "k-means++", "random", "random_from_data")
        for covariance_type in COVARIANCE_TYPES
        if covariance_type != "tied" or init_params == "kmeans"
    ],
)
def test_every_initialisation_recovers_separated_blobs(init_params, covariance_type):
    data = RandomData(seed=7, n_features=3, n_samples=600, spread=6.0)
    X = with_holes(data.X[covariance_type], 0.2, seed=7)
    gmm = GaussianMixture(
        3,
        covariance_type=covariance_type,
        init_params=init_params,
        n_init=3,
        random_state=0,
    ).fit(X)
    truth = data.params[covariance_type].means
    order = [np.argmin(np.linalg.norm(gmm.means_ - m, axis=1)) for m in truth]
    assert sorted(order) == [0, 1, 2]
    assert_allclose(gmm.means_[order], truth, atol=0.4)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    fraction=st.sampled_from([0.0, 0.1, 0.6]),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    n_features=st.integers(1, 5),
    float32=st.booleans(),
)
def test_kernels_and_twin_fit_the_same_model(
    seed, fraction, covariance_type, n_features, float32
):
    rng = np.random.default_rng(seed)
    params = random_params(rng, 2, n_features, covariance_type)
    X, _ = sample_mixture(rng, params, 80)
    X = with_holes(X, fraction, seed=seed)
    X[0, 0], X[0, 1:] = 0.3, np.nan  # all but one coordinate missing
    if float32:
        X = X.astype(np.float32)
    init = {
        "weights_init": params.weights,
        "means_init": params.means,
        "precisions_init": gm.precisions_from_cholesky(
            params.precisions_chol, covariance_type
        ),
    }
    fits = []
    for backend in ("cython", "numpy"):
        with use_backend(backend), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(
                GaussianMixture(
                    2, covariance_type=covariance_type, max_iter=5, tol=0.0, **init
                ).fit(X)
            )
    rtol = 1e-5 if float32 else 1e-9
    for name in ("weights_", "means_", "covariances_"):
        assert_allclose(
            getattr(fits[0], name), getattr(fits[1], name), rtol=rtol, atol=rtol
        )
    assert_allclose(fits[0].lower_bounds_, fits[1].lower_bounds_, rtol=1e-9)


def test_no_nan_is_the_complete_data_fit():
    X = RandomData(seed=8).X["full"]
    want = GaussianMixture(3, random_state=0).fit(X)
    got = GaussianMixture(3, random_state=0).fit(X.copy())
    for name in ("weights_", "means_", "covariances_", "lower_bounds_"):
        assert_array_equal(getattr(got, name), getattr(want, name))


def observed_neg_log_likelihood(theta, X, n_components):
    """-sum_n log p(x_n,O) of a d=2 full mixture, from unconstrained parameters
    (weight logits, then per component the mean and the log-Cholesky factor), by
    hand: the bivariate density on complete rows, a univariate one elsewhere."""
    logits = np.r_[0.0, theta[: n_components - 1]]
    log_weights = logits - logsumexp(logits)
    rest = theta[n_components - 1 :].reshape(n_components, 5)
    log_dens = np.empty((len(X), n_components))
    diffs = X[:, None, :] - rest[None, :, :2]  # (n, K, 2)
    l11, l21, l22 = np.exp(rest[:, 2]), rest[:, 3], np.exp(rest[:, 4])
    var = np.stack([l11**2, l21**2 + l22**2], axis=1)  # (K, 2)
    # Complete rows: z = L^{-1} (x - mu), log|Sigma| = 2 (log l11 + log l22).
    z1 = diffs[..., 0] / l11
    z2 = (diffs[..., 1] - l21 * z1) / l22
    complete = -0.5 * (z1**2 + z2**2) - rest[:, 2] - rest[:, 4] - np.log(2 * np.pi)
    single = -0.5 * (diffs**2 / var + np.log(2 * np.pi * var))  # (n, K, 2)
    observed = ~np.isnan(X)
    log_dens = np.where(
        observed.all(axis=1)[:, None],
        complete,
        np.where(observed[:, [0]], single[..., 0], single[..., 1]),
    )
    return -np.sum(logsumexp(log_dens + log_weights, axis=1))


def test_hand_written_likelihood_is_scipy_stats():
    X = with_holes(np.random.default_rng(0).normal(size=(30, 2)), 0.3)
    theta = np.array([0.3, 0.1, -0.2, 0.2, 0.5, -0.1, 1.0, 0.5, -0.3, 0.1, 0.4])
    rest = theta[1:].reshape(2, 5)
    weights = np.exp(np.r_[0.0, theta[0]] - logsumexp(np.r_[0.0, theta[0]]))
    covariances = []
    for k in range(2):
        chol = np.array([[np.exp(rest[k, 2]), 0.0], [rest[k, 3], np.exp(rest[k, 4])]])
        covariances.append(chol @ chol.T)
    want = sum(
        oracle_rows(x, weights, rest[:, :2], np.array(covariances))[0] for x in X
    )
    assert_allclose(-observed_neg_log_likelihood(theta, X, 2), want, rtol=1e-12)


@pytest.mark.parametrize("n_components", [1, 2])
def test_fit_reaches_the_scipy_optimize_maximum(n_components):
    rng = np.random.default_rng(9)
    X = np.vstack(
        [
            rng.multivariate_normal([0, 0], [[1, 0.6], [0.6, 1]], size=20),
            rng.multivariate_normal([4, 3], [[0.5, -0.2], [-0.2, 0.8]], size=20),
        ][:n_components]
    )
    X = with_holes(X, 0.3, seed=9)
    best = np.inf
    for _ in range(4):  # starts
        means = X[rng.choice(len(X), n_components)]
        theta0 = np.r_[
            np.zeros(n_components - 1),
            np.column_stack(
                [np.where(np.isnan(means), 0.0, means), np.zeros((n_components, 3))]
            ).reshape(-1),
        ]
        result = optimize.minimize(
            observed_neg_log_likelihood,
            theta0,
            args=(X, n_components),
            method="BFGS",
            options={"gtol": 1e-7},
        )
        best = min(best, result.fun)
    gmm = GaussianMixture(
        n_components, reg_covar=0.0, tol=1e-12, max_iter=5000, n_init=4, random_state=0
    ).fit(X)
    fastem_value = gmm.score(X) * len(X)
    assert fastem_value >= -best - 1e-6
    assert fastem_value == pytest.approx(-best, abs=1e-4)


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_rows_with_nothing_observed_add_nothing_and_get_the_prior_answer(
    covariance_type,
):
    gmm, X = fitted_on(covariance_type)
    X = with_holes(X, 0.2)
    empty = [4, 17, 30]
    X_empty = X.copy()
    X_empty[empty] = np.nan
    kept = np.setdiff1d(np.arange(len(X)), empty)
    start = {
        "weights_init": gmm.weights_,
        "means_init": gmm.means_,
        "precisions_init": gmm.precisions_,
    }
    params = dict(covariance_type=covariance_type, max_iter=5, tol=0, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with_empty = GaussianMixture(len(gmm.weights_), **params).fit(X_empty)
        without = GaussianMixture(len(gmm.weights_), **params).fit(X_empty[kept])
    # Nothing added to the statistics; the lower bound is per row of X.
    for name in ("weights_", "means_", "covariances_"):
        assert_allclose(getattr(with_empty, name), getattr(without, name), rtol=1e-10)
    assert_allclose(
        with_empty.lower_bounds_,
        np.array(without.lower_bounds_) * len(kept) / len(X),
        rtol=1e-12,
    )
    # The answer without observations: p = 1, the weights, the mixture's mean.
    assert_array_equal(with_empty.score_samples(X_empty)[empty], 0.0)
    assert_allclose(
        with_empty.predict_proba(X_empty)[empty],
        np.tile(with_empty.weights_, (3, 1)),
        rtol=1e-14,
    )
    assert_array_equal(
        with_empty.predict(X_empty)[empty], np.argmax(with_empty.weights_)
    )
    assert_allclose(
        with_empty.impute(X_empty)[empty],
        np.tile(with_empty.weights_ @ with_empty.means_, (3, 1)),
        rtol=1e-12,
    )


def test_empty_columns_raise_in_fit_only():
    gmm, X = fitted_on("full")
    X = X.copy()
    X[:, 1] = np.nan
    with pytest.raises(ValueError, match="Column 1 of X is entirely NaN"):
        GaussianMixture(2).fit(X)
    # A fitted model scores such rows by their marginal on the other columns.
    want = [oracle_rows(x, gmm.weights_, gmm.means_, dense(gmm))[0] for x in X[:20]]
    assert_allclose(gmm.score_samples(X[:20]), want, rtol=1e-11)
    assert not np.isnan(gmm.impute(X)).any()


def test_infinity_raises():
    gmm, X = fitted_on("diag")
    X = with_holes(X, 0.2)
    X[3, 0] = -np.inf
    for method in (gmm.fit, gmm.score_samples, gmm.impute):
        with pytest.raises(ValueError, match="infinity"):
            method(X)


def test_fit_does_not_write_x():
    X = with_holes(RandomData(seed=10).X["full"], 0.3)
    copy = X.copy()
    X.setflags(write=False)
    GaussianMixture(3, random_state=0).fit(X).impute(X)
    assert_array_equal(X, copy)


# --- real data with real holes --------------------------------------------------------


def test_palmerpenguins_fitted_with_its_holes():
    palmerpenguins = pytest.importorskip("palmerpenguins")
    frame = palmerpenguins.load_penguins().select_dtypes("number")
    measures = frame.drop(columns="year").to_numpy()
    # Rows 3 and 271 have no measurement at all: the mixture's mean fills them.
    empty = np.isnan(measures).all(axis=1)
    assert np.flatnonzero(empty).tolist() == [3, 271]
    model = GaussianMixture(3, random_state=0).fit(measures)
    assert_allclose(
        model.impute(measures)[empty], np.tile(model.weights_ @ model.means_, (2, 1))
    )
    X = frame.to_numpy()
    X = (X - np.nanmean(X, axis=0)) / np.nanstd(X, axis=0)
    assert np.isnan(X).sum() == 8
    gmm = GaussianMixture(3, n_init=3, random_state=0).fit(X)
    assert gmm.converged_
    bounds = np.array(gmm.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    holes = np.isnan(X).any(axis=1)
    want = [oracle_rows(x, gmm.weights_, gmm.means_, dense(gmm))[0] for x in X[holes]]
    assert_allclose(gmm.score_samples(X)[holes], want, rtol=1e-11)
    # The two rows with only the year observed are imputed. EM started from a fit of
    # the complete rows explains the data with holes better than that fit does.
    assert not np.isnan(gmm.impute(X)).any()
    complete = GaussianMixture(3, random_state=1).fit(X[~holes])
    refit = GaussianMixture(
        3,
        weights_init=complete.weights_,
        means_init=complete.means_,
        precisions_init=complete.precisions_,
    ).fit(X)
    assert refit.score(X) > complete.score(X)


# --- threads --------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_results_do_not_depend_on_threads(covariance_type):
    """Patterns run on as many kernel threads as their rows keep busy (small ones on
    one); the sums, added in pattern order, are the same bits for 1, 2 or 4."""
    rng = np.random.default_rng(11)
    params = random_params(rng, 4, 5, covariance_type)
    X, _ = sample_mixture(rng, params, 3000)
    X = with_holes(X, 0.3, seed=11)
    results = []
    for n_threads in (1, 2, 4):
        source = MissingValueSource(X, np.isnan(X))
        source.n_threads = n_threads
        stats = source.accumulate(params.frozen)
        scores = source.score(params.frozen, resp=True, labels=True)
        results.append((stats.nk, stats.s1, stats.s2, stats.log_likelihood, *scores))
    for other in results[1:]:
        for got, want in zip(other, results[0]):
            assert_array_equal(got, want)


def test_blas_threads_are_restored_after_scoring():
    """The baseline kernels call BLAS from d = BLAS_MIN_FEATURES on: the patterns'
    kernel calls run under one limit, and the caller's BLAS setting comes back."""
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [
            info["num_threads"]
            for info in threadpool_info()
            if info["user_api"] == "blas"
        ]

    before = blas_threads()
    rng = np.random.default_rng(12)
    X = with_holes(rng.normal(size=(600, 12)), 0.1, seed=12)
    with use_backend("cython-baseline"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm = GaussianMixture(2, max_iter=2, random_state=0).fit(X)
        assert blas_threads() == before
        gmm.score_samples(X)
    assert blas_threads() == before


# --- all patterns in one pass --------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_features", [3, 9])
def test_batched_pass_is_the_pattern_by_pattern_pass(
    n_features, covariance_type, dtype, monkeypatch
):
    """The padded marginals of every pattern in one kernel call, lifted together,
    give the statistics of the marginal / gather / kernel / lift pass of each pattern
    in turn, to rounding (1e-12 of the largest entry)."""
    from fastem._engine.model import FrozenModel
    from fastem._families.gaussian_frozen import FrozenGaussianMixture

    rng = np.random.default_rng(5)
    params = random_params(rng, 3, n_features, covariance_type, centre=50.0)
    X, _ = sample_mixture(rng, params, 2000)
    X = with_holes(X, 0.3, seed=5).astype(dtype)
    X[:4] = np.nan  # nothing observed: adds nothing either way
    weight = rng.uniform(0.0, 2.0, size=len(X))
    source = MissingValueSource(X, np.isnan(X), weight)
    batched = source.accumulate(params.frozen)
    monkeypatch.setattr(
        FrozenGaussianMixture, "accumulate_patterns", FrozenModel.accumulate_patterns
    )
    by_pattern = source.accumulate(params.frozen)
    for name in ("nk", "s1", "s2"):
        want = getattr(by_pattern, name)
        assert_allclose(
            getattr(batched, name), want, rtol=1e-12, atol=1e-12 * np.max(np.abs(want))
        )
    assert_allclose(batched.log_likelihood, by_pattern.log_likelihood, rtol=1e-13)
    assert_array_equal(batched.shift, by_pattern.shift)


def test_batched_pass_names_reg_covar_for_a_singular_marginal():
    rng = np.random.default_rng(6)
    params = random_params(rng, 2, 3, "full")
    covariances = params.dense_covariances().copy()
    covariances[0, 0, 1] = covariances[0, 1, 0] = np.sqrt(
        covariances[0, 0, 0] * covariances[0, 1, 1]
    ) * (1.0 + 1e-3)  # Sigma_{01,01} of component 0 indefinite, Sigma itself too
    X, _ = sample_mixture(rng, params, 50)
    X[:10, 2] = np.nan
    frozen = dataclasses.replace(params.frozen)
    frozen.__dict__["covariances"] = covariances  # the marginals' cached property
    with pytest.raises(ValueError, match="reg_covar"):
        MissingValueSource(X, np.isnan(X)).accumulate(frozen)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_marginals_built_together_are_each_patterns_marginal(covariance_type):
    """The marginals cut from the padded ones (scores, imputation) equal those built
    one pattern at a time, to rounding."""
    rng = np.random.default_rng(9)
    params = random_params(rng, 3, 5, covariance_type)
    X, _ = sample_mixture(rng, params, 300)
    X = with_holes(X, 0.4, seed=9)
    X[0] = np.nan
    patterns = group_patterns(np.isnan(X))
    model = params.frozen
    together = model.marginals(patterns)
    for pattern, marginal in zip(patterns, together):
        if len(pattern.missing) == 0:
            assert marginal is model
            continue
        alone = model.marginal(pattern.observed, pattern.missing)
        for name in (
            "means",
            "precisions_chol",
            "log_norm",
            "regression",
            "conditional",
        ):
            want = getattr(alone, name)
            if want is None:
                assert getattr(marginal, name) is None
                continue
            assert_allclose(getattr(marginal, name), want, rtol=1e-12, atol=1e-12)
        assert_array_equal(marginal.observed, pattern.observed)
        assert_array_equal(marginal.missing, pattern.missing)


def test_patterns_in_batches_add_up(monkeypatch):
    """Padded marginals are built a bounded number of patterns at a time; one
    pattern per batch gives the statistics and marginals of one batch for all."""
    from fastem._families import gaussian_frozen

    rng = np.random.default_rng(10)
    params = random_params(rng, 3, 4, "full")
    X, _ = sample_mixture(rng, params, 500)
    X = with_holes(X, 0.3, seed=10)
    source = MissingValueSource(X, np.isnan(X))
    model = params.frozen
    together = source.accumulate(model)
    scores = source.score(model, resp=True)
    monkeypatch.setattr(gaussian_frozen, "PADDED_BYTES", 1)
    assert model.patterns_per_batch == 1
    apart = source.accumulate(model)
    for name in ("nk", "s1", "s2", "log_likelihood"):
        want = getattr(together, name)
        assert_allclose(
            getattr(apart, name), want, rtol=1e-13, atol=1e-13 * np.max(np.abs(want))
        )
    for got, want in zip(source.score(model, resp=True)[:2], scores[:2]):
        assert_allclose(got, want, rtol=1e-13)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_batched_scores_are_the_pattern_by_pattern_scores(covariance_type, monkeypatch):
    """Scores of all patterns in one kernel call (rows with nothing observed still
    get the prior's answer) equal the pattern-by-pattern scores to rounding."""
    from fastem._engine.model import FrozenModel
    from fastem._families.gaussian_frozen import FrozenGaussianMixture

    rng = np.random.default_rng(12)
    params = random_params(rng, 3, 5, covariance_type, centre=30.0)
    X, _ = sample_mixture(rng, params, 1500)
    X = with_holes(X, 0.3, seed=12)
    X[:3] = np.nan
    source = MissingValueSource(X, np.isnan(X))
    model = params.frozen
    batched = source.score(model, resp=True, labels=True)
    monkeypatch.setattr(
        FrozenGaussianMixture, "score_patterns", FrozenModel.score_patterns
    )
    by_pattern = source.score(model, resp=True, labels=True)
    assert_allclose(batched[0], by_pattern[0], rtol=1e-12)
    assert_allclose(batched[1], by_pattern[1], rtol=1e-10, atol=1e-13)
    assert_array_equal(batched[2], by_pattern[2])
    assert_allclose(batched[1][:3], np.broadcast_to(params.weights, (3, 3)))
