"""Numerics that recover instead of crashing: re-seeding of degenerate components,
float32 far from the origin, data at extreme scales, and degenerate data thrown at
fit by hypothesis (finite parameters or a clear ValueError, never NaN).
"""

import math
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from _builders import COVARIANCE_TYPES, FITTED_ARRAYS
from fastem import DegenerateComponentWarning, GaussianMixture

ignore_convergence = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)

# The messages a fit on degenerate data may end with.
CLEAR_ERRORS = re.compile("reg_covar|Rescale X|Convert X to float64")

CENTRES = np.array([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0]])


def three_blobs(seed=0, n_per_blob=100):
    rng = np.random.default_rng(seed)
    return np.vstack([c + rng.normal(size=(n_per_blob, 2)) for c in CENTRES])


def sorted_means(gmm):
    return gmm.means_[np.lexsort(gmm.means_.T[::-1])]


# --- on_degenerate --------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_empty_component_is_reseeded_and_the_fit_recovers(covariance_type):
    """A component started far from the data gets no mass: ML dies, re-seeding moves
    it to the blob the other two explain worst."""
    X = three_blobs()
    params = dict(
        n_components=3,
        covariance_type=covariance_type,
        reg_covar=0,
        means_init=[CENTRES[0], CENTRES[1], [1e3, 1e3]],
        random_state=0,
    )
    if covariance_type != "tied":  # a tied covariance survives an empty component
        with pytest.raises(ValueError, match="reg_covar"):
            GaussianMixture(**params).fit(X)

    with pytest.warns(DegenerateComponentWarning, match="^1 degenerate component"):
        gmm = GaussianMixture(on_degenerate="reseed", **params).fit(X)

    assert gmm.n_reseeds_ == 1
    assert gmm.converged_
    assert_allclose(sorted_means(gmm), CENTRES[np.lexsort(CENTRES.T[::-1])], atol=0.3)
    good_start = GaussianMixture(**{**params, "means_init": CENTRES}).fit(X)
    assert_allclose(gmm.lower_bound_, good_start.lower_bound_, rtol=1e-6)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_collapsed_covariance_is_reseeded(covariance_type):
    """A component on three duplicates of one row has zero covariance."""
    X = np.vstack([three_blobs(1), np.repeat([[30.0, 30.0]], 3, axis=0)])
    params = dict(
        n_components=4,
        covariance_type=covariance_type,
        reg_covar=0,
        means_init=np.vstack([CENTRES, [[30.0, 30.0]]]),
        max_iter=30,
        random_state=0,
    )
    if covariance_type == "full":  # others keep a variance of ~(eps * 30)^2
        with pytest.raises(ValueError, match="reg_covar"):
            GaussianMixture(**params).fit(X)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gmm = GaussianMixture(on_degenerate="reseed", **params).fit(X)

    reseed_warnings = [
        w for w in caught if issubclass(w.category, DegenerateComponentWarning)
    ]
    assert len(reseed_warnings) == 1
    assert str(reseed_warnings[0].message).startswith(f"{gmm.n_reseeds_} degenerate")
    assert gmm.n_reseeds_ >= 1
    for name in FITTED_ARRAYS:
        assert np.all(np.isfinite(getattr(gmm, name))), name
    assert np.all(np.isfinite(gmm.score_samples(X)))


@ignore_convergence
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_reseed_changes_nothing_when_nothing_degenerates(covariance_type):
    X = three_blobs(2)
    params = dict(n_components=3, covariance_type=covariance_type, random_state=0)

    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateComponentWarning)
        reseeding = GaussianMixture(on_degenerate="reseed", **params).fit(X)
    raising = GaussianMixture(**params).fit(X)

    for name in FITTED_ARRAYS:
        assert_array_equal(getattr(reseeding, name), getattr(raising, name))
    assert reseeding.n_reseeds_ == raising.n_reseeds_ == 0


@ignore_convergence  # KMeans finds fewer distinct clusters than components
def test_reseed_still_raises_when_every_component_collapses():
    X = np.vstack([np.ones((5, 5)), np.zeros((5, 5))])
    gmm = GaussianMixture(10, reg_covar=0, on_degenerate="reseed", random_state=0)
    with pytest.raises(ValueError, match="reg_covar"):
        gmm.fit(X)


# --- float32 and extreme scales -------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_far_from_the_origin_matches_float64_from_the_default_start(
    covariance_type,
):
    """scikit-learn issue #30382, with fastem's own k-means start on float32 data."""
    X = three_blobs(3) + 1e4
    params = dict(n_components=3, covariance_type=covariance_type, random_state=0)

    exact = GaussianMixture(**params).fit(X)
    got = GaussianMixture(**params).fit(X.astype(np.float32))

    assert abs(got.lower_bound_ / exact.lower_bound_ - 1.0) < 1e-4
    assert_allclose(sorted_means(got), sorted_means(exact), rtol=1e-6)


@pytest.mark.parametrize("scale", [1e-150, 1e-40, 1e40, 1e150])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_extreme_scales_fit_like_unit_scale(covariance_type, scale):
    """Parameters scale as they should; the log-likelihood shifts by -d log(scale)."""
    X = three_blobs(4)
    params = dict(n_components=3, covariance_type=covariance_type, random_state=0)
    unit = GaussianMixture(reg_covar=0, **params).fit(X)

    gmm = GaussianMixture(reg_covar=0, **params).fit(X * scale)

    n_features = X.shape[1]
    assert_allclose(sorted_means(gmm) / scale, sorted_means(unit), rtol=1e-5)
    assert_allclose(
        np.sort(gmm.covariances_.ravel()) / scale**2,
        np.sort(unit.covariances_.ravel()),
        rtol=1e-4,
    )
    assert_allclose(
        gmm.lower_bound_, unit.lower_bound_ - n_features * math.log(scale), rtol=1e-6
    )
    assert_allclose(gmm.score(X * scale), gmm.lower_bound_, rtol=1e-3)
    assert_array_equal(gmm.predict(X * scale), gmm.fit_predict(X * scale))
    for name in FITTED_ARRAYS:
        assert np.all(np.isfinite(getattr(gmm, name))), name


def test_extreme_scales_with_a_prior_and_given_start():
    """User-given starts and prior hyperparameters are in the user's units."""
    X = three_blobs(5)
    scale = 2.0**-400
    start = dict(weights_init=np.full(3, 1 / 3), reg_covar=0, covariance_type="diag")
    unit = GaussianMixture(
        3,
        prior=dict(mean_prior=[1.0, 1.0], covariance_prior=[0.5, 2.0]),
        means_init=CENTRES,
        precisions_init=np.ones((3, 2)),
        **start,
    ).fit(X)

    gmm = GaussianMixture(
        3,
        prior=dict(
            mean_prior=[scale, scale], covariance_prior=[0.5 * scale**2, 2 * scale**2]
        ),
        means_init=CENTRES * scale,
        precisions_init=np.ones((3, 2)) / scale**2,
        **start,
    ).fit(X * scale)

    assert_allclose(gmm.means_, unit.means_ * scale, rtol=1e-10)
    assert_allclose(gmm.covariances_, unit.covariances_ * scale**2, rtol=1e-10)
    # The prior's density changes units too: 2 log(scale) per mean coordinate and
    # 2 per variance, over the 300 rows.
    n_mean, n_variance = 6, 6
    shift = math.log(scale) * (2 + (n_mean + 2 * n_variance) / len(X))
    assert_allclose(gmm.lower_bound_, unit.lower_bound_ - shift, rtol=1e-10)


@pytest.mark.parametrize(
    "scale, dtype, message",
    [
        (1e-300, np.float64, "Rescale X"),
        (1e300, np.float64, "Rescale X"),
        (1e25, np.float32, "Convert X to float64"),
        (1e-25, np.float32, "Convert X to float64"),
    ],
)
def test_unrepresentable_scales_raise_clear_errors(scale, dtype, message):
    X = (three_blobs(6) * scale).astype(dtype)
    with pytest.raises(ValueError, match=message):
        GaussianMixture(3, random_state=0).fit(X)


# --- degenerate data: finite parameters or a clear error ------------------------------


@st.composite
def degenerate_problems(draw):
    """Small data sets with the troubles EM users meet, and a model for them."""
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    n_samples = draw(st.integers(2, 25))
    n_features = draw(st.integers(1, 6))  # often d > n_samples / K
    X = rng.normal(size=(n_samples, n_features))
    if draw(st.booleans()):  # duplicate rows
        distinct = draw(st.integers(1, n_samples))
        X = X[rng.integers(0, distinct, size=n_samples)]
    if draw(st.booleans()):  # constant columns
        X[:, rng.random(n_features) < 0.5] = draw(st.sampled_from([0.0, 3.0, -1e4]))
    X = X * draw(st.sampled_from([1.0, 1e-150, 1e-20, 1e20, 1e150]))
    X = X + draw(st.sampled_from([0.0, 1e4]))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    model = dict(
        n_components=draw(st.integers(1, min(4, n_samples))),
        covariance_type=draw(st.sampled_from(COVARIANCE_TYPES)),
        reg_covar=draw(st.sampled_from([0.0, 1e-6])),
        init_params=draw(st.sampled_from(["kmeans", "k-means++", "random"])),
        prior=draw(st.sampled_from([None, "default"])),
        on_degenerate=draw(st.sampled_from(["raise", "reseed"])),
        max_iter=20,
        random_state=seed,
    )
    if np.max(np.abs(X)) > 1e30:  # beyond float32
        dtype = np.float64
    return X.astype(dtype), model


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=degenerate_problems())
def test_degenerate_data_gives_finite_parameters_or_a_value_error(problem):
    X, model = problem
    X_before = X.copy()
    gmm = GaussianMixture(**model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            labels = gmm.fit_predict(X)
        except ValueError as error:
            assert CLEAR_ERRORS.search(str(error)), error
            return
        finally:
            assert_array_equal(X, X_before)
        scores = gmm.score_samples(X)
    for name in FITTED_ARRAYS:
        assert np.all(np.isfinite(getattr(gmm, name))), name
    assert np.isfinite(gmm.lower_bound_)
    assert_allclose(gmm.weights_.sum(), 1.0, rtol=1e-5)
    assert not np.any(np.isnan(scores))
    assert labels.min() >= 0 and labels.max() < model["n_components"]


def test_collapse_that_underflows_in_the_users_units_raises():
    """Found by hypothesis: duplicates at 3e-150 collapse to a variance of ~(eps x)^2
    in the rescaled units, which underflows once scaled back."""
    X = np.array([[3e-150], [3e-150]])
    with pytest.raises(ValueError, match="reg_covar"):
        GaussianMixture(1, reg_covar=0, random_state=0).fit(X)
    gmm = GaussianMixture(1, random_state=0).fit(X)
    assert np.all(np.isfinite(gmm.precisions_)) and gmm.covariances_[0, 0, 0] > 0
