"""The contract every fastem estimator keeps, checked over all of them: the twin and
the kernels agree, statistics add over any split of the rows, the bits do not depend
on the number of threads, models survive a save and a load, scikit-learn's estimator
checks pass, and bad input gets a clear error.

Each estimator comes with data of its kind (:data:`CASES`); a new model adds a case.

Where an item does not apply, the test says so: models of continuous factors
(ProbabilisticPCA, FactorAnalysis) have no discrete components, so their per-row
outputs are the posterior means of the factors (``transform``) in place of
responsibilities (``predict_proba``), and the fused pass has no two halves
(per-component log-densities and statistics given responsibilities) to compare.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

import fastem
from _builders import RandomData
from fastem import (
    BernoulliMixture,
    FactorAnalysis,
    GaussianMixture,
    LowRankImputer,
    MultinomialMixture,
    ProbabilisticPCA,
)
from fastem._engine.sources import ArraySource


def gaussian_rows(seed=0, n_samples=400):
    return RandomData(seed=seed, n_samples=n_samples, n_features=3).X["full"]


def binary_rows(seed=0, n_samples=400):
    rng = np.random.default_rng(seed)
    prob = rng.choice([0.15, 0.85], size=(3, 10))
    labels = rng.integers(3, size=n_samples)
    return (rng.random((n_samples, 10)) < prob[labels]).astype(float)


def count_rows(seed=0, n_samples=400):
    rng = np.random.default_rng(seed)
    theta = rng.dirichlet(np.full(15, 0.4), size=3)
    labels = rng.integers(3, size=n_samples)
    return np.stack([rng.multinomial(30, theta[k]) for k in labels]).astype(float)


def low_rank_rows(seed=0, n_samples=400, missing=0.2):
    """Rows of a 2-factor model of 8 features, 20% of their entries NaN."""
    rng = np.random.default_rng(seed)
    loadings = np.random.default_rng(99).normal(size=(8, 2))
    noise = np.random.default_rng(98).uniform(0.1, 0.6, size=8)
    X = rng.normal(size=(n_samples, 2)) @ loadings.T + 3.0
    X += np.sqrt(noise) * rng.normal(size=X.shape)
    X[rng.random(X.shape) < missing] = np.nan
    return X


def sparse_low_rank_rows(seed=0, n_samples=400):
    """The same rows as CSR, 60% of the entries absent (missing)."""
    X = low_rank_rows(seed, n_samples, missing=0.6)
    rows, cols = np.nonzero(~np.isnan(X))
    return sp.csr_array((X[rows, cols], (rows, cols)), shape=X.shape)


# (estimator, its rows) for every model and variant.
CASES = {
    **{
        f"gaussian-{covariance_type}": (
            GaussianMixture(3, covariance_type=covariance_type, random_state=0),
            gaussian_rows,
        )
        for covariance_type in ("full", "tied", "diag", "spherical")
    },
    "bernoulli": (BernoulliMixture(3, random_state=0), binary_rows),
    "multinomial": (MultinomialMixture(3, random_state=0), count_rows),
    "multinomial-sparse": (
        MultinomialMixture(3, alpha=0.5, random_state=0),
        lambda seed=0, n_samples=400: sp.csr_array(count_rows(seed, n_samples)),
    ),
    "ppca": (ProbabilisticPCA(2, random_state=0), low_rank_rows),
    "factor-analysis": (FactorAnalysis(2, acceleration=None), low_rank_rows),
    "factor-analysis-sparse": (
        FactorAnalysis(2, alpha=1.0, tol=1e-6),
        sparse_low_rank_rows,
    ),
}


def case(name):
    estimator, rows = CASES[name]
    return clone(estimator), rows


parametrize_cases = pytest.mark.parametrize("name", list(CASES))


def row_outputs(model, X):
    """The per-row posterior: responsibilities of a mixture, factor means of a
    factor model."""
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    return model.transform(X)


def fitted_attributes(model):
    return {
        key: value
        for key, value in vars(model).items()
        if key.endswith("_") and not key.startswith("_") and key != "lower_bounds_"
    }


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_cases
def test_the_twin_and_the_kernels_fit_alike(name):
    estimator, rows = case(name)
    X = rows()
    estimator.set_params(max_iter=10, tol=0)
    compiled = clone(estimator).fit(X)
    with fastem.use_backend("numpy"):
        twin = clone(estimator).fit(X)
    for key, value in fitted_attributes(compiled).items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            assert_allclose(
                getattr(twin, key), value, rtol=1e-9, atol=1e-12, err_msg=key
            )
    assert_allclose(twin.lower_bounds_, compiled.lower_bounds_, rtol=1e-11)


@parametrize_cases
@settings(max_examples=10, deadline=None)
@given(cuts=st.lists(st.integers(0, 400), max_size=5))
def test_statistics_add_over_any_split_of_the_rows(name, cuts):
    estimator, rows = case(name)
    X = rows()
    model = estimator.fit(X)._fitted_model()
    whole = ArraySource(X).accumulate(model)
    bounds = [0, *sorted(cuts), X.shape[0]]
    total = model.zero_stats()
    for low, high in zip(bounds[:-1], bounds[1:]):
        total += ArraySource(X[low:high]).accumulate(model)
    for got, want in zip(total.to_flat(), whole.to_flat()):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-9)


@parametrize_cases
def test_the_bits_do_not_depend_on_the_thread_count(name, monkeypatch):
    # Small problems run on one thread (threads_for): let these use three.
    monkeypatch.setattr("fastem._engine.threads.MIN_PAIRS_PER_THREAD", 1)
    estimator, rows = case(name)
    X = rows(n_samples=3000)
    fits = []
    for n_threads in (1, 2, 3):
        with threadpool_limits(n_threads, user_api="openmp"):
            model = clone(estimator).fit(X)
            fits.append((model, row_outputs(model, X), model.score_samples(X)))
    for model, proba, log_prob in fits[1:]:
        for key, value in fitted_attributes(fits[0][0]).items():
            assert_array_equal(getattr(model, key), value, err_msg=key)
        assert_array_equal(proba, fits[0][1])
        assert_array_equal(log_prob, fits[0][2])


@parametrize_cases
def test_a_saved_model_loads_with_every_attribute(name, tmp_path):
    estimator, rows = case(name)
    X = rows()
    model = estimator.fit(X)
    model.save(tmp_path / "model.npz")
    loaded = fastem.load(tmp_path / "model.npz")
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    for key, value in fitted_attributes(model).items():
        assert_array_equal(getattr(loaded, key), value, err_msg=key)
    assert_array_equal(row_outputs(loaded, X), row_outputs(model, X))


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (np.arange(10.0), ValueError, "Expected 2D array"),
        (np.empty((0, 3)), ValueError, r"0 sample\(s\)"),
        (np.array([["a", "b"]] * 5, dtype=object), ValueError, "convert"),
        (np.ones((6, 2)) + 1j, ValueError, "Complex data not supported"),
    ],
)
@parametrize_cases
def test_bad_input_gets_a_clear_error(name, bad, error, message):
    estimator, _ = case(name)
    with pytest.raises(error, match=message):
        estimator.fit(bad)


# scikit-learn's own checks (a Bernoulli mixture on arbitrary floats binarises them,
# as BernoulliNB does). Its sparse checks take any estimator with predict_proba for a
# classifier and read its classifier tags, which a density estimator has not; sparse
# rows are tested against dense ones in test_discrete_mixture.py.
SPARSE_CHECK_REASON = "scikit-learn's sparse check reads classifier tags"
# FactorAnalysis's default n_components (n_features - 1) on the checks' 10 features
# of uniform noise leaves the noise variances near their floor (a Heywood case): the
# fit is so ill-conditioned that rounding differences between weighted and repeated
# rows show in transform. With fewer factors (the other instances) it passes.
HEYWOOD_REASON = "n_features - 1 factors: an ill-conditioned (Heywood) fit"


def expected_failures(estimator):
    if isinstance(estimator, FactorAnalysis):
        if estimator.n_components is None:
            return {
                "check_sample_weight_equivalence_on_dense_data": HEYWOOD_REASON,
                "check_sample_weight_equivalence_on_sparse_data": HEYWOOD_REASON,
            }
        return {}
    if isinstance(estimator, (ProbabilisticPCA, LowRankImputer)):
        return {}
    return {
        "check_estimator_sparse_array": SPARSE_CHECK_REASON,
        "check_estimator_sparse_matrix": SPARSE_CHECK_REASON,
    }


@parametrize_with_checks(
    [
        BernoulliMixture(n_init=2, max_iter=5, binarize=0.0),
        MultinomialMixture(n_init=2, max_iter=5),
        MultinomialMixture(n_init=2, max_iter=5, init_params="random"),
        ProbabilisticPCA(1, max_iter=50),
        FactorAnalysis(1, max_iter=50),
        FactorAnalysis(max_iter=20),
        LowRankImputer(1, max_iter=50),
    ],
    expected_failed_checks=expected_failures,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "name", [name for name in CASES if hasattr(CASES[name][0], "predict_proba")]
)
def test_the_fused_pass_is_its_two_halves(name):
    """accumulate == the family's statistics given the responsibilities that its
    per-component log-densities make (what a hidden Markov model combines itself).
    Mixtures only: a factor model has no components to split its pass at."""
    estimator, rows = case(name)
    X = rows()
    model = estimator.fit(X)._fitted_model()
    weight = np.random.default_rng(1).uniform(0, 2, size=X.shape[0])
    log_joint = model.component_log_prob(X)
    log_prob = np.logaddexp.reduce(log_joint, axis=1)
    resp = np.exp(log_joint - log_prob[:, np.newaxis])
    halves = model.stats_given(X, resp, weight)
    halves.log_likelihood = float(weight @ log_prob)
    fused = model.accumulate(X, weight, 1)
    assert_allclose(halves.to_flat(), fused.to_flat(), rtol=1e-10, atol=1e-8)


# --- models over sequences ------------------------------------------------------------
#
# Hidden Markov models keep the contract over sequences: they read X cut by
# ``lengths``, so their statistics add over splits at sequence ends (not anywhere in
# the rows), and their methods take ``lengths``. Three items do not apply to them:
# scikit-learn's estimator checks (they call fit(X, y), and an HMM's second
# argument is ``lengths``), the fused pass equal to its two halves (an HMM has no
# per-row fused pass: forward-backward sits between the emission's two halves,
# which the row models above check), and splits of the rows anywhere.


def gaussian_sequences(seed=0, n_sequences=12):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 80, size=n_sequences)
    labels = np.repeat(rng.integers(3, size=lengths.sum() // 10 + 1), 10)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    X = centres[labels[: lengths.sum()]] + rng.normal(size=(lengths.sum(), 2))
    return X, lengths


def symbol_sequences(seed=0, n_sequences=12):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 80, size=n_sequences)
    return rng.integers(0, 6, size=(lengths.sum(), 1)), lengths


def count_sequences(seed=0, n_sequences=12):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 80, size=n_sequences)
    return rng.poisson(3.0, size=(lengths.sum(), 3)).astype(float), lengths


SEQUENCE_CASES = {
    **{
        f"gaussian-hmm-{covariance_type}": (
            fastem.GaussianHMM(3, covariance_type=covariance_type, random_state=0),
            gaussian_sequences,
        )
        for covariance_type in ("full", "tied", "diag", "spherical")
    },
    **{
        f"gmm-hmm-{covariance_type}": (
            fastem.GMMHMM(2, n_mix=2, covariance_type=covariance_type, random_state=0),
            gaussian_sequences,
        )
        for covariance_type in ("full", "tied", "diag", "spherical")
    },
    "categorical-hmm": (fastem.CategoricalHMM(3, random_state=0), symbol_sequences),
    "poisson-hmm": (fastem.PoissonHMM(3, random_state=0), count_sequences),
}

parametrize_sequence_cases = pytest.mark.parametrize("name", list(SEQUENCE_CASES))


def sequence_case(name):
    estimator, data = SEQUENCE_CASES[name]
    return clone(estimator), data


@parametrize_sequence_cases
def test_sequences_twin_and_kernels_fit_alike(name):
    estimator, data = sequence_case(name)
    X, lengths = data()
    estimator.set_params(n_iter=10, tol=-np.inf)
    compiled = clone(estimator).fit(X, lengths)
    with fastem.use_backend("numpy"):
        twin = clone(estimator).fit(X, lengths)
    for key, value in fitted_attributes(compiled).items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            assert_allclose(
                getattr(twin, key), value, rtol=1e-9, atol=1e-12, err_msg=key
            )
    assert_allclose(twin.monitor_.history, compiled.monitor_.history, rtol=1e-11)


@parametrize_sequence_cases
@settings(max_examples=10, deadline=None)
@given(cuts=st.lists(st.integers(0, 12), max_size=4))
def test_statistics_add_over_any_split_at_sequence_ends(name, cuts):
    from fastem._engine.sequences import SequenceSource

    estimator, data = sequence_case(name)
    X, lengths = data()
    model = estimator.fit(X, lengths)._fitted_model()
    whole = SequenceSource(X, lengths).accumulate(model)
    bounds = np.r_[0, np.cumsum(lengths)]
    cuts = [0, *sorted(cuts), len(lengths)]
    total = model.zero_stats()
    for low, high in zip(cuts[:-1], cuts[1:]):
        if high > low:
            rows = slice(bounds[low], bounds[high])
            total += SequenceSource(X[rows], lengths[low:high]).accumulate(model)
    assert_allclose(total.to_flat(), whole.to_flat(), rtol=1e-12, atol=1e-9)


@parametrize_sequence_cases
def test_sequences_bits_do_not_depend_on_the_thread_count(name, monkeypatch):
    monkeypatch.setattr("fastem._engine.threads.MIN_PAIRS_PER_THREAD", 1)
    estimator, data = sequence_case(name)
    X, lengths = data(n_sequences=60)
    fits = []
    for n_threads in (1, 2, 3):
        with threadpool_limits(n_threads, user_api="openmp"):
            model = clone(estimator).fit(X, lengths)
            fits.append(
                (model, model.predict_proba(X, lengths), model.predict(X, lengths))
            )
    for model, proba, states in fits[1:]:
        for key, value in fitted_attributes(fits[0][0]).items():
            if key != "monitor_":
                assert_array_equal(getattr(model, key), value, err_msg=key)
        assert model.monitor_.history == fits[0][0].monitor_.history
        assert_array_equal(proba, fits[0][1])
        assert_array_equal(states, fits[0][2])


@parametrize_sequence_cases
def test_a_saved_sequence_model_loads_with_every_attribute(name, tmp_path):
    estimator, data = sequence_case(name)
    X, lengths = data()
    model = estimator.fit(X, lengths)
    model.save(tmp_path / "model.npz")
    loaded = fastem.load(tmp_path / "model.npz")
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    for key, value in fitted_attributes(model).items():
        assert_array_equal(getattr(loaded, key), value, err_msg=key)
    assert_array_equal(
        loaded.predict_proba(X, lengths), model.predict_proba(X, lengths)
    )


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (np.arange(10.0), ValueError, "Expected 2D array"),
        (np.empty((0, 1)), ValueError, r"0 sample\(s\)"),
        (np.array([["a", "b"]] * 5, dtype=object), ValueError, "convert|integers"),
        (np.ones((6, 1)) + 1j, ValueError, "Complex data not supported"),
    ],
)
@parametrize_sequence_cases
def test_bad_sequences_get_a_clear_error(name, bad, error, message):
    estimator, _ = sequence_case(name)
    with pytest.raises(error, match=message):
        estimator.fit(bad)
