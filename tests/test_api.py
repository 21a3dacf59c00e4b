"""fastem.GaussianMixture as a scikit-learn estimator: checks, meta-estimators, errors,
and the caller's arrays in any layout, read as they are and never written."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from _builders import LAYOUTS, RandomData, assert_identical_fit, with_layout
from fastem import GaussianMixture

METHODS = ("predict", "predict_proba", "score_samples", "score", "bic", "aic")


def blobs(seed=0):
    """Three well separated blobs in two dimensions (200 rows)."""
    return RandomData(seed=seed).X["full"]


# --- scikit-learn's estimator checks --------------------------------------------------


# scikit-learn checks its own GaussianMixture with n_init=2, max_iter=5
# (sklearn/utils/_test_common/instance_generator.py) and expects no failures.
@parametrize_with_checks(
    [
        GaussianMixture(n_init=2, max_iter=5),
        GaussianMixture(covariance_type="tied", n_init=2, max_iter=5),
        GaussianMixture(
            covariance_type="diag", n_init=2, max_iter=5, init_params="k-means++"
        ),
        GaussianMixture(
            covariance_type="spherical",
            n_init=2,
            max_iter=5,
            init_params="random_from_data",
        ),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --- parameters, persistence, meta-estimators ----------------------------------------


def test_clone_and_params_round_trip():
    means = np.array([[0.0, 0.0], [1.0, 1.0]])
    gmm = GaussianMixture(2, covariance_type="diag", tol=1e-4, means_init=means)

    copy = clone(gmm)
    params = gmm.get_params()

    assert copy is not gmm and not hasattr(copy, "means_")
    assert_array_equal(copy.get_params()["means_init"], means)
    assert gmm.get_params()["means_init"] is means
    other = GaussianMixture().set_params(**params)
    assert other.get_params() == params
    assert other.set_params(n_components=4).n_components == 4


def test_pickle_round_trip():
    X = blobs()
    gmm = GaussianMixture(3, random_state=0).fit(X)

    restored = pickle.loads(pickle.dumps(gmm))

    assert_identical_fit(restored, gmm)
    for method in METHODS:
        assert_array_equal(getattr(restored, method)(X), getattr(gmm, method)(X))


def test_in_a_pipeline():
    X = blobs() * [1.0, 100.0] + [0.0, 1e3]
    pipeline = make_pipeline(StandardScaler(), GaussianMixture(3, random_state=0))

    pipeline.fit(X)

    scaled = StandardScaler().fit_transform(X)
    alone = GaussianMixture(3, random_state=0).fit(scaled)
    assert_array_equal(pipeline.predict(X), alone.predict(scaled))
    assert pipeline.score(X) == alone.score(scaled)


def test_grid_search_over_n_components_matches_sklearn():
    X = blobs()
    grid = {"n_components": [2, 3, 4]}

    got = GridSearchCV(GaussianMixture(random_state=0), grid, cv=3).fit(X)
    want = GridSearchCV(SkGaussianMixture(random_state=0), grid, cv=3).fit(X)

    assert got.best_params_ == want.best_params_
    assert_allclose(
        got.cv_results_["mean_test_score"],
        want.cv_results_["mean_test_score"],
        rtol=1e-7,
    )


# --- bad input ------------------------------------------------------------------------


def bad_data(kind):
    """X that no fit should accept."""
    X = blobs()[:20]
    if kind == "1-D":
        return X[:, 0]
    if kind == "empty":
        return np.empty((0, 2))
    if kind == "one sample":
        return X[:1]
    if kind == "no features":
        return np.empty((20, 0))
    if kind == "inf":
        X = X.copy()
        X[3, 1] = np.inf
        return X
    if kind == "complex":
        return X + 1j
    assert kind == "strings"
    return np.array([["a", "b"]] * 20, dtype=object)


def assert_raises_like_sklearn(X, params, match):
    """fastem raises scikit-learn's exception type, its message matching ``match``."""
    with pytest.raises(Exception) as sklearn_error:
        SkGaussianMixture(**params).fit(X)
    with pytest.raises(Exception, match=match) as error:
        GaussianMixture(**params).fit(X)
    assert type(error.value) is type(sklearn_error.value)
    return error.value, sklearn_error.value


@pytest.mark.parametrize(
    "kind, match",
    [
        ("1-D", "Expected 2D array, got 1D array"),
        ("empty", r"0 sample\(s\)"),
        ("one sample", r"1 sample\(s\) .* minimum of 2"),
        ("no features", r"0 feature\(s\)"),
        ("inf", "infinity"),
        ("complex", "Complex data not supported"),
        ("strings", "could not convert string to float"),
    ],
)
def test_bad_data_raises_like_sklearn(kind, match):
    assert_raises_like_sklearn(bad_data(kind), {}, match)


def test_more_components_than_samples_raises_sklearn_message():
    got, want = assert_raises_like_sklearn(
        blobs()[:5], {"n_components": 6}, "n_samples >= n_components"
    )
    assert str(got) == str(want)


@pytest.mark.parametrize(
    "params",
    [
        {"n_components": 0},
        {"covariance_type": "bogus"},
        {"tol": -1},
        {"reg_covar": -1},
        {"max_iter": -1},
        {"n_init": 0},
        {"init_params": "bogus"},
        {"verbose_interval": 0},
    ],
    ids=lambda params: next(iter(params)),
)
def test_bad_parameters_raise_like_sklearn(params):
    (name,) = params
    match = f"'{name}' parameter of GaussianMixture"
    assert_raises_like_sklearn(blobs(), params, match)


# Starts for 2 components on 2 features, each wrong in one way.
EYE = np.eye(2)
FULL_NOT_PD = np.array([EYE, np.diag([1.0, -1.0])])
FULL_NOT_SYMMETRIC = np.array([EYE, [[1.0, 0.5], [0.0, 1.0]]])
WEIGHTS_SHAPE = r"'weights' should have the shape of \(2,\)"
MEANS_SHAPE = r"'means' should have the shape of \(2, 2\)"
NOT_PD = "precision' should be symmetric, positive-definite"

BAD_STARTS = {
    "weights too long": ({"weights_init": [0.5, 0.25, 0.25]}, WEIGHTS_SHAPE),
    "weights 2-D": ({"weights_init": [[0.5], [0.5]]}, WEIGHTS_SHAPE),
    "weights negative": ({"weights_init": [1.5, -0.5]}, r"in the range \[0, 1\]"),
    "weights sum to 0.6": ({"weights_init": [0.3, 0.3]}, "should be normalized"),
    "weights NaN": ({"weights_init": [np.nan, 0.5]}, "NaN"),
    "means too many rows": ({"means_init": np.zeros((3, 2))}, MEANS_SHAPE),
    "means too many columns": ({"means_init": np.zeros((2, 3))}, MEANS_SHAPE),
    "means 1-D": ({"means_init": np.zeros(2)}, MEANS_SHAPE),
    "full wrong shape": (
        {"precisions_init": np.ones((3, 2, 2))},
        "'full precision' should have the shape",
    ),
    "full not positive definite": ({"precisions_init": FULL_NOT_PD}, "'full " + NOT_PD),
    "full not symmetric": ({"precisions_init": FULL_NOT_SYMMETRIC}, "'full " + NOT_PD),
    "tied not symmetric": (
        {"covariance_type": "tied", "precisions_init": FULL_NOT_SYMMETRIC[1]},
        "'tied " + NOT_PD,
    ),
    "tied not positive definite": (
        {"covariance_type": "tied", "precisions_init": -EYE},
        "'tied " + NOT_PD,
    ),
    "tied wrong shape": (
        {"covariance_type": "tied", "precisions_init": np.eye(3)},
        "'tied precision' should have the shape",
    ),
    "diag negative": (
        {"covariance_type": "diag", "precisions_init": -np.ones((2, 2))},
        "'diag precision' should be positive",
    ),
    "diag wrong shape": (
        {"covariance_type": "diag", "precisions_init": np.ones((2, 3))},
        "'diag precision' should have the shape",
    ),
    "spherical zero": (
        {"covariance_type": "spherical", "precisions_init": [1.0, 0.0]},
        "'spherical precision' should be positive",
    ),
    "spherical wrong shape": (
        {"covariance_type": "spherical", "precisions_init": np.ones(3)},
        "'spherical precision' should have the shape",
    ),
}


@pytest.mark.parametrize("params, match", BAD_STARTS.values(), ids=BAD_STARTS.keys())
def test_bad_initial_parameters_raise_like_sklearn(params, match):
    assert_raises_like_sklearn(blobs(), {"n_components": 2, **params}, match)


@pytest.mark.parametrize("method", METHODS)
def test_wrong_number_of_features_raises(method):
    gmm = GaussianMixture(3, random_state=0).fit(blobs())

    match = "X has 3 features, but GaussianMixture is expecting 2"
    with pytest.raises(ValueError, match=match):
        getattr(gmm, method)(np.ones((4, 3)))


@pytest.mark.parametrize("method", METHODS + ("sample",))
def test_use_before_fit_raises_not_fitted(method):
    args = () if method == "sample" else (blobs(),)

    with pytest.raises(NotFittedError):
        getattr(GaussianMixture(), method)(*args)


def test_sample_needs_a_positive_count():
    gmm = GaussianMixture(3, random_state=0).fit(blobs())

    with pytest.raises(ValueError, match="'n_samples'"):
        gmm.sample(0)


# --- the caller's arrays --------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_callers_arrays_are_never_modified(dtype):
    data = RandomData(seed=1)
    X = data.X["full"].astype(dtype)
    start = {
        name: value.astype(dtype) for name, value in data.initial_guess("full").items()
    }
    before = {"X": X.copy(), **{name: value.copy() for name, value in start.items()}}

    gmm = GaussianMixture(3, **start).fit(X)
    gmm.predict_proba(X)
    gmm.score_samples(X)

    for name, value in {"X": X, **start}.items():
        assert_array_equal(value, before[name], err_msg=name)
    for name, value in start.items():
        assert gmm.get_params()[name] is value


@pytest.mark.parametrize("layout", LAYOUTS)
def test_any_memory_layout_gives_the_contiguous_fit(layout, tmp_path):
    X = blobs(seed=2)
    want = GaussianMixture(3, random_state=0).fit(X)

    view = with_layout(X, layout, tmp_path)
    got = GaussianMixture(3, random_state=0).fit(view)

    assert_identical_fit(got, want)
    for method in ("predict_proba", "score_samples"):
        assert_array_equal(getattr(got, method)(view), getattr(want, method)(X))
    if layout in ("read-only", "memmap"):
        assert not view.flags.writeable


# --- the package ----------------------------------------------------------------------


def test_public_names_load_on_first_use():
    # fastem's names are imported lazily (PEP 562); every way of reaching them works.
    import fastem
    from fastem import mixture, plot

    assert fastem.GaussianMixture is mixture.GaussianMixture
    assert fastem.plot is plot
    assert set(fastem.__all__) <= set(dir(fastem))
    assert "plot" in dir(fastem)
    namespace = {}
    exec("from fastem import *", namespace)
    assert set(fastem.__all__) <= set(namespace)
    with pytest.raises(AttributeError, match="no attribute 'GaussianMixtures'"):
        fastem.GaussianMixtures  # noqa: B018
