"""sample_weight in fit, fit_predict and score: integer weights are repeated rows, zero
weights are absent rows, in every initialisation and covariance type."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from _builders import COVARIANCE_TYPES, RandomData
from fastem import GaussianMixture
from fastem._families import gaussian as gm

FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def fitted(X, covariance_type, sample_weight=None, **params):
    """A fit of a fixed number of iterations from the same initial parameters."""
    data = RandomData(seed=3)
    params = {**data.initial_guess(covariance_type), **params}
    gmm = GaussianMixture(3, covariance_type=covariance_type, tol=0.0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gmm.fit(X, sample_weight=sample_weight)


def assert_same_model(got, want, rtol=1e-10):
    for name in FITTED:
        assert_allclose(
            getattr(got, name), getattr(want, name), rtol=rtol, err_msg=name
        )
    assert_allclose(got.lower_bounds_, want.lower_bounds_, rtol=rtol)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("with_nan", [False, True])
def test_integer_weights_are_repeated_rows(covariance_type, with_nan):
    rng = np.random.default_rng(0)
    X = RandomData(seed=3).X[covariance_type]
    if with_nan:
        X = X.copy()
        X[rng.random(X.shape) < 0.2] = np.nan
        X[np.isnan(X).all(axis=1), 0] = 0.5
    counts = rng.integers(0, 4, size=len(X))
    got = fitted(X, covariance_type, sample_weight=counts, max_iter=15)
    want = fitted(np.repeat(X, counts, axis=0), covariance_type, max_iter=15)
    assert_same_model(got, want)
    # score weighs rows likewise.
    assert_allclose(
        got.score(X, sample_weight=counts),
        want.score(np.repeat(X, counts, axis=0)),
        rtol=1e-12,
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_zero_weights_are_absent_rows(covariance_type):
    rng = np.random.default_rng(1)
    X = RandomData(seed=3).X[covariance_type]
    weight = rng.uniform(0.5, 2.0, size=len(X))
    weight[rng.random(len(X)) < 0.3] = 0.0
    got = fitted(X, covariance_type, sample_weight=weight, max_iter=15)
    want = fitted(X[weight > 0], covariance_type, weight[weight > 0], max_iter=15)
    assert_same_model(got, want)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_weighted_initial_statistics_are_repeated_rows(covariance_type):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 3))
    counts = rng.integers(0, 3, size=60)
    labels = rng.integers(-1, 4, size=60)
    got = gm.stats_from_labels(X, labels, 4, covariance_type, counts.astype(float))
    want = gm.stats_from_labels(
        np.repeat(X, counts, axis=0), np.repeat(labels, counts), 4, covariance_type
    )
    got_params = gm.maximize(got, covariance_type, 0.0, 0.0)
    want_params = gm.maximize(want, covariance_type, 0.0, 0.0)
    for got_value, want_value in zip(got_params, want_params):
        assert_allclose(got_value, want_value, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "init_params", ["kmeans", "k-means++", "random", "random_from_data"]
)
def test_initialisations_ignore_zero_weight_rows(init_params):
    """A blob of zero weight far away takes no component and no mass."""
    X = RandomData(seed=4, n_components=2).X["full"]
    far = X[:50] + 1e3
    weight = np.r_[np.ones(len(X)), np.zeros(len(far))]
    gmm = GaussianMixture(2, init_params=init_params, max_iter=0, random_state=0).fit(
        np.vstack([X, far]), sample_weight=weight
    )
    assert np.all(np.abs(gmm.means_) < 50), gmm.means_


def test_random_from_data_draws_rows_of_positive_weight():
    X = np.arange(40.0).reshape(20, 2)
    weight = np.zeros(20)
    weight[[2, 11, 17]] = 1.0
    gmm = GaussianMixture(3, init_params="random_from_data", max_iter=0).fit(
        X, sample_weight=weight
    )
    assert_allclose(np.sort(gmm.means_, axis=0), X[[2, 11, 17]], rtol=1e-12)


def test_score_is_the_weighted_mean():
    X = RandomData(seed=5).X["diag"]
    weight = np.random.default_rng(5).uniform(0.0, 3.0, size=len(X))
    gmm = GaussianMixture(3, random_state=0).fit(X, sample_weight=weight)
    assert_allclose(
        gmm.score(X, sample_weight=weight),
        np.sum(weight * gmm.score_samples(X)) / np.sum(weight),
        rtol=1e-12,
    )
    assert gmm.score(X, sample_weight=None) == pytest.approx(
        np.mean(gmm.score_samples(X)), rel=1e-12
    )


def test_fit_predict_with_weights_is_fit_then_predict():
    X = RandomData(seed=6).X["tied"]
    weight = np.random.default_rng(6).uniform(0.0, 3.0, size=len(X))
    params = {"n_components": 3, "random_state": 0, "max_iter": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = GaussianMixture(**params).fit_predict(X, sample_weight=weight)
        model = GaussianMixture(**params).fit(X, sample_weight=weight)
    assert_array_equal(labels, model.predict(X))


@pytest.mark.parametrize(
    "weight, match",
    [
        (-np.ones(20), "Negative values in data passed to .sample_weight"),
        (np.r_[np.nan, np.ones(19)], "Input sample_weight contains NaN"),
        (np.r_[np.inf, np.ones(19)], "Input sample_weight contains infinity"),
        (np.ones(19), r"sample_weight.shape == \(19,\), expected \(20,\)"),
        (np.zeros(20), "Sample weights must contain at least one non-zero number"),
        (np.r_[np.ones(2), np.zeros(18)], "rows of positive weight"),
    ],
)
def test_bad_weights_raise(weight, match):
    X = RandomData(seed=7).X["full"][:20]
    with pytest.raises(ValueError, match=match):
        GaussianMixture(3).fit(X, sample_weight=weight)


def test_bad_weights_in_score_raise():
    X = RandomData(seed=7).X["full"][:20]
    gmm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="Negative values"):
        gmm.score(X, sample_weight=-np.ones(20))


def test_weights_are_not_written():
    X = RandomData(seed=8).X["full"]
    weight = np.random.default_rng(8).uniform(size=len(X))
    copy = weight.copy()
    weight.setflags(write=False)
    GaussianMixture(3, random_state=0).fit(X, sample_weight=weight)
    assert_array_equal(weight, copy)


@pytest.mark.parametrize("scale", [1e305, 1e306])
def test_weights_too_large_to_sum_are_refused_clearly(scale):
    X = RandomData(seed=2, n_samples=100).X["full"]
    with pytest.raises(ValueError, match="sample_weight sums to .* would overflow"):
        GaussianMixture(2, random_state=0).fit(X, sample_weight=np.full(100, scale))
    # Scaled down, the same relative weights fit: the fit does not depend on scale.
    model = GaussianMixture(2, random_state=0).fit(X, sample_weight=np.full(100, 1e3))
    unit = GaussianMixture(2, random_state=0).fit(X)
    assert np.isfinite(model.lower_bound_)
    assert_allclose(model.means_, unit.means_, rtol=1e-10)
