"""fastem.select: the grid, its criteria against independent formulas, recovery of a
known number of components, warm starts, parallel jobs, and R's mclust on iris and
wine (tests/data/mclust_reference.json, written by benchmarks/mclust_reference.py)."""

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import entropy, multivariate_normal
from sklearn import datasets
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_info

from _builders import COVARIANCE_TYPES, RandomData, assert_identical_fit
from fastem import GaussianMixture, GaussianMixtureIC, select
from fastem._engine import selection as _selection
from fastem._engine.selection import CRITERIA
from fastem._engine.threads import effective_n_threads

MCLUST = json.loads(
    (Path(__file__).parent / "data" / "mclust_reference.json").read_text()
)
MCLUST_NAMES = {"VII": "spherical", "EEE": "tied", "VVI": "diag", "VVV": "full"}
DATASETS = {"iris": datasets.load_iris, "wine": datasets.load_wine}
# Criteria recomputed from the fitted model's methods: a different summation order.
CRITERIA_RTOL = 1e-10
# fastem against scikit-learn from the same seed: the same EM in a different order of
# floating-point operations (as in test_gaussian_mixture.py).
SKLEARN_RTOL = 1e-7
# fastem's log-likelihood at mclust's printed (17-digit) parameters against mclust's.
MCLUST_SCORE_RTOL = 1e-8
# EM continued from mclust's final parameters, against mclust's maximised likelihood.
MCLUST_FIT_RTOL = 1e-6

TABLE_COLUMNS = [
    "n_components",
    "covariance_type",
    "prior",
    "log_likelihood",
    "n_parameters",
    "bic",
    "aic",
    "icl",
    "converged",
    "n_iter",
    "warm_started",
    "degenerate",
]


def blobs(seed, n_components=3, n_features=2, n_samples=600):
    """Well-separated spherical clusters of equal size and their number."""
    rng = np.random.default_rng(seed)
    centres = 12.0 * rng.normal(size=(n_components, n_features))
    while (
        np.min(
            np.linalg.norm(centres[:, None] - centres[None], axis=2)
            + 100 * np.eye(n_components)
        )
        < 8.0
    ):
        centres = 12.0 * rng.normal(size=(n_components, n_features))
    labels = np.arange(n_samples) % n_components
    return centres[labels] + rng.normal(size=(n_samples, n_features))


# --- the grid and its criteria ------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("criterion", ["bic", "icl"])
def test_recovers_the_number_of_well_separated_clusters(seed, criterion):
    X = blobs(seed, n_components=3 + seed, n_samples=300)
    result = select(X, range(1, 7), ("full", "spherical"), criterion=criterion,
                    random_state=0)  # fmt: skip
    assert result.best_params_["n_components"] == 3 + seed
    assert result.best_estimator_.n_components == 3 + seed
    assert result.criterion == criterion
    assert result.estimators_[result.best_index_] is result.best_estimator_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_recovers_the_number_of_components_of_each_covariance_type(covariance_type):
    data = RandomData(seed=3, n_samples=600, spread=8.0)
    result = select(
        data.X[covariance_type],
        n_components=range(1, 6),
        covariance_types=covariance_type,
        random_state=0,
    )
    assert result.best_params_ == {
        "n_components": 3,
        "covariance_type": covariance_type,
        "prior": None,
    }


def test_table_rows_and_columns():
    X = blobs(0)
    result = select(X, n_components=[3, 1, 2, 2], covariance_types=("diag", "full"))
    table = result.table
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == TABLE_COLUMNS
    assert list(table["covariance_type"]) == ["diag"] * 3 + ["full"] * 3
    assert list(table["n_components"]) == [1, 2, 3] * 2
    assert list(table["prior"]) == [None] * 6
    assert len(result.estimators_) == 6
    for (_, row), estimator in zip(table.iterrows(), result.estimators_):
        assert estimator.n_components == row["n_components"]
        assert estimator.covariance_type == row["covariance_type"]
        assert estimator.converged_ == row["converged"]
        assert estimator.n_iter_ == row["n_iter"]
    assert result.best_index_ == int(np.argmin(table["bic"]))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_criteria_match_independent_formulas(covariance_type):
    X, n = datasets.load_iris().data, 150
    result = select(
        X, n_components=range(1, 4), covariance_types=covariance_type, random_state=0
    )
    for (_, row), estimator in zip(result.table.iterrows(), result.estimators_):
        log_likelihood = _scipy_log_likelihood(estimator, X)
        assert_allclose(row["log_likelihood"], log_likelihood, rtol=CRITERIA_RTOL)
        sk = SkGaussianMixture(row["n_components"], covariance_type=covariance_type)
        sk.means_ = estimator.means_  # _n_parameters reads only the means' shape
        assert row["n_parameters"] == sk._n_parameters()
        p = row["n_parameters"]
        assert_allclose(row["bic"], -2 * log_likelihood + p * np.log(n), CRITERIA_RTOL)
        assert_allclose(row["aic"], -2 * log_likelihood + 2 * p, rtol=CRITERIA_RTOL)
        assert_allclose(row["bic"], estimator.bic(X), rtol=CRITERIA_RTOL)
        assert_allclose(row["aic"], estimator.aic(X), rtol=CRITERIA_RTOL)
        resp = estimator.predict_proba(X)
        expected_icl = row["bic"] + 2 * np.sum(entropy(resp, axis=1))
        assert_allclose(row["icl"], expected_icl, rtol=CRITERIA_RTOL)
        assert row["icl"] >= row["bic"]


def _scipy_log_likelihood(estimator, X):
    """log L from scipy.stats densities of the fitted model's (dense) covariances."""
    K, d = estimator.means_.shape
    covariances = {
        "full": lambda c: c,
        "tied": lambda c: np.broadcast_to(c, (K, d, d)),
        "diag": lambda c: [np.diag(v) for v in c],
        "spherical": lambda c: [v * np.eye(d) for v in c],
    }[estimator.covariance_type](estimator.covariances_)
    log_densities = np.column_stack(
        [
            np.log(w) + multivariate_normal(m, c).logpdf(X)
            for w, m, c in zip(estimator.weights_, estimator.means_, covariances)
        ]
    )
    return float(np.sum(logsumexp(log_densities, axis=1)))


@pytest.mark.parametrize("criterion", ["bic", "aic", "icl"])
def test_best_is_the_lowest_criterion(criterion):
    X = datasets.load_wine().data
    result = select(
        X, n_components=range(1, 4), criterion=criterion, random_state=0, max_iter=50
    )
    scores = np.asarray(result.table[criterion])
    assert scores[result.best_index_] == np.min(scores)
    row = result.table.iloc[result.best_index_]
    assert result.best_params_ == {
        "n_components": row["n_components"],
        "covariance_type": row["covariance_type"],
        "prior": None,
    }


def test_degenerate_models_are_flagged_and_not_chosen():
    # On iris, 8 components find spurious maxima: a component on repeated values has
    # a variance of exactly reg_covar, with a likelihood that beats every honest fit.
    X = datasets.load_iris().data
    result = select(X, n_components=[7, 8], covariance_types=("full", "diag"),
                    random_state=0)  # fmt: skip
    table = result.table
    assert list(table["degenerate"]) == [False, True, False, True]
    for estimator, degenerate in zip(result.estimators_, table["degenerate"]):
        floor = 1e-6 * (1 + 1e-9)
        smallest = np.min(
            np.linalg.eigvalsh(estimator.covariances_)
            if estimator.covariance_type == "full"
            else estimator.covariances_
        )
        assert (smallest <= floor) == degenerate
    assert table["degenerate"][np.argmin(table["bic"])]  # spurious maxima win BIC
    assert result.best_index_ == 2


def test_mean_variance_in_chunks_is_numpy_variance():
    X = np.random.default_rng(0).normal(1e3, 2.0, (150_000, 3)).astype(np.float32)
    expected = np.mean(np.var(X.astype(np.float64), axis=0))
    assert_allclose(_selection._mean_variance(X), expected, rtol=1e-12)


def test_all_models_degenerate_is_a_warning():
    X = np.column_stack([np.arange(20.0), np.ones(20)])  # a constant column
    with pytest.warns(UserWarning, match="Every fitted model of the grid is degener"):
        result = select(X, n_components=[1, 2], covariance_types="diag")
    assert result.table["degenerate"].all()
    assert result.best_index_ == int(np.argmin(result.table["bic"]))


def test_models_not_warm_started_are_the_plain_fits_of_the_seed():
    X = datasets.load_iris().data
    gm_params = {"tol": 1e-4, "reg_covar": 1e-5, "init_params": "k-means++"}
    result = select(X, range(1, 4), ("full", "spherical"), n_init=2, random_state=7,
                    warm_start=False, **gm_params)  # fmt: skip
    assert not result.table["warm_started"].any()
    for (_, row), estimator in zip(result.table.iterrows(), result.estimators_):
        plain = GaussianMixture(
            row["n_components"],
            covariance_type=row["covariance_type"],
            n_init=2,
            random_state=7,
            **gm_params,
        ).fit(X)
        assert_identical_fit(estimator, plain)
        sk = SkGaussianMixture(
            row["n_components"],
            covariance_type=row["covariance_type"],
            n_init=2,
            random_state=7,
            **gm_params,
        ).fit(X)
        assert_allclose(row["bic"], sk.bic(X), rtol=SKLEARN_RTOL)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_never_ends_lower_than_the_restarts(covariance_type):
    X = datasets.load_wine().data
    kwargs = dict(covariance_types=covariance_type, random_state=1, max_iter=200)
    warm = select(X, range(1, 6), warm_start=True, **kwargs)
    cold = select(X, range(1, 6), warm_start=False, **kwargs)
    for (_, row), w, c in zip(
        warm.table.iterrows(), warm.estimators_, cold.estimators_
    ):
        assert w.lower_bound_ >= c.lower_bound_
        # Every model carries the seed: sample() is reproducible, split or not.
        assert w.random_state == 1
        assert_array_equal(w.sample(5)[0], w.sample(5)[0])
        if not row["warm_started"]:
            assert_identical_fit(w, c)
    assert not warm.table["warm_started"].iloc[0]


def test_split_start_cuts_the_heaviest_component_along_its_principal_axis():
    # One component over two clusters side by side on the x axis, one far away.
    rng = np.random.default_rng(0)
    X = np.concatenate(
        [
            rng.normal([-3, 0], 0.5, (200, 2)),
            rng.normal([3, 0], 0.5, (200, 2)),
            rng.normal([0, 40], 0.5, (100, 2)),
        ]
    )
    two = GaussianMixture(2, random_state=0).fit(X)
    start = two._split_heaviest(X)
    means = start["means_init"][np.argsort(start["means_init"][:, 1])]
    order = np.argsort(means[:2, 0])
    assert_allclose(means[:2][order], [[-3, 0], [3, 0]], atol=0.2)
    assert_allclose(np.sort(start["weights_init"]), [0.2, 0.4, 0.4], atol=0.02)
    three = GaussianMixture(3, **start).fit(X)
    assert three.converged_


def test_same_results_for_any_number_of_jobs():
    X = datasets.load_iris().data
    kwargs = dict(
        n_components=range(1, 4),
        covariance_types=("full", "diag"),
        random_state=0,
        init_params="k-means++",
    )
    serial = select(X, n_jobs=1, **kwargs)
    parallel = select(X, n_jobs=2, **kwargs)
    pd.testing.assert_frame_equal(serial.table, parallel.table)
    for got, want in zip(parallel.estimators_, serial.estimators_):
        assert_identical_fit(got, want)
    cold = select(X, n_jobs=2, warm_start=False, **kwargs)
    pd.testing.assert_frame_equal(
        cold.table, select(X, n_jobs=1, warm_start=False, **kwargs).table
    )


def test_parallel_jobs_share_the_threads(monkeypatch):
    seen = {}

    def record(point, ks, **kwargs):
        seen["kernel"] = effective_n_threads()
        seen["blas"] = {
            info["num_threads"]
            for info in threadpool_info()
            if info["user_api"] == "blas"
        }
        return []

    monkeypatch.setattr(_selection, "_fit_chain", record)
    _selection._fit_chain_limited({}, [1], threads=1, X=None)
    assert seen["kernel"] == 1
    assert seen["blas"] <= {1}


def test_structured_array_without_pandas(monkeypatch):
    X = blobs(1)
    kwargs = dict(n_components=range(1, 4), covariance_types=("tied",), random_state=0)
    frame = select(X, **kwargs).table
    monkeypatch.setattr(_selection, "_pandas_or_none", lambda: None)
    table = select(X, **kwargs).table
    assert isinstance(table, np.ndarray)
    assert list(table.dtype.names) == TABLE_COLUMNS
    for name in TABLE_COLUMNS:
        assert_array_equal(table[name], frame[name].to_numpy(), err_msg=name)
    assert table["prior"].tolist() == [None] * 3


@pytest.mark.parametrize("with_pandas", [True, False])
def test_the_table_says_prior_as_best_params_does(with_pandas, monkeypatch):
    if not with_pandas:
        monkeypatch.setattr(_selection, "_pandas_or_none", lambda: None)
    X = blobs(0)
    for priors in [(None,), ("default",), (None, "default")]:
        result = select(X, n_components=[1, 2], covariance_types="full", priors=priors)
        column = np.asarray(result.table["prior"])
        assert column.dtype == object
        assert column[result.best_index_] == result.best_params_["prior"]
        assert column.tolist() == [model.prior for model in result.estimators_]


def test_dataframe_input_names_the_features():
    iris = datasets.load_iris(as_frame=True)
    result = select(iris.data, n_components=[2], covariance_types="diag")
    assert_array_equal(result.best_estimator_.feature_names_in_, iris.data.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result.best_estimator_.predict(iris.data)


def test_does_not_modify_the_data():
    X = blobs(0).astype(np.float32)
    X.setflags(write=False)
    copy = X.copy()
    result = select(X, n_components=range(1, 4), random_state=0)
    assert_array_equal(X, copy)
    assert result.best_estimator_.means_.dtype == np.float32


@settings(max_examples=15, deadline=None)
@given(
    X=st.integers(4, 30).flatmap(
        lambda n: st.integers(1, 3).flatmap(
            lambda d: arrays(
                np.float64,
                (n, d),
                # Few distinct values: repeated rows and constant columns are common.
                elements=st.sampled_from([-3.0, -1.0, 0.0, 0.5, 2.0, 1e3]),
            )
        )
    ),
    criterion=st.sampled_from(CRITERIA),
)
def test_any_data_gives_a_consistent_table_or_a_clear_error(X, criterion):
    copy = X.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = select(X, [1, 2, 3], ("full", "diag"), criterion=criterion,
                            random_state=0)  # fmt: skip
        except ValueError as error:
            assert "reg_covar" in str(error)
            return
    assert_array_equal(X, copy)
    table = result.table
    fitted = np.array([e is not None for e in result.estimators_])
    for name in ("log_likelihood", "bic", "aic", "icl"):
        assert np.all(np.isfinite(table[name][fitted]))
        assert np.all(np.isnan(table[name][~fitted]))
    assert np.all(table["icl"][fitted] >= table["bic"][fitted])
    eligible = fitted & ~table["degenerate"].to_numpy()
    if not eligible.any():
        eligible = fitted
    scores = np.where(eligible, table[criterion], np.inf)
    assert result.best_index_ == int(np.argmin(scores))
    for estimator in result.estimators_:
        if estimator is not None:
            for name in ("weights_", "means_", "covariances_", "precisions_"):
                assert np.all(np.isfinite(getattr(estimator, name)))


# --- failures -----------------------------------------------------------------------


def test_failed_models_get_nan_criteria_and_a_warning():
    # Two distinct values: two or three components cannot all have a variance.
    X = np.repeat([[0.0], [1.0]], 20, axis=0)
    with pytest.warns(UserWarning, match=r"2 of 3 models failed .*\(3, 'full', None\)"):
        result = select(X, n_components=[1, 2, 3], covariance_types="full",
                        reg_covar=0.0, random_state=0)  # fmt: skip
    for index in (1, 2):
        row = result.table.iloc[index]
        assert np.isnan(row["bic"]) and np.isnan(row["log_likelihood"])
        assert not row["converged"]
        assert result.estimators_[index] is None
    assert result.best_index_ == 0
    assert_allclose(result.best_estimator_.covariances_, [[[0.25]]])


def test_all_models_failing_is_an_error_naming_reg_covar():
    X = np.repeat([[0.0], [1.0]], 20, axis=0)
    with pytest.raises(ValueError, match="Every model of the grid failed.*reg_covar"):
        select(X, n_components=[2, 3], covariance_types="full", reg_covar=0.0)


def test_convergence_is_reported_once():
    X = datasets.load_iris().data
    with pytest.warns(ConvergenceWarning, match="models did not converge"):
        result = select(X, n_components=[2, 3], max_iter=1, random_state=0)
    assert not result.table["converged"].any()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"criterion": "BIC"}, ValueError, "criterion must be one of"),
        ({"n_components": 0}, ValueError, r"in \[1, n_samples = 30\]"),
        ({"n_components": [2, 31]}, ValueError, r"in \[1, n_samples = 30\], got 31"),
        ({"n_components": []}, ValueError, "n_components is empty"),
        ({"n_components": 2.5}, TypeError, "int or an iterable of ints"),
        ({"n_components": [1, 2.0]}, TypeError, "must hold ints"),
        ({"covariance_types": "ful"}, ValueError, "covariance_types must be among"),
        ({"covariance_types": []}, ValueError, "covariance_types is empty"),
        ({"n_init": 0}, ValueError, "n_init must be an integer >= 1"),
        ({"priors": []}, ValueError, "priors is empty"),
        ({"n_iter": 5}, TypeError, "unexpected keyword argument 'n_iter'"),
        ({"means_init": [[0, 0]]}, TypeError, "chooses 'means_init' itself"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, message):
    X = blobs(0, n_samples=30)
    with pytest.raises(error, match=message):
        select(X, **kwargs)


def test_bad_data_is_rejected():
    with pytest.raises(ValueError, match="infinity"):
        select(np.array([[0.0, 1.0], [np.inf, 2.0], [1.0, 1.0]]), n_components=[1])
    with pytest.raises(ValueError, match="minimum of 2"):
        select(np.zeros((1, 2)), n_components=[1])


def test_bad_gaussian_mixture_parameters_fail_before_fitting(monkeypatch):
    monkeypatch.setattr(_selection, "_fit_chain", None)  # never reached
    with pytest.raises(ValueError, match="'tol' parameter of GaussianMixture"):
        select(blobs(0), n_components=[1], tol=-1.0)


def test_priors_on_and_off_are_rows_of_the_grid():
    X = blobs(0)
    result = select(
        X, n_components=[1, 2], covariance_types=("full",), priors=(None, "default")
    )
    table = result.table
    assert list(table["prior"]) == [None, None, "default", "default"]
    for row, model in zip(table.itertuples(), result.estimators_):
        assert model.prior == row.prior
        assert model.n_components == row.n_components
        assert np.isfinite(row.log_likelihood)
    with pytest.raises(ValueError, match="'prior' parameter"):
        select(X, n_components=[1], priors=("uniform",))


# --- R's mclust on iris and wine ----------------------------------------------------


def mclust_models():
    return [
        pytest.param(model, id=f"{model['dataset']}-{model['model']}-{model['G']}")
        for model in MCLUST["models"]
    ]


def from_mclust(model, **params):
    """A GaussianMixture starting at (max_iter=0: fitted to) mclust's parameters."""
    X = DATASETS[model["dataset"]]().data
    K, d = model["G"], X.shape[1]
    covariance_type = MCLUST_NAMES[model["model"]]
    sigma = np.reshape(model["sigma"], (K, d, d))
    covariances = {
        "full": sigma,
        "tied": sigma[0],
        "diag": np.diagonal(sigma, axis1=1, axis2=2),
        "spherical": sigma[:, 0, 0],
    }[covariance_type]
    precisions = (
        np.linalg.inv(covariances)
        if covariance_type in ("full", "tied")
        else 1.0 / covariances
    )
    estimator = GaussianMixture(
        K,
        covariance_type=covariance_type,
        weights_init=np.asarray(model["pro"]) / np.sum(model["pro"]),
        means_init=np.reshape(model["mean"], (K, d)),
        precisions_init=precisions,
        **params,
    )
    return estimator.fit(X), X


@pytest.mark.parametrize("model", mclust_models())
def test_log_likelihood_at_mclust_parameters_is_mclust_loglik(model):
    estimator, X = from_mclust(model, max_iter=0, reg_covar=0.0)
    n = X.shape[0]
    log_likelihood = estimator.score(X) * n
    assert_allclose(
        log_likelihood, model["loglik_at_parameters"], rtol=MCLUST_SCORE_RTOL
    )
    # The same parameter count, and mclust's BIC is minus fastem's.
    assert estimator._n_parameters() == model["npar"]
    assert_allclose(
        -estimator.bic(X), model["bic_at_parameters"], rtol=MCLUST_SCORE_RTOL
    )
    # mclust's ICL, from hard MAP labels (documented in fastem.select).
    resp = estimator.predict_proba(X)
    hard_icl = estimator.bic(X) - 2 * np.sum(np.log(np.max(resp, axis=1)))
    assert_allclose(-hard_icl, model["icl_at_parameters"], rtol=MCLUST_SCORE_RTOL)


@pytest.mark.parametrize("model", mclust_models())
def test_em_from_mclust_parameters_keeps_mclust_maximum(model):
    estimator, X = from_mclust(model, reg_covar=0.0, tol=1e-10, max_iter=1000)
    log_likelihood = estimator.score(X) * X.shape[0]
    reached = model["loglik_at_parameters"]
    assert log_likelihood >= reached - MCLUST_FIT_RTOL * abs(reached)


def test_select_table_reaches_mclust_log_likelihoods_on_iris():
    # On raw wine, EM from k-means starts and mclust's hierarchical starts end in
    # different local maxima, either higher: there only EM continued from mclust's
    # parameters is compared (test_em_from_mclust_parameters_keeps_mclust_maximum).
    X = datasets.load_iris().data
    result = select(X, n_components=range(1, 5), random_state=0, reg_covar=0.0,
                    tol=1e-8, max_iter=1000)  # fmt: skip
    table = result.table.set_index(["covariance_type", "n_components"])
    for model in MCLUST["models"]:
        if model["dataset"] != "iris":
            continue
        row = table.loc[(MCLUST_NAMES[model["model"]], model["G"])]
        assert row["n_parameters"] == model["npar"]
        reached = model["loglik_at_parameters"]
        assert row["log_likelihood"] >= reached - MCLUST_FIT_RTOL * abs(reached)
    # The same choice as mclust's BIC among these models: VVV with 2 components.
    mclust_best = max(
        (m for m in MCLUST["models"] if m["dataset"] == "iris"), key=lambda m: m["bic"]
    )
    assert result.best_params_["covariance_type"] == MCLUST_NAMES[mclust_best["model"]]
    assert result.best_params_["n_components"] == mclust_best["G"]


# --- GaussianMixtureIC --------------------------------------------------------------


@parametrize_with_checks(
    [
        GaussianMixtureIC(
            [1, 2], covariance_types=("diag", "full"), gm_params={"max_iter": 5}
        )
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        # Tiny grids of scikit-learn's check data collapse into degenerate fits.
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)


def test_estimator_is_select_with_delegated_methods():
    X = datasets.load_wine().data
    grid = dict(n_components=(1, 2, 3), covariance_types=("diag", "full"))
    grid["random_state"] = 0
    model = GaussianMixtureIC(**grid, gm_params={"reg_covar": 1e-4}).fit(X)
    result = select(X, **grid, reg_covar=1e-4)
    pd.testing.assert_frame_equal(model.table_, result.table)
    assert model.best_params_ == result.best_params_
    assert model.best_index_ == result.best_index_
    assert_identical_fit(model.best_estimator_, result.best_estimator_)
    for method in ("predict", "predict_proba", "score_samples", "score", "bic", "aic"):
        assert_array_equal(
            getattr(model, method)(X), getattr(result.best_estimator_, method)(X)
        )
    assert model.n_features_in_ == 13
    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.predict(X), model.predict(X))
    with pytest.raises(NotFittedError):
        clone(model).predict(X)


def test_estimator_in_a_pipeline_with_feature_names():
    iris = datasets.load_iris(as_frame=True)
    pipeline = make_pipeline(
        StandardScaler().set_output(transform="pandas"),
        GaussianMixtureIC([2, 3], covariance_types="full", random_state=0),
    ).fit(iris.data)
    model = pipeline[-1]
    assert_array_equal(model.feature_names_in_, iris.data.columns)
    assert pipeline.predict(iris.data).shape == (150,)


def test_missing_values_are_selected_over_as_fit_takes_them():
    """select, GaussianMixtureIC and their models take NaN as fit does: each row of
    the table is the model fit gives on the same data."""
    X = blobs(0).copy()
    X[np.random.default_rng(1).random(X.shape) < 0.15] = np.nan
    X[3] = np.nan  # nothing observed
    result = select(
        X, n_components=[1, 2, 3], covariance_types=("full", "diag"),
        warm_start=False, random_state=0,
    )  # fmt: skip
    for estimator in result.estimators_:
        refit = GaussianMixture(
            estimator.n_components,
            covariance_type=estimator.covariance_type,
            random_state=0,
        ).fit(X)
        assert_allclose(estimator.means_, refit.means_, rtol=1e-12)
    row = result.best_index_
    assert_allclose(
        result.table["log_likelihood"][row],
        result.best_estimator_.score(X) * len(X),
        rtol=1e-12,
    )
    model = GaussianMixtureIC([1, 2, 3], random_state=0).fit(X)
    assert model.predict(X).shape == (len(X),)
    assert np.isfinite(model.bic(X))
    warm = select(X, n_components=[1, 2, 3], covariance_types="full", random_state=0)
    assert warm.best_params_["n_components"] == result.best_params_["n_components"]
