"""BernoulliMixture and MultinomialMixture: EM on binary features and counts, dense or
sparse.

Oracles: independent maths (scipy.stats' Bernoulli and multinomial probability mass,
one EM step written out in NumPy, brute force over the components), the same model
fitted on the same data in another form (sparse against dense, weights against
repeated rows), and real data shipped with scikit-learn (digits) and lda (Reuters).
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

import fastem
from fastem import BernoulliMixture, MultinomialMixture

MODELS = (BernoulliMixture, MultinomialMixture)

ignore_convergence = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


def binary_data(seed=0, n_samples=600, n_features=12, n_components=3):
    """Rows of a Bernoulli mixture with well separated probabilities."""
    rng = np.random.default_rng(seed)
    prob = rng.choice([0.1, 0.9], size=(n_components, n_features))
    labels = rng.integers(n_components, size=n_samples)
    return (rng.random((n_samples, n_features)) < prob[labels]).astype(float), labels


def count_data(seed=0, n_samples=500, n_features=30, n_components=3, length=40):
    """Rows of a multinomial mixture (documents of ``length`` words)."""
    rng = np.random.default_rng(seed)
    theta = rng.dirichlet(np.full(n_features, 0.3), size=n_components)
    labels = rng.integers(n_components, size=n_samples)
    X = np.stack([rng.multinomial(length, theta[k]) for k in labels]).astype(float)
    return X, labels


def data_for(model_class, seed=0, **kwargs):
    if model_class is BernoulliMixture:
        return binary_data(seed, **kwargs)
    return count_data(seed, **kwargs)


def start_for(model_class, n_components, n_features, seed=1):
    """weights_init and feature_prob_init drawn at random."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(n_components))
    if model_class is BernoulliMixture:
        prob = rng.uniform(0.2, 0.8, size=(n_components, n_features))
    else:
        prob = rng.dirichlet(np.ones(n_features), size=n_components)
    return {"weights_init": weights, "feature_prob_init": prob}


def component_log_pmf(model_class, X, weights, prob):
    """log w_k + log p(x_n | k), (n, K), by scipy.stats (NaN features skipped)."""
    out = np.empty((X.shape[0], len(weights)))
    for k in range(len(weights)):
        if model_class is BernoulliMixture:
            observed = ~np.isnan(X)
            terms = stats.bernoulli.logpmf(np.nan_to_num(X), prob[k])
            out[:, k] = np.sum(np.where(observed, terms, 0.0), axis=1)
        else:
            out[:, k] = stats.multinomial.logpmf(X, X.sum(axis=1), prob[k])
        out[:, k] += np.log(weights[k])
    return out


def em_step(model_class, X, weights, prob, alpha, sample_weight=None):
    """One EM step written out: responsibilities, then smoothed expected counts."""
    log_joint = component_log_pmf(model_class, X, weights, prob)
    resp = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
    if sample_weight is not None:
        resp = resp * sample_weight[:, None]
    nk = resp.sum(axis=0)
    observed = ~np.isnan(X)
    counts = resp.T @ np.where(observed, X, 0.0)
    if model_class is BernoulliMixture:
        mass = resp.T @ observed
        new_prob = (counts + alpha) / (mass + 2 * alpha)
    else:
        new_prob = (counts + alpha) / (
            counts.sum(axis=1, keepdims=True) + alpha * X.shape[1]
        )
    return nk / nk.sum(), new_prob


# --- the maths --------------------------------------------------------------------


@pytest.mark.parametrize("model_class", MODELS)
def test_score_samples_is_the_log_probability_mass(model_class):
    X, _ = data_for(model_class, n_samples=50)
    start = start_for(model_class, 3, X.shape[1])
    model = model_class(3, max_iter=0, **start).fit(X)
    want = logsumexp(
        component_log_pmf(
            model_class, X, start["weights_init"], start["feature_prob_init"]
        ),
        axis=1,
    )
    assert_allclose(model.score_samples(X), want, rtol=1e-11)
    resp = np.exp(
        component_log_pmf(
            model_class, X, start["weights_init"], start["feature_prob_init"]
        )
        - want[:, None]
    )
    assert_allclose(model.predict_proba(X), resp, rtol=1e-10, atol=1e-14)
    assert_array_equal(model.predict(X), np.argmax(resp, axis=1))


@pytest.mark.parametrize("alpha", [0.0, 1.0, 0.3])
@pytest.mark.parametrize("model_class", MODELS)
def test_one_em_step_is_the_textbook_step(model_class, alpha):
    X, _ = data_for(model_class, n_samples=200)
    start = start_for(model_class, 3, X.shape[1])
    weight = np.random.default_rng(2).uniform(0, 2, size=len(X))
    model = model_class(3, alpha=alpha, max_iter=1, tol=0, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, sample_weight=weight)
    weights, prob = em_step(
        model_class, X, start["weights_init"], start["feature_prob_init"], alpha, weight
    )
    assert_allclose(model.weights_, weights, rtol=1e-11)
    assert_allclose(np.exp(model.feature_log_prob_), prob, rtol=1e-11)


def test_missing_bernoulli_features_drop_out():
    X, _ = binary_data(n_samples=100)
    X[np.random.default_rng(3).random(X.shape) < 0.3] = np.nan
    start = start_for(BernoulliMixture, 3, X.shape[1])
    model = BernoulliMixture(3, alpha=0.5, max_iter=1, tol=0, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    weights, prob = em_step(
        BernoulliMixture, X, start["weights_init"], start["feature_prob_init"], 0.5
    )
    assert_allclose(np.exp(model.feature_log_prob_), prob, rtol=1e-11)
    log_joint = component_log_pmf(BernoulliMixture, X, model.weights_, prob)
    assert_allclose(model.score_samples(X), logsumexp(log_joint, axis=1), rtol=1e-10)


def test_impute_fills_missing_values_with_their_conditional_probability():
    X, _ = binary_data(n_samples=300)
    holes = np.random.default_rng(4).random(X.shape) < 0.2
    X_holes = np.where(holes, np.nan, X)
    model = BernoulliMixture(3, random_state=0).fit(X_holes)
    imputed = model.impute(X_holes)
    assert_array_equal(imputed[~holes], X[~holes])
    resp = model.predict_proba(X_holes)
    want = resp @ np.exp(model.feature_log_prob_)
    assert_allclose(imputed[holes], want[holes], rtol=1e-12)
    assert np.all((imputed >= 0) & (imputed <= 1))
    assert not np.isnan(X_holes).all() and np.isnan(X_holes).any()  # input untouched


@pytest.mark.parametrize("model_class", MODELS)
def test_lower_bound_never_decreases(model_class):
    X, _ = data_for(model_class, seed=5)
    model = model_class(4, random_state=0, tol=0, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-12 * abs(model.lower_bound_))


@pytest.mark.parametrize("model_class", MODELS)
def test_lower_bound_is_the_mean_log_likelihood_plus_the_prior(model_class):
    X, _ = data_for(model_class, seed=6)
    start = start_for(model_class, 2, X.shape[1])
    for alpha in (0.0, 1.0):
        model = model_class(2, alpha=alpha, max_iter=1, tol=0, **start)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X)
        # The lower bound is that of the start, before the one M-step.
        log_lik = logsumexp(
            component_log_pmf(
                model_class, X, start["weights_init"], start["feature_prob_init"]
            ),
            axis=1,
        ).sum()
        prob = start["feature_prob_init"]
        if alpha == 0:
            log_prior = 0.0
        elif model_class is BernoulliMixture:
            log_prior = stats.beta(alpha + 1, alpha + 1).logpdf(prob).sum()
        else:
            log_prior = sum(
                stats.dirichlet(np.full(X.shape[1], alpha + 1)).logpdf(p) for p in prob
            )
        assert_allclose(model.lower_bound_, (log_lik + log_prior) / len(X), rtol=1e-11)


# --- the same fit from other forms of the data -------------------------------------


@ignore_convergence
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("model_class", MODELS)
def test_sparse_rows_give_the_dense_fit(model_class, index_dtype):
    X, _ = data_for(model_class, seed=7)
    start = start_for(model_class, 3, X.shape[1])
    dense = model_class(3, max_iter=10, tol=0, **start).fit(X)
    sparse_X = sp.csr_array(X)
    sparse_X.indices = sparse_X.indices.astype(index_dtype)
    sparse_X.indptr = sparse_X.indptr.astype(index_dtype)
    sparse = model_class(3, max_iter=10, tol=0, **start).fit(sparse_X)
    assert_allclose(sparse.feature_log_prob_, dense.feature_log_prob_, rtol=1e-11)
    assert_allclose(sparse.lower_bounds_, dense.lower_bounds_, rtol=1e-12)
    assert_allclose(sparse.score_samples(sparse_X), dense.score_samples(X), rtol=1e-12)


@ignore_convergence
@pytest.mark.parametrize(
    "init_params", ["k-means++", "kmeans", "random", "random_from_data"]
)
@pytest.mark.parametrize("model_class", MODELS)
def test_integer_weights_are_repeated_rows(model_class, init_params):
    X, _ = data_for(model_class, seed=8, n_samples=120)
    repeats = np.random.default_rng(0).integers(1, 3, size=len(X))
    start = start_for(model_class, 3, X.shape[1])
    model = model_class(3, max_iter=5, tol=0, **start)
    weighted = clone(model).fit(X, sample_weight=repeats)
    repeated = clone(model).fit(np.repeat(X, repeats, axis=0))
    assert_allclose(weighted.feature_log_prob_, repeated.feature_log_prob_, rtol=1e-10)
    assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-10)
    # Every init runs with weights (the draws differ from repeated rows').
    model = model_class(3, init_params=init_params, random_state=0, max_iter=3)
    model.fit(X, sample_weight=repeats)
    assert np.all(np.isfinite(model.feature_log_prob_))


@ignore_convergence
@pytest.mark.parametrize("model_class", MODELS)
def test_float32_rows_give_float32_attributes_close_to_float64(model_class):
    X, _ = data_for(model_class, seed=9)
    start = start_for(model_class, 3, X.shape[1])
    fit64 = model_class(3, max_iter=10, tol=0, **start).fit(X)
    fit32 = model_class(3, max_iter=10, tol=0, **start).fit(X.astype(np.float32))
    assert fit32.feature_log_prob_.dtype == np.float32
    assert_allclose(fit32.feature_log_prob_, fit64.feature_log_prob_, rtol=1e-5)


@pytest.mark.parametrize("model_class", MODELS)
def test_results_do_not_depend_on_threads(model_class):
    from threadpoolctl import threadpool_limits

    X, _ = data_for(model_class, seed=10, n_samples=3000)
    fits = []
    for n_threads in (1, 2, 3):
        with threadpool_limits(n_threads, user_api="openmp"):
            fits.append(model_class(4, random_state=0).fit(sp.csr_array(X)))
    for other in fits[1:]:
        assert_array_equal(other.feature_log_prob_, fits[0].feature_log_prob_)
        assert_array_equal(other.lower_bounds_, fits[0].lower_bounds_)


# --- the estimator's API ------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("model_class", MODELS)
def test_fit_predict_is_fit_then_predict(model_class):
    X, _ = data_for(model_class, seed=11)
    labels = model_class(3, random_state=0, max_iter=4).fit_predict(X)
    model = model_class(3, random_state=0, max_iter=4).fit(X)
    assert_array_equal(labels, model.predict(X))


@pytest.mark.parametrize("model_class", MODELS)
def test_partial_fit_learns_a_stream(model_class):
    X, labels = data_for(model_class, seed=12, n_samples=30_000)
    model = model_class(3, random_state=0)
    for start in range(0, len(X), 300):
        model.partial_fit(X[start : start + 300])
    assert model.n_batch_iter_ == 100
    assert adjusted_rand_score(labels, model.predict(X)) > 0.85


@pytest.mark.parametrize("model_class", MODELS)
def test_sample_draws_from_the_components(model_class):
    X, _ = data_for(model_class, seed=13)
    model = model_class(3, random_state=0).fit(X)
    samples, components = model.sample(20_000)
    assert samples.shape == (20_000, X.shape[1])
    assert_allclose(np.bincount(components) / 20_000, model.weights_, atol=0.02)
    for k in range(3):
        rows = samples[components == k]
        if model_class is BernoulliMixture:
            assert_allclose(
                rows.mean(axis=0), np.exp(model.feature_log_prob_[k]), atol=0.05
            )
        else:
            assert_allclose(rows.sum(axis=1), round(model.mean_count_))


@pytest.mark.parametrize("model_class", MODELS)
def test_save_and_load_round_trip(model_class, tmp_path):
    X, _ = data_for(model_class, seed=14)
    model = model_class(3, random_state=0).fit(X)
    model.save(tmp_path / "model.npz")
    loaded = fastem.load(tmp_path / "model.npz")
    assert type(loaded) is model_class
    assert_array_equal(loaded.feature_log_prob_, model.feature_log_prob_)
    assert_array_equal(loaded.score_samples(X), model.score_samples(X))


@pytest.mark.parametrize("model_class", MODELS)
def test_bic_and_aic_count_the_free_parameters(model_class):
    X, _ = data_for(model_class, seed=15)
    model = model_class(3, random_state=0).fit(X)
    d = X.shape[1]
    n_free = 3 * d + 2 if model_class is BernoulliMixture else 3 * (d - 1) + 2
    log_lik = model.score(X) * len(X)
    assert_allclose(model.bic(X), -2 * log_lik + n_free * np.log(len(X)))
    assert_allclose(model.aic(X), -2 * log_lik + 2 * n_free)


def test_a_component_that_loses_its_mass_is_reseeded():
    X, _ = binary_data(seed=16, n_samples=200, n_components=2)
    start = start_for(BernoulliMixture, 3, X.shape[1])
    start["weights_init"] = np.array([0.5, 0.5 - 1e-300, 1e-300])
    model = BernoulliMixture(3, max_iter=20, **start).fit(X)
    assert model.n_reseeds_ >= 1
    assert np.all(model.weights_ > 1e-3)
    with pytest.raises(ValueError, match="lost all their responsibility mass"):
        BernoulliMixture(3, max_iter=20, on_degenerate="raise", **start).fit(X)


# --- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "model_class, X, message",
    [
        (BernoulliMixture, [[0, 1], [2, 0]], r"X\[1, 0\] = 2.0 is not 0 or 1"),
        (BernoulliMixture, sp.csr_array([[0, 1], [0, 0.5]]), r"X\[1, 1\] = 0.5"),
        (
            MultinomialMixture,
            [[0, 1], [3, -1]],
            r"X\[1, 1\] = -1.0 is not a non-negative",
        ),
        (MultinomialMixture, [[0, 1], [np.nan, 1]], "NaN"),
        (MultinomialMixture, sp.csr_array([[0, -2], [1, 1]]), r"X\[0, 1\] = -2.0"),
    ],
)
def test_bad_values_are_named(model_class, X, message):
    with pytest.raises(ValueError, match=message):
        model_class(1).fit(X)


@pytest.mark.parametrize("model_class", MODELS)
def test_bad_initial_parameters_are_refused(model_class):
    X, _ = data_for(model_class)
    with pytest.raises(ValueError, match="shape"):
        model_class(2, feature_prob_init=np.full((3, X.shape[1]), 0.5)).fit(X)
    with pytest.raises(ValueError, match="feature_prob_init"):
        model_class(2, feature_prob_init=np.zeros((2, X.shape[1]))).fit(X)
    with pytest.raises(ValueError, match="weights_init"):
        model_class(2, weights_init=[0.7, 0.7]).fit(X)


@pytest.mark.parametrize("model_class", MODELS)
def test_too_few_rows_and_wrong_widths_are_refused(model_class):
    X, _ = data_for(model_class, n_samples=5)
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        model_class(6).fit(X)
    model = model_class(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :-1])


# --- real data ----------------------------------------------------------------------


def test_binarised_digits_cluster_by_digit():
    digits = load_digits()
    X = (digits.data > 7).astype(float)
    model = BernoulliMixture(10, n_init=3, random_state=0).fit(sp.csr_array(X))
    assert model.converged_
    assert adjusted_rand_score(digits.target, model.predict(X)) > 0.45


def test_reuters_news_cluster_by_topic_words():
    lda = pytest.importorskip("lda.datasets")
    X = sp.csr_array(lda.load_reuters())
    vocab = lda.load_reuters_vocab()
    model = MultinomialMixture(8, random_state=0).fit(X)
    assert model.converged_
    top = np.argsort(model.feature_log_prob_, axis=1)[:, ::-1][:, :10]
    words = {vocab[j] for row in top for j in row}
    # Royal news and church news are among the corpus's stories.
    assert {"church", "pope"} & words and "charles" in words


# --- sparse rows out of core --------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("model_class", MODELS)
def test_sparse_chunks_and_dask_blocks_give_the_in_memory_fit(model_class):
    """CSR chunks of a callable, and a Dask array of CSR blocks, run the same kernels
    and add the same statistics."""
    X, _ = data_for(model_class, seed=17)
    start = start_for(model_class, 3, X.shape[1])
    params = dict(max_iter=6, tol=0, **start)
    want = model_class(3, **params).fit(sp.csr_array(X))
    csr = sp.csr_array(X)
    chunks = lambda: (csr[start : start + 97] for start in range(0, len(X), 97))  # noqa: E731
    sources = {"chunks": chunks}
    da = pytest.importorskip("dask.array")
    pytest.importorskip("distributed")
    sources["dask"] = da.from_array(sp.csr_matrix(X), chunks=(150, X.shape[1]))
    for name, source in sources.items():
        got = model_class(3, **params).fit(source)
        assert_allclose(
            got.feature_log_prob_, want.feature_log_prob_, rtol=1e-10, err_msg=name
        )
        assert_allclose(got.lower_bounds_, want.lower_bounds_, rtol=1e-12)
        labels = np.asarray(got.predict(source))
        assert_array_equal(labels, want.predict(csr))
    with pytest.raises(TypeError, match="model reads dense rows"):
        fastem.GaussianMixture(2).fit(chunks)
