"""ProbabilisticPCA, FactorAnalysis and LowRankImputer: the closed-form solution on
complete data, scikit-learn's FactorAnalysis, missing entries dense and sparse, the
lower bound that never falls, recommendations, imputation, out-of-core sources and
clear errors."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import multivariate_normal
from sklearn.decomposition import FactorAnalysis as SkFactorAnalysis
from sklearn.decomposition._factor_analysis import _ortho_rotation
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem import FactorAnalysis, LowRankImputer, ProbabilisticPCA
from fastem.decomposition._factor_models import _orthogonal_rotation

MODELS = [ProbabilisticPCA, FactorAnalysis]


def low_rank(
    seed=0, n_samples=1000, n_features=10, n_components=3, missing=0.0, shift=5.0
):
    """Rows of a factor model (feature noise between 0.1 and 1), a fraction of the
    entries NaN; the complete rows too."""
    rng = np.random.default_rng(seed)
    loadings = rng.normal(size=(n_features, n_components))
    noise = rng.uniform(0.1, 1.0, size=n_features)
    complete = rng.normal(size=(n_samples, n_components)) @ loadings.T + shift
    complete += np.sqrt(noise) * rng.normal(size=complete.shape)
    X = complete.copy()
    X[rng.random(X.shape) < missing] = np.nan
    return X, complete


def as_csr(X):
    rows, cols = np.nonzero(~np.isnan(X))
    return sp.csr_array((X[rows, cols], (rows, cols)), shape=X.shape)


def closed_form_ppca(X, n_components):
    """Tipping & Bishop's maximum-likelihood PPCA: W from the top eigenvectors of the
    covariance, sigma^2 the mean of the discarded eigenvalues; its mean
    log-likelihood."""
    mean = X.mean(axis=0)
    eigenvalues, vectors = np.linalg.eigh(np.cov(X.T, bias=True))
    eigenvalues, vectors = eigenvalues[::-1], vectors[:, ::-1]
    sigma2 = eigenvalues[n_components:].mean()
    W = vectors[:, :n_components] * np.sqrt(eigenvalues[:n_components] - sigma2)
    cov = W @ W.T + sigma2 * np.eye(X.shape[1])
    return W, sigma2, multivariate_normal(mean, cov).logpdf(X).mean()


# --- complete data: the closed form and scikit-learn ----------------------------------


@pytest.mark.parametrize("acceleration", ["squarem", None])
def test_ppca_reaches_the_closed_form_on_complete_data(acceleration):
    _, X = low_rank(n_features=8)
    W, sigma2, log_likelihood = closed_form_ppca(X, 3)
    # Rows read in chunks start from 60 of them, away from the solution: EM has to
    # get there.
    model = ProbabilisticPCA(
        3, tol=1e-13, acceleration=acceleration, init_sample_size=60, random_state=0
    )
    model.fit(lambda: iter([X[:500], X[500:]]))
    assert model.n_iter_ > 3
    assert abs(model.score(X) - log_likelihood) <= 1e-8 * abs(log_likelihood)
    assert_allclose(model.noise_variance_, sigma2, rtol=1e-6)
    assert_allclose(model.get_covariance(), W @ W.T + sigma2 * np.eye(8), atol=1e-6)
    assert_allclose(model.mean_, X.mean(axis=0), rtol=1e-6)
    assert model.converged_
    # In memory the start is the closed form itself.
    assert abs(ProbabilisticPCA(3).fit(X).score(X) - log_likelihood) <= 1e-12 * abs(
        log_likelihood
    )


def test_factor_analysis_reaches_scikit_learns_likelihood():
    _, X = low_rank(seed=1, n_features=12)
    ours = FactorAnalysis(3, tol=1e-8).fit(X)
    theirs = SkFactorAnalysis(3, tol=1e-8, max_iter=5000).fit(X)
    assert abs(ours.score(X) - theirs.score(X)) <= 1e-6 * abs(theirs.score(X))
    assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-5)
    assert_allclose(ours.noise_variance_, theirs.noise_variance_, rtol=1e-3)
    assert_allclose(ours.get_covariance(), theirs.get_covariance(), atol=1e-3)
    assert_allclose(ours.mean_, theirs.mean_, rtol=1e-10)
    assert ours.components_.shape == theirs.components_.shape == (3, 12)
    assert_allclose(ours.loglike_[-1], ours.lower_bound_ * 1000, rtol=1e-12)
    # Its methods on the same fit: the posterior means of the factors, the precision.
    sklearn_like = SkFactorAnalysis(3)
    for name in ("components_", "noise_variance_", "mean_"):
        setattr(sklearn_like, name, getattr(ours, name))
    assert_allclose(ours.transform(X), sklearn_like.transform(X), rtol=1e-8, atol=1e-10)
    assert_allclose(
        ours.get_precision(),
        np.linalg.inv(ours.get_covariance()),
        rtol=1e-8,
        atol=1e-10,
    )
    assert_allclose(
        ours.get_precision(), sklearn_like.get_precision(), rtol=1e-8, atol=1e-10
    )


def test_factor_analysis_takes_scikit_learns_parameters():
    ours, theirs = FactorAnalysis(), SkFactorAnalysis()
    shared = theirs.get_params()
    assert {key: ours.get_params()[key] for key in shared} == shared
    assert set(ours.get_params()) - set(shared) == {
        "alpha",
        "acceleration",
        "verbose",
        "init_sample_size",
    }


@pytest.mark.parametrize("method", ["varimax", "quartimax"])
def test_rotations_are_scikit_learns(method):
    loadings = np.random.default_rng(0).normal(size=(12, 3))
    assert_allclose(
        _orthogonal_rotation(loadings, method),
        _ortho_rotation(loadings, method),
        rtol=1e-12,
    )
    _, X = low_rank(seed=2)
    plain = FactorAnalysis(3, tol=1e-6).fit(X)
    rotated = FactorAnalysis(3, tol=1e-6, rotation=method).fit(X)
    assert_allclose(rotated.get_covariance(), plain.get_covariance(), rtol=1e-10)
    assert_allclose(rotated.score(X), plain.score(X), rtol=1e-12)


# --- missing entries -----------------------------------------------------------------


@pytest.mark.parametrize("model_class", MODELS)
@pytest.mark.parametrize("acceleration", ["squarem", None])
@pytest.mark.parametrize("alpha", [0.0, 2.0])
@pytest.mark.parametrize("sparse", [False, True])
def test_lower_bound_never_decreases(model_class, acceleration, alpha, sparse):
    X, _ = low_rank(seed=3, n_samples=400, missing=0.5)
    data = as_csr(X) if sparse else X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = model_class(
            3, tol=0, max_iter=40, alpha=alpha, acceleration=acceleration
        ).fit(data)
    bounds = np.array(model.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    if acceleration is None:
        assert model.n_passes_ == model.n_iter_ == 40
    else:
        assert 3 * 40 <= model.n_passes_ <= 4 * 40


@pytest.mark.parametrize("model_class", MODELS)
def test_the_lower_bound_is_the_mean_log_likelihood_plus_the_prior(model_class):
    X, _ = low_rank(seed=4, n_samples=300, missing=0.3)
    alpha = 3.0
    model = model_class(3, alpha=alpha, tol=1e-10, max_iter=2000).fit(X)
    # At convergence the last E-step's parameters are (to tol) the fitted ones.
    log_prior = -0.5 * alpha * np.sum(model.components_**2) + 0.5 * 30 * np.log(
        alpha / (2 * np.pi)
    )
    assert_allclose(model.lower_bound_, model.score(X) + log_prior / 300, rtol=1e-8)
    # The prior shrinks the loadings.
    free = model_class(3, tol=1e-10, max_iter=2000).fit(X)
    assert np.sum(model.components_**2) < np.sum(free.components_**2)


@pytest.mark.parametrize("model_class", MODELS)
def test_dense_with_nan_and_sparse_give_the_same_fit(model_class):
    X, _ = low_rank(seed=5, n_samples=500, missing=0.4)
    dense = model_class(3, tol=1e-8, random_state=0).fit(X)
    sparse = model_class(3, tol=1e-8, random_state=0).fit(as_csr(X))
    for name in ("components_", "mean_", "noise_variance_"):
        assert_allclose(
            getattr(sparse, name),
            getattr(dense, name),
            rtol=1e-7,
            atol=1e-9,
            err_msg=name,
        )
    assert_allclose(sparse.score_samples(as_csr(X)), dense.score_samples(X), rtol=1e-9)
    assert_allclose(
        sparse.transform(as_csr(X)), dense.transform(X), rtol=1e-6, atol=1e-8
    )


@pytest.mark.parametrize("model_class", MODELS)
def test_missing_entries_are_estimated_well(model_class):
    """On low-rank data with 30% missing, the fit maximises the likelihood of the
    observed entries (above the complete data's fit, scored on them), its covariance
    is the complete data's up to the sampling error of the lost entries (about 2%
    in Frobenius norm), and it predicts the missing entries as well as the true
    parameters do (to 1%, or 5% for the isotropic noise, which is not the truth's)."""
    X, complete = low_rank(seed=6, n_samples=2000, missing=0.3)
    model = model_class(3, tol=1e-8).fit(X)
    truth = model_class(3, tol=1e-8).fit(complete)
    assert model.score(X) > truth.score(X)
    difference = model.get_covariance() - truth.get_covariance()
    assert np.linalg.norm(difference) < 0.04 * np.linalg.norm(truth.get_covariance())
    holes = np.isnan(X)
    imputed = model.impute(X)
    assert_array_equal(imputed[~holes], X[~holes])
    error = np.sqrt(np.mean((imputed - complete)[holes] ** 2))
    # The parameters low_rank drew the rows from.
    rng = np.random.default_rng(6)
    oracle = FactorAnalysis(3).fit(complete)
    oracle.components_ = rng.normal(size=(10, 3)).T.copy()
    oracle.noise_variance_ = rng.uniform(0.1, 1.0, size=10)
    oracle.mean_ = np.full(10, 5.0)
    best = np.sqrt(np.mean((oracle.impute(X) - complete)[holes] ** 2))
    baseline = np.sqrt(np.mean((np.nanmean(X, axis=0) - complete)[holes] ** 2))
    assert best < 0.55 * baseline
    assert error < (1.01 if model_class is FactorAnalysis else 1.05) * best


def test_a_row_observing_nothing_gets_the_priors_answer():
    X, _ = low_rank(seed=7, n_samples=300, missing=0.3)
    X[4] = np.nan
    for data in (X, as_csr(X)):
        model = FactorAnalysis(3, tol=1e-6).fit(data)
        assert_array_equal(model.transform(data)[4], 0.0)
        assert model.score_samples(data)[4] == 0.0
        values = model.predict_entries(data, [4, 4], [0, 9])
        assert_allclose(values, model.mean_[[0, 9]], rtol=1e-12)
        top = model.recommend(data, [4], n=3, return_scores=True)
        order = np.argsort(-model.mean_, kind="stable")[:3]
        assert_array_equal(top[0][0], order)
    assert_allclose(model.impute(X)[4], model.mean_)


def test_a_feature_nobody_observes_keeps_its_start():
    X, _ = low_rank(seed=8, n_samples=300, missing=0.3)
    matrix = as_csr(X)
    wider = sp.csr_array((matrix.data, matrix.indices, matrix.indptr), shape=(300, 11))
    model = FactorAnalysis(3, tol=1e-6).fit(wider)
    assert_array_equal(model.components_[:, 10], 0.0)
    assert_allclose(model.mean_[10], np.mean(matrix.data))
    assert np.isfinite(model.lower_bound_)


# --- recommendations -----------------------------------------------------------------


def test_predict_entries_and_recommend_agree():
    X, _ = low_rank(seed=9, n_samples=200, n_features=15, missing=0.6)
    matrix = as_csr(X)
    model = ProbabilisticPCA(3, alpha=1.0).fit(matrix)
    every = model.predict_entries(
        matrix, np.repeat(np.arange(200), 15), np.tile(np.arange(15), 200)
    ).reshape(200, 15)
    assert_allclose(
        every, model.transform(matrix) @ model.components_ + model.mean_, rtol=1e-12
    )
    observed = ~np.isnan(X)
    rows = [0, 7, 199]
    indices, scores = model.recommend(matrix, rows, n=4, return_scores=True)
    for row, top, values in zip(rows, indices, scores):
        candidates = np.where(observed[row], -np.inf, every[row])
        assert_array_equal(top, np.argsort(-candidates, kind="stable")[:4])
        assert_allclose(values, every[row, top], rtol=1e-12)
    everything = model.recommend(matrix, rows, n=15, exclude_observed=False)
    assert_array_equal(everything, np.argsort(-every[rows], axis=1, kind="stable"))
    # Rows for a column: the best unobserved rows of that column.
    columns = [2, 14]
    indices = model.recommend(X, columns=columns, n=5)
    for column, top in zip(columns, indices):
        candidates = np.where(observed[:, column], -np.inf, every[:, column])
        assert_array_equal(top, np.argsort(-candidates, kind="stable")[:5])
    # More than there is to recommend: -1 (and NaN) past the end.
    full = np.where(np.arange(15) < 13, 1.0, np.nan)[np.newaxis]
    top, values = model.recommend(full, [0], n=5, return_scores=True)
    assert_array_equal(top[0, 2:], -1)
    assert np.isnan(values[0, 2:]).all()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, X: m.predict_entries(X, [0, 200], [0, 1]), r"rows must be in \[0"),
        (lambda m, X: m.predict_entries(X, [0, -1], [0, 1]), r"rows must be in \[0"),
        (lambda m, X: m.predict_entries(X, [0, 1], [0, 15]), r"cols must be in \[0"),
        (lambda m, X: m.predict_entries(X, [0, 1], [0]), "the same length"),
        (lambda m, X: m.predict_entries(X, [0.5], [0]), "array of integers"),
        (lambda m, X: m.recommend(X, [0], columns=[1]), "either rows or columns"),
        (lambda m, X: m.recommend(X), "either rows or columns"),
        (lambda m, X: m.recommend(X, [0], n=0), "n must be a positive int"),
        (lambda m, X: m.recommend(X, columns=[15]), r"columns must be in \[0"),
    ],
)
def test_bad_entries_get_a_clear_error(call, message):
    X, _ = low_rank(seed=9, n_samples=200, n_features=15, missing=0.6)
    model = ProbabilisticPCA(3).fit(X)
    with pytest.raises(ValueError, match=message):
        call(model, X)


@pytest.mark.parametrize("model_class", MODELS)
@pytest.mark.parametrize(
    "n_components, message",
    [
        (-1, "n_components"),
        (0, "n_components"),
        (10, "n_components=10 must be less than n_features=10"),
        (12, "n_components=12 must be less than n_features=10"),
    ],
)
def test_bad_n_components_gets_a_clear_error(model_class, n_components, message):
    X, _ = low_rank(n_samples=50)
    with pytest.raises(ValueError, match=message):
        model_class(n_components).fit(X)


@pytest.mark.parametrize(
    "X, error, message",
    [
        (np.array([[1.0, np.inf, 2.0]] * 5), ValueError, "infinity"),
        (
            sp.csr_array(np.array([[1.0, np.nan, 2.0]] * 5)),
            ValueError,
            "stored entries are the observed values",
        ),
    ],
)
def test_bad_values_get_a_clear_error(X, error, message):
    with pytest.raises(error, match=message):
        ProbabilisticPCA(1).fit(X)


def test_impute_needs_dense_rows():
    X, _ = low_rank(n_samples=50, missing=0.2)
    model = FactorAnalysis(2).fit(X)
    with pytest.raises(TypeError, match="predict_entries"):
        model.impute(as_csr(X))


# --- the imputer ---------------------------------------------------------------------


def test_the_imputer_fills_with_the_model_and_draws_from_it():
    X, complete = low_rank(seed=10, n_samples=1500, missing=0.3)
    holes = np.isnan(X)
    imputer = LowRankImputer(3, random_state=0).fit(X)
    filled = imputer.transform(X)
    assert_allclose(filled, imputer.model_.impute(X))
    assert isinstance(imputer.model_, FactorAnalysis)
    assert imputer.n_iter_ == imputer.model_.n_iter_
    drawing = LowRankImputer(3, sample_posterior=True, random_state=0).fit(X)
    draws = np.stack([drawing.transform(X) for _ in range(200)])
    assert_array_equal(
        draws[:, ~holes], np.broadcast_to(X[~holes], (200,) + X[~holes].shape)
    )
    assert not np.array_equal(draws[0], draws[1])
    # Draws scatter around the conditional mean with the conditional variance.
    mean_draw = draws.mean(axis=0)
    assert np.abs(mean_draw - filled)[holes].mean() < 0.1
    spread = np.sqrt(np.mean((draws - filled) ** 2, axis=0))[holes]
    error = np.sqrt(np.mean((filled - complete)[holes] ** 2))
    assert 0.7 * error < spread.mean() < 1.5 * error
    ppca = LowRankImputer(3, noise="isotropic").fit(X)
    assert isinstance(ppca.model_, ProbabilisticPCA)


def test_the_imputer_beats_column_means_on_low_rank_data():
    X, complete = low_rank(
        seed=11, n_samples=2000, n_features=30, n_components=4, missing=0.3
    )
    holes = np.isnan(X)
    filled = LowRankImputer(4).fit_transform(X)
    means = np.where(holes, np.nanmean(X, axis=0), X)
    assert np.sqrt(np.mean((filled - complete)[holes] ** 2)) < 0.5 * np.sqrt(
        np.mean((means - complete)[holes] ** 2)
    )


def test_the_imputer_default_rank():
    X, _ = low_rank(n_samples=100, n_features=5, missing=0.1)
    assert LowRankImputer().fit(X).model_.components_.shape == (4, 5)
    X, _ = low_rank(n_samples=100, n_features=30, missing=0.1)
    assert LowRankImputer().fit(X).model_.components_.shape == (10, 30)


# --- dtypes, weights, threads, sources, persistence ----------------------------------


@pytest.mark.parametrize("model_class", MODELS)
def test_float32_rows_give_float32_attributes_close_to_float64(model_class):
    X, _ = low_rank(seed=12, n_samples=800, missing=0.3)
    wide = model_class(3, tol=1e-10, acceleration=None, max_iter=300).fit(X)
    narrow = model_class(3, tol=1e-10, acceleration=None, max_iter=300).fit(
        X.astype(np.float32)
    )
    assert narrow.components_.dtype == narrow.mean_.dtype == np.float32
    assert np.asarray(narrow.noise_variance_).dtype == np.float32
    assert_allclose(
        narrow.get_covariance(), wide.get_covariance(), rtol=1e-4, atol=1e-5
    )
    assert narrow.transform(X.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("model_class", MODELS)
def test_integer_weights_are_repeated_rows(model_class):
    X, _ = low_rank(seed=13, n_samples=120, missing=0.3)
    weights = np.random.default_rng(0).integers(0, 4, size=120)
    weighted = model_class(3, tol=1e-10, acceleration=None, max_iter=50).fit(
        X, sample_weight=weights
    )
    repeated = model_class(3, tol=1e-10, acceleration=None, max_iter=50).fit(
        np.repeat(X, weights, axis=0)
    )
    assert_allclose(weighted.get_covariance(), repeated.get_covariance(), rtol=1e-6)
    assert_allclose(weighted.mean_, repeated.mean_, rtol=1e-8)


def test_bic_and_aic_count_the_free_parameters():
    X, _ = low_rank(seed=14, n_samples=300)
    for model, k in (
        (ProbabilisticPCA(3).fit(X), 10 * 3 - 3 + 10 + 1),
        (FactorAnalysis(3).fit(X), 10 * 3 - 3 + 10 + 10),
    ):
        total = model.score(X) * 300
        assert_allclose(model.bic(X), -2 * total + k * np.log(300))
        assert_allclose(model.aic(X), -2 * total + 2 * k)


@pytest.mark.parametrize("model_class", MODELS)
def test_sparse_chunks_and_dask_blocks_give_the_in_memory_fit(model_class):
    """CSR chunks of a callable, and a Dask array of CSR blocks, run the same kernel
    and add the same statistics."""
    X, _ = low_rank(seed=15, n_samples=600, missing=0.5)
    csr = as_csr(X)
    params = dict(tol=0, max_iter=6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        want = model_class(3, **params).fit(csr)
        sources = {
            "chunks": lambda: (csr[start : start + 97] for start in range(0, 600, 97))
        }
        da = pytest.importorskip("dask.array")
        pytest.importorskip("distributed")
        sources["dask"] = da.from_array(sp.csr_matrix(csr), chunks=(150, 10))
        sources["dask dense"] = da.from_array(X, chunks=(150, 10))
        for name, source in sources.items():
            got = model_class(3, **params).fit(source)
            assert_allclose(got.components_, want.components_, rtol=1e-9, err_msg=name)
            assert_allclose(got.lower_bounds_, want.lower_bounds_, rtol=1e-11)
            assert_allclose(
                np.asarray(got.transform(source)),
                want.transform(csr),
                rtol=1e-9,
                atol=1e-12,
            )


def test_no_predict_no_partial_fit():
    """A model without discrete components has no labels or responsibilities, and
    no online EM."""
    for name in ("predict", "predict_proba", "fit_predict", "partial_fit"):
        assert not hasattr(ProbabilisticPCA(), name)
        assert not hasattr(FactorAnalysis(), name)


@pytest.mark.parametrize("model_class", MODELS + [LowRankImputer])
def test_save_and_load_round_trip(model_class, tmp_path):
    X, _ = low_rank(seed=16, n_samples=200, missing=0.3)
    model = model_class(2, random_state=0).fit(X)
    model.save(tmp_path / "model.npz")
    loaded = fastem.load(tmp_path / "model.npz")
    assert type(loaded) is model_class
    if model_class is LowRankImputer:
        assert_array_equal(loaded.transform(X), model.transform(X))
    else:
        assert_array_equal(loaded.transform(X), model.transform(X))
        assert loaded.n_passes_ == model.n_passes_


def test_a_tampered_file_is_refused(tmp_path):
    X, _ = low_rank(seed=16, n_samples=200)
    model = FactorAnalysis(2).fit(X)
    model.noise_variance_ = -model.noise_variance_
    model.save(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="noise_variance_ must be positive"):
        fastem.load(tmp_path / "bad.npz")


def test_feature_names_out():
    X, _ = low_rank(n_samples=100)
    model = FactorAnalysis(3).fit(X)
    assert list(model.get_feature_names_out()) == [
        "factoranalysis0",
        "factoranalysis1",
        "factoranalysis2",
    ]
