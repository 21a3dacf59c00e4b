"""fastem.GaussianMixture against scikit-learn's, and the promises of its EM driver.

Three oracles: scikit-learn given the same initial parameters (or the same
random_state), the pure-NumPy backend, and the float64 fit for float32 data.
"""

import functools
import re
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

import fastem
from _builders import (
    COVARIANCE_TYPES,
    FITTED_ARRAYS,
    FITTED_STATE,
    RandomData,
    assert_identical_fit,
)
from fastem import GaussianMixture
from fastem._engine.threads import effective_n_threads, threads_for
from fastem._kernels import BACKENDS, COMPILED

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
REAL_DATASETS = ("iris", "wine", "breast_cancer", "digits")

# Same EM, different order of floating-point operations: agreement with scikit-learn
# (float64), with the NumPy twin, and of methods evaluated on the same parameters.
SKLEARN_RTOL = 1e-7
BACKEND_RTOL = 1e-10
METHODS_RTOL = 1e-10
# float32 data fitted in float64, then rounded, against the float64 fit of its values.
FLOAT32_RTOL = 1e-6
# Lower bound of float32 data 1e4 away from the origin against its float64 fit.
FAR_FLOAT32_RTOL = 1e-5

# A start from single rows (k-means++, random_from_data) gives diag and spherical
# covariances of about reg_covar; scikit-learn computes them as E[x^2] - E[x]^2, which
# loses ~eps |x|^2 to cancellation, so with the default reg_covar=1e-6 its first lower
# bound is off by ~1e-8 relative and EM can amplify that (to 2e-4 on raw iris). A
# larger reg_covar keeps scikit-learn accurate enough to serve as the oracle.
DEFAULT_INIT_REG_COVAR = 1e-3

ignore_convergence = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


# --- helpers --------------------------------------------------------------------------


@functools.cache
def real_data(name):
    """(X, reg_covar) for a data set shipped with scikit-learn, settled for EM."""
    if name == "iris":
        return datasets.load_iris().data, 1e-6
    if name == "wine":
        return StandardScaler().fit_transform(datasets.load_wine().data), 1e-6
    if name == "breast_cancer":
        return StandardScaler().fit_transform(datasets.load_breast_cancer().data), 1e-6
    # digits: 500 images, the 16 pixels of largest variance (no constant columns).
    digits = datasets.load_digits().data[:500]
    columns = np.sort(np.argsort(digits.var(axis=0))[-16:])
    return digits[:, columns], 1e-3


def sklearn_start(X, n_components, covariance_type, reg_covar):
    """weights_init, means_init, precisions_init of scikit-learn's k-means start."""
    start = SkGaussianMixture(
        n_components,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        max_iter=0,
        random_state=0,
    ).fit(X)
    return {
        "weights_init": start.weights_,
        "means_init": start.means_,
        "precisions_init": start.precisions_,
    }


def fit_both(X, **params):
    """(fastem, scikit-learn) GaussianMixture fitted on X with the same parameters."""
    return GaussianMixture(**params).fit(X), SkGaussianMixture(**params).fit(X)


def assert_same_fit(got, want, rtol):
    """Fitted attributes, lower bounds, n_iter_ and converged_ agree to ``rtol``."""
    for name in FITTED_ARRAYS:
        assert_allclose(
            getattr(got, name), getattr(want, name), rtol=rtol, err_msg=name
        )
    assert_allclose(got.lower_bound_, want.lower_bound_, rtol=rtol)
    assert_allclose(got.lower_bounds_, want.lower_bounds_, rtol=rtol)
    assert got.n_iter_ == want.n_iter_
    assert got.converged_ == want.converged_


def copy_fitted(source, target):
    """``target`` with the fitted state of ``source``; returns ``target``."""
    for name in FITTED_STATE + ("n_features_in_",):
        setattr(target, name, getattr(source, name))
    return target


# --- parity with scikit-learn ---------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_from_given_start_matches_sklearn_on_blobs(covariance_type):
    data = RandomData(seed=0)
    X = data.X[covariance_type]

    got, want = fit_both(
        X,
        n_components=3,
        covariance_type=covariance_type,
        **data.initial_guess(covariance_type),
    )

    assert want.converged_ and want.n_iter_ > 2
    assert_same_fit(got, want, SKLEARN_RTOL)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", REAL_DATASETS)
def test_fit_from_given_start_matches_sklearn_on_real_data(dataset, covariance_type):
    X, reg_covar = real_data(dataset)
    start = sklearn_start(X, 3, covariance_type, reg_covar)

    got, want = fit_both(
        X,
        n_components=3,
        covariance_type=covariance_type,
        reg_covar=reg_covar,
        max_iter=300,
        **start,
    )

    assert want.converged_
    assert_same_fit(got, want, SKLEARN_RTOL)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_initialisation_matches_sklearn(init_params, covariance_type):
    """max_iter=0 keeps the initial parameters, which must be scikit-learn's."""
    X = RandomData(seed=1).X[covariance_type]

    got, want = fit_both(
        X,
        n_components=3,
        covariance_type=covariance_type,
        init_params=init_params,
        reg_covar=DEFAULT_INIT_REG_COVAR,
        max_iter=0,
        random_state=0,
    )

    for name in FITTED_ARRAYS:
        assert_allclose(
            getattr(got, name), getattr(want, name), rtol=SKLEARN_RTOL, err_msg=name
        )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_init", [1, 3])
@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_fit_from_default_start_matches_sklearn(init_params, n_init, covariance_type):
    X = RandomData(seed=1).X[covariance_type]

    got, want = fit_both(
        X,
        n_components=3,
        covariance_type=covariance_type,
        init_params=init_params,
        n_init=n_init,
        reg_covar=DEFAULT_INIT_REG_COVAR,
        random_state=0,
    )

    assert_same_fit(got, want, SKLEARN_RTOL)


def evaluation_rows(X):
    """X and a few rows far outside it, where responsibilities get extreme."""
    far = X.mean(axis=0) + np.array([[30.0], [-30.0], [60.0]]) * X.std(axis=0)
    return np.vstack([X, far])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_methods_match_sklearn_on_the_same_parameters(covariance_type):
    data = RandomData(seed=2)
    X = data.X[covariance_type]
    want = SkGaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    got = copy_fitted(want, GaussianMixture(3, covariance_type=covariance_type))
    rows = evaluation_rows(X)

    assert_array_equal(got.predict(rows), want.predict(rows))
    for method in ("predict_proba", "score_samples", "score", "bic", "aic"):
        assert_allclose(
            getattr(got, method)(rows),
            getattr(want, method)(rows),
            rtol=METHODS_RTOL,
            err_msg=method,
        )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_matches_sklearn(covariance_type):
    X = RandomData(seed=3).X[covariance_type]
    want = SkGaussianMixture(3, covariance_type=covariance_type, random_state=7).fit(X)
    got = copy_fitted(
        want, GaussianMixture(3, covariance_type=covariance_type, random_state=7)
    )

    got_X, got_y = got.sample(60)
    want_X, want_y = want.sample(60)

    assert_array_equal(got_X, want_X)
    assert_array_equal(got_y, want_y)
    assert got_X.dtype == want_X.dtype and got_y.dtype == want_y.dtype


# --- float32 --------------------------------------------------------------------------


def float32_problem(covariance_type, centre=0.0):
    """(float32 X, the same values in float64, a start) around ``centre``."""
    data = RandomData(seed=4, centre=centre)
    X32 = data.X[covariance_type].astype(np.float32)
    return X32, X32.astype(np.float64), data.initial_guess(covariance_type)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_attributes_and_outputs_have_sklearn_dtypes(covariance_type):
    X32, _, _ = float32_problem(covariance_type)

    got, want = fit_both(
        X32, n_components=3, covariance_type=covariance_type, random_state=0
    )

    for name in FITTED_ARRAYS:
        assert getattr(got, name).dtype == np.float32, name
    for method in ("predict", "predict_proba", "score_samples"):
        for X in (X32, X32.astype(np.float64)):
            assert getattr(got, method)(X).dtype == getattr(want, method)(X).dtype


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_fit_matches_the_float64_fit_of_the_same_values(covariance_type):
    X32, X64, start = float32_problem(covariance_type)
    params = dict(n_components=3, covariance_type=covariance_type, **start)

    got = GaussianMixture(**params).fit(X32)
    want = GaussianMixture(**params).fit(X64)

    for name in FITTED_ARRAYS:
        assert_allclose(
            getattr(got, name), getattr(want, name), rtol=FLOAT32_RTOL, err_msg=name
        )
    assert_allclose(got.lower_bound_, want.lower_bound_, rtol=FLOAT32_RTOL)
    assert got.n_iter_ == want.n_iter_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_far_from_the_origin_beats_sklearn(covariance_type):
    """scikit-learn issue #30382: float32 EM loses the data 1e4 from the origin."""
    X32, X64, start = float32_problem(covariance_type, centre=1e4)
    params = dict(n_components=3, covariance_type=covariance_type, **start)
    exact = GaussianMixture(**params).fit(X64).lower_bound_

    error = abs(GaussianMixture(**params).fit(X32).lower_bound_ / exact - 1.0)

    assert error < FAR_FLOAT32_RTOL
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            sklearn_error = abs(
                SkGaussianMixture(**params).fit(X32).lower_bound_ / exact - 1.0
            )
        except ValueError:  # scikit-learn finds an ill-defined covariance
            sklearn_error = np.inf
    assert error < sklearn_error


# --- behaviour of EM ------------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_lower_bound_never_decreases(covariance_type):
    X = RandomData(seed=5, spread=2.0).X[covariance_type]
    gmm = GaussianMixture(
        3,
        covariance_type=covariance_type,
        reg_covar=0,
        warm_start=True,
        max_iter=1,
        init_params="random",
        random_state=0,
        tol=1e-7,
    )
    lower_bounds, scores = [], []
    for _ in range(30):
        scores.append(gmm.fit(X).score(X))
        lower_bounds.append(gmm.lower_bound_)
        if gmm.converged_:
            break

    assert len(lower_bounds) > 3
    assert np.all(np.diff(lower_bounds) >= 0.0)
    assert np.all(np.diff(scores) >= 0.0)
    assert lower_bounds[-1] > lower_bounds[0]


@ignore_convergence
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_continues_where_it_left_off(covariance_type):
    data = RandomData(seed=6, spread=2.0)
    X = data.X[covariance_type]
    params = dict(
        n_components=3,
        covariance_type=covariance_type,
        tol=0.0,
        **data.initial_guess(covariance_type),
    )

    twice = GaussianMixture(max_iter=3, warm_start=True, **params).fit(X).fit(X)
    once = GaussianMixture(max_iter=6, **params).fit(X)

    for name in FITTED_ARRAYS:
        assert_array_equal(getattr(twice, name), getattr(once, name), err_msg=name)
    assert twice.n_iter_ == 3
    assert_array_equal(twice.lower_bounds_, once.lower_bounds_[3:])
    assert twice.lower_bound_ == once.lower_bound_


@ignore_convergence
def test_warm_start_ignores_n_init(capsys):
    X = RandomData(seed=6).X["full"]
    params = dict(n_components=3, warm_start=True, max_iter=2, random_state=0)
    reference = GaussianMixture(**params).fit(X).fit(X)
    gmm = GaussianMixture(**params).fit(X)
    capsys.readouterr()

    gmm.set_params(n_init=5, verbose=1).fit(X)

    assert capsys.readouterr().out.count("Initialization 0") == 1
    assert_identical_fit(gmm, reference)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_n_init_keeps_the_best_lower_bound(covariance_type):
    X = RandomData(seed=7, spread=2.0).X[covariance_type]
    params = dict(n_components=4, covariance_type=covariance_type, init_params="random")
    rng = np.random.RandomState(0)  # consumed by each run as n_init runs consume it
    runs = [GaussianMixture(random_state=rng, **params).fit(X) for _ in range(4)]

    best = GaussianMixture(n_init=4, random_state=0, **params).fit(X)

    lower_bounds = [run.lower_bound_ for run in runs]
    assert len(set(lower_bounds)) > 1
    assert_identical_fit(best, runs[int(np.argmax(lower_bounds))])


def test_convergence_warning_when_max_iter_is_too_small():
    X = RandomData(seed=8).X["full"]

    with pytest.warns(ConvergenceWarning, match="did not converge"):
        gmm = GaussianMixture(3, max_iter=1, tol=0.0, random_state=0).fit(X)

    assert not gmm.converged_ and gmm.n_iter_ == 1


def test_no_warning_when_it_converges():
    X = RandomData(seed=8).X["full"]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gmm = GaussianMixture(3, random_state=0).fit(X)

    assert gmm.converged_ and gmm.n_iter_ < gmm.max_iter


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_max_iter_zero_returns_the_start_without_warning(covariance_type):
    data = RandomData(seed=9)
    start = data.initial_guess(covariance_type)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gmm = GaussianMixture(
            3, covariance_type=covariance_type, max_iter=0, **start
        ).fit(data.X[covariance_type])

    assert_array_equal(gmm.weights_, start["weights_init"])
    assert_array_equal(gmm.means_, start["means_init"])
    assert_allclose(gmm.precisions_, start["precisions_init"], rtol=1e-12)
    if covariance_type == "full":
        assert_allclose(
            gmm.covariances_, np.linalg.inv(start["precisions_init"]), rtol=1e-12
        )
    assert gmm.n_iter_ == 0 and gmm.lower_bounds_ == []
    assert gmm.lower_bound_ == -np.inf and not gmm.converged_


@ignore_convergence
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("max_iter", [1, 2, 100])
def test_fit_predict_equals_fit_then_predict(max_iter, covariance_type):
    X = RandomData(seed=10, spread=2.0).X[covariance_type]
    params = dict(
        n_components=3,
        covariance_type=covariance_type,
        max_iter=max_iter,
        init_params="random",
        random_state=0,
    )

    labels = GaussianMixture(**params).fit_predict(X)

    assert_array_equal(labels, GaussianMixture(**params).fit(X).predict(X))


@ignore_convergence  # KMeans finds fewer distinct clusters than components
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_collapsed_components_raise_an_error_naming_reg_covar(covariance_type):
    X = np.vstack([np.ones((5, 5)), np.zeros((5, 5))])  # 2 distinct rows, 10 components
    gmm = GaussianMixture(
        10, covariance_type=covariance_type, reg_covar=0, random_state=0
    )

    with pytest.raises(ValueError, match="reg_covar"):
        gmm.fit(X)
    assert gmm.set_params(reg_covar=1e-6).fit(X).n_iter_ >= 1


def verbose_lines(estimator, X, capsys):
    """stdout of ``estimator.fit(X)`` as lines, time values masked."""
    capsys.readouterr()
    estimator.fit(X)
    out = capsys.readouterr().out
    return re.sub(r"time lapse \d+\.\d+s", "time lapse <t>s", out).splitlines()


@ignore_convergence
@pytest.mark.parametrize("verbose", [1, 2])
def test_verbose_prints_sklearn_lines(verbose, capsys):
    X = RandomData(seed=11, spread=2.0).X["full"]
    params = dict(
        n_components=3,
        n_init=2,
        max_iter=12,
        verbose=verbose,
        verbose_interval=3,
        init_params="random",
        random_state=0,
    )

    got = verbose_lines(GaussianMixture(**params), X, capsys)
    want = verbose_lines(SkGaussianMixture(**params), X, capsys)

    assert any("Iteration 3" in line for line in want)
    assert got == want


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_numpy_backend_fits_as_the_compiled_backend(covariance_type):
    data = RandomData(seed=12)
    X = data.X[covariance_type]
    params = dict(
        n_components=3,
        covariance_type=covariance_type,
        **data.initial_guess(covariance_type),
    )

    compiled = GaussianMixture(**params).fit(X)
    with fastem.use_backend("numpy"):
        twin = GaussianMixture(**params).fit(X)
        twin_proba = twin.predict_proba(X)

    assert_same_fit(twin, compiled, BACKEND_RTOL)
    assert_allclose(
        twin_proba, compiled.predict_proba(X), rtol=BACKEND_RTOL, atol=1e-300
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_features", [2, 20])
@pytest.mark.parametrize("backend", [f"cython-{name}" for name in sorted(COMPILED)])
def test_same_bits_with_one_and_two_threads(
    backend, n_features, covariance_type, monkeypatch
):
    """20 features: the large-d path (blocked kernels or BLAS, by build)."""
    # Small problems run on one thread (threads_for): let this one use two.
    monkeypatch.setattr("fastem._engine.threads.MIN_PAIRS_PER_THREAD", 1)
    data = RandomData(seed=13, n_samples=2000, n_features=n_features)  # 8 chunks
    X = data.X[covariance_type]
    params = dict(
        n_components=3,
        covariance_type=covariance_type,
        **data.initial_guess(covariance_type),
    )
    fits, probas = [], []
    with fastem.use_backend(backend):
        for n_threads in (1, 2):
            with threadpool_limits(limits=n_threads, user_api="openmp"):
                assert effective_n_threads() <= n_threads
                fits.append(GaussianMixture(**params).fit(X))
                probas.append(fits[-1].predict_proba(X))

    assert_identical_fit(*fits)
    assert_array_equal(*probas)


class _BlasThreadRecorder:
    """A compiled Gaussian kernel module that records the BLAS threads of each
    call."""

    BLAS_MIN_FEATURES = 9

    def __init__(self, kernels):
        self.kernels, self.blas_threads = kernels, []

    def _record(self):
        self.blas_threads.append(
            max(
                info["num_threads"]
                for info in threadpool_info()
                if info["user_api"] == "blas"
            )
        )

    def accumulate(self, *args):
        self._record()
        return self.kernels.accumulate(*args)

    def score(self, *args):
        self._record()
        return self.kernels.score(*args)


@ignore_convergence
@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_blas_on_one_thread_where_the_kernels_call_it(covariance_type, monkeypatch):
    """A build that calls BLAS inside its OpenMP threads (BLAS_MIN_FEATURES) runs it
    on one thread in fit, predict, predict_proba and score_samples, whatever the
    BLAS limit outside: BLAS threads nested in OpenMP threads oversubscribe."""
    recorder = _BlasThreadRecorder(BACKENDS["cython"].gaussian)
    backend = SimpleNamespace(**{**vars(BACKENDS["cython"]), "gaussian": recorder})
    monkeypatch.setitem(BACKENDS, "cython", backend)
    data = RandomData(seed=15, n_samples=600, n_features=10)
    X = data.X[covariance_type]

    with threadpool_limits(limits=2, user_api="blas"):
        # tol=0: three EM passes, as fit no longer runs fit_predict's final E-step.
        model = GaussianMixture(3, covariance_type=covariance_type, max_iter=3, tol=0.0)
        model.fit(X)
        model.predict(X)
        model.predict_proba(X)
        model.score_samples(X)

    assert len(recorder.blas_threads) >= 6
    assert set(recorder.blas_threads) == {1}


def test_dataframe_input_sets_feature_names():
    X = RandomData(seed=14).X["full"]
    frame = pd.DataFrame(X, columns=["height", "width"])

    from_frame = GaussianMixture(3, random_state=0).fit(frame)
    from_array = GaussianMixture(3, random_state=0).fit(X)

    assert_array_equal(from_frame.feature_names_in_, ["height", "width"])
    assert from_frame.n_features_in_ == 2 and from_array.n_features_in_ == 2
    assert not hasattr(from_array, "feature_names_in_")
    assert_identical_fit(from_frame, from_array)
    assert_array_equal(from_frame.predict(frame), from_array.predict(X))


def test_small_problems_get_no_more_threads_than_they_fill():
    assert threads_for(8, 150, 3) == 1  # iris: waking threads costs more than it saves
    assert threads_for(8, 1_000_000, 32) == 8
    assert threads_for(2, 100_000, 3) == 2
    assert threads_for(4, 100_000, 2) == 2
