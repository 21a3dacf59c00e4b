"""GaussianMixtureImputer: a scikit-learn transformer filling NaN from the mixture."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastem
from _builders import RandomData
from fastem import GaussianMixture, GaussianMixtureImputer


def holed(seed=0, fraction=0.3):
    data = RandomData(seed=seed, n_features=3, n_samples=300)
    X = data.X["full"].copy()
    rng = np.random.default_rng(seed)
    holes = rng.random(X.shape) < fraction
    holes[holes.all(axis=1), 0] = False
    X[holes] = np.nan
    return X, data.labels["full"]


@parametrize_with_checks(
    [
        GaussianMixtureImputer(n_init=2, max_iter=5),
        GaussianMixtureImputer(
            covariance_type="diag", max_iter=5, sample_posterior=True, random_state=0
        ),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_transform_is_the_mixture_impute():
    X, _ = holed()
    imputer = GaussianMixtureImputer(3, random_state=0).fit(X)
    model = GaussianMixture(3, random_state=0).fit(X)
    assert_array_equal(imputer.transform(X), model.impute(X))
    assert_array_equal(imputer.mixture_.means_, model.means_)
    assert not np.isnan(imputer.transform(X)).any()


def test_works_in_a_pipeline_before_a_model():
    X, y = holed(seed=1)
    pipeline = make_pipeline(
        GaussianMixtureImputer(3, random_state=0), LogisticRegression()
    )
    assert pipeline.fit(X, y).score(X, y) > 0.9
    assert_array_equal(pipeline[0].get_feature_names_out(), ["x0", "x1", "x2"])


def test_sample_posterior_draws_around_the_conditional_expectation():
    X, _ = holed(seed=2)
    imputer = GaussianMixtureImputer(
        3, sample_posterior=True, random_state=0, covariance_type="full"
    ).fit(X)
    row = np.array([[X[~np.isnan(X).any(axis=1)][0, 0], np.nan, np.nan]])
    draws = np.vstack([imputer.transform(np.repeat(row, 500, axis=0))])
    assert_array_equal(draws[:, 0], row[0, 0])  # observed values pass through
    expected = imputer.mixture_.impute(row)[0]
    spread = draws.std(axis=0)
    assert np.all(spread[1:] > 0)
    # The mean of 500 draws is within 5 standard errors of E[x_M | x_O].
    assert np.all(np.abs(draws.mean(axis=0) - expected)[1:] < 5 * spread[1:] / 22)
    # Reproducible from random_state; successive transforms draw anew.
    again = clone(imputer).fit(X)
    assert_array_equal(again.transform(np.repeat(row, 500, axis=0)), draws)
    assert not np.array_equal(imputer.transform(np.repeat(row, 500, axis=0)), draws)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_draws_have_the_conditional_covariance(covariance_type):
    """One component: the draws' covariance is the conditional one, Sigma_MM -
    Sigma_MO Sigma_OO^-1 Sigma_OM."""
    rng = np.random.default_rng(3)
    X = rng.multivariate_normal(
        [0.0, 1.0, 2.0], [[1.0, 0.5, 0.2], [0.5, 2.0, 0.3], [0.2, 0.3, 1.5]], 400
    )
    imputer = GaussianMixtureImputer(
        1, covariance_type=covariance_type, sample_posterior=True, random_state=0
    ).fit(X)
    sigma = imputer.mixture_.covariances_
    sigma = {
        "full": lambda: sigma[0],
        "tied": lambda: sigma,
        "diag": lambda: np.diag(sigma[0]),
        "spherical": lambda: sigma[0] * np.eye(3),
    }[covariance_type]()
    row = np.array([[0.7, np.nan, np.nan]])
    draws = imputer.transform(np.repeat(row, 20000, axis=0))[:, 1:]
    want = sigma[1:, 1:] - np.outer(sigma[1:, 0], sigma[0, 1:]) / sigma[0, 0]
    assert_allclose(np.cov(draws.T), want, atol=0.06)


def test_weights_reach_the_mixture():
    X, _ = holed(seed=4)
    weight = np.random.default_rng(4).uniform(size=len(X))
    imputer = GaussianMixtureImputer(3, random_state=0).fit(X, sample_weight=weight)
    model = GaussianMixture(3, random_state=0).fit(X, sample_weight=weight)
    assert_array_equal(imputer.mixture_.means_, model.means_)


def test_a_saved_imputer_loads_and_draws_from_its_random_state(tmp_path):
    X, _ = holed(seed=9, fraction=0.2)
    imputer = GaussianMixtureImputer(2, sample_posterior=True, random_state=5).fit(X)
    imputer.save(tmp_path / "imputer.npz")
    loaded = fastem.load(tmp_path / "imputer.npz")
    assert_array_equal(loaded.mixture_.means_, imputer.mixture_.means_)
    fresh = GaussianMixtureImputer(2, sample_posterior=True, random_state=5).fit(X)
    assert_array_equal(loaded.transform(X), fresh.transform(X))
