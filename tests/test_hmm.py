"""Hidden Markov models (``fastem.hmm``): hmmlearn parity from identical starting
parameters (every model, covariance type and prior), an independent oracle that
enumerates every state path of tiny chains (log-likelihood, posteriors, Viterbi,
also with missing values), the twin and the kernels, sequence weights, threads,
ragged lengths, online EM, re-seeding and bad input."""

import itertools
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import multivariate_normal, poisson
from threadpoolctl import threadpool_limits

import fastem
from fastem.hmm import CategoricalHMM, GaussianHMM, PoissonHMM

hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm")

COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")


# --- data and models ------------------------------------------------------------------


def gaussian_chain(rng, n_states=3, n_features=2):
    startprob = rng.dirichlet(np.full(n_states, 3.0))
    transmat = rng.dirichlet(np.ones(n_states), size=n_states) + 2 * np.eye(n_states)
    transmat /= transmat.sum(axis=1, keepdims=True)
    means = rng.normal(scale=3.0, size=(n_states, n_features))
    return startprob, transmat, means


def compact_covars(rng, covariance_type, n_states, n_features):
    if covariance_type == "spherical":
        return rng.uniform(0.5, 1.5, n_states)
    if covariance_type == "diag":
        return rng.uniform(0.5, 1.5, (n_states, n_features))
    if covariance_type == "tied":
        a = rng.normal(size=(n_features, n_features))
        return a @ a.T / n_features + np.eye(n_features)
    out = []
    for _ in range(n_states):
        a = rng.normal(size=(n_features, n_features))
        out.append(a @ a.T / n_features + 0.5 * np.eye(n_features))
    return np.array(out)


def gaussian_data(seed=0, lengths=(120, 80, 1, 37), covariance_type="full"):
    """Frames sampled from a known GaussianHMM, with its parameters."""
    rng = np.random.default_rng(seed)
    startprob, transmat, means = gaussian_chain(rng)
    covars = compact_covars(rng, covariance_type, 3, 2)
    truth = GaussianHMM(3, covariance_type=covariance_type, random_state=seed)
    truth.startprob_, truth.transmat_, truth.means_ = startprob, transmat, means
    truth.covars_ = covars
    X = np.concatenate(
        [truth.sample(n, random_state=seed + i)[0] for i, n in enumerate(lengths)]
    )
    return X, np.array(lengths), truth


def start_from(model, startprob, transmat, **emission):
    """Set a model's starting parameters (hmmlearn's way: attributes)."""
    model.startprob_ = np.array(startprob)
    model.transmat_ = np.array(transmat)
    for name, value in emission.items():
        setattr(model, name, np.array(value))
    return model


def perturbed_start(rng, truth, covariance_type):
    startprob = rng.dirichlet(np.ones(3))
    transmat = rng.dirichlet(np.ones(3), size=3)
    means = truth.means_ + rng.normal(scale=0.5, size=truth.means_.shape)
    covars = compact_covars(rng, covariance_type, 3, 2)
    return startprob, transmat, means, covars


def assert_same_fit(ours, theirs, rtol=1e-9):
    assert_allclose(
        list(ours.monitor_.history), list(theirs.monitor_.history), rtol=rtol
    )
    assert ours.monitor_.iter == theirs.monitor_.iter
    assert ours.monitor_.converged == theirs.monitor_.converged
    assert_allclose(ours.startprob_, theirs.startprob_, rtol=rtol, atol=1e-12)
    assert_allclose(ours.transmat_, theirs.transmat_, rtol=rtol, atol=1e-12)


# --- hmmlearn parity ------------------------------------------------------------------


PRIORS = {
    "default": {},
    "map": {
        "startprob_prior": 2.0,
        "transmat_prior": 1.5,
        "means_prior": 0.5,
        "means_weight": 2.0,
        "covars_prior": 0.3,
        "covars_weight": 4.0,
    },
}


# hmmlearn sums the statistics of the means only where 'm' is in params, and its
# covariance update reads them: with 'c' but not 'm' it divides the raw second
# moments by 1e-5 (see the next test), so parity is for 'c' with 'm'.
@pytest.mark.parametrize("prior", list(PRIORS))
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("params", ["stmc", "tm", "smc"])
def test_gaussian_hmm_fits_as_hmmlearn_from_the_same_start(
    covariance_type, prior, params
):
    X, lengths, truth = gaussian_data(1, covariance_type=covariance_type)
    rng = np.random.default_rng(2)
    startprob, transmat, means, covars = perturbed_start(rng, truth, covariance_type)
    kwargs = dict(
        n_components=3,
        covariance_type=covariance_type,
        n_iter=8,
        tol=-np.inf,
        init_params="",
        params=params,
        **PRIORS[prior],
    )
    theirs = start_from(
        hmmlearn_hmm.GaussianHMM(**kwargs), startprob, transmat, means_=means
    )
    theirs.covars_ = covars
    theirs.fit(X, lengths)
    ours = start_from(GaussianHMM(**kwargs), startprob, transmat, means_=means)
    ours.covars_ = covars
    ours.fit(X, lengths)
    assert_same_fit(ours, theirs)
    assert_allclose(ours.means_, theirs.means_, rtol=1e-9, atol=1e-12)
    their_covars = theirs._covars_
    if covariance_type == "spherical" and their_covars.ndim == 2:
        their_covars = their_covars[:, 0]
    assert_allclose(ours._covars_, their_covars, rtol=1e-9, atol=1e-12)
    assert_allclose(ours.score(X, lengths), theirs.score(X, lengths), rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_covariances_alone_are_estimated_around_the_kept_means(covariance_type):
    """params='sc' (hmmlearn's update diverges there): the covariances around the
    means as they are, so the log-likelihood never falls."""
    X, lengths, truth = gaussian_data(1, covariance_type=covariance_type)
    rng = np.random.default_rng(2)
    startprob, transmat, means, covars = perturbed_start(rng, truth, covariance_type)
    ours = start_from(
        GaussianHMM(
            3,
            covariance_type=covariance_type,
            n_iter=8,
            tol=-np.inf,
            init_params="",
            params="sc",
            covars_prior=0.0,
            covars_weight=0.0,
        ),
        startprob,
        transmat,
        means_=means,
    )
    ours.covars_ = covars
    ours.fit(X, lengths)
    assert_array_equal(ours.means_, means)
    assert np.all(np.diff(ours.monitor_.history) > -1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_hmm_scores_decodes_and_samples_as_hmmlearn(covariance_type):
    X, lengths, truth = gaussian_data(3, covariance_type=covariance_type)
    theirs = hmmlearn_hmm.GaussianHMM(3, covariance_type=covariance_type)
    ours = GaussianHMM(3, covariance_type=covariance_type)
    for model in (theirs, ours):
        start_from(model, truth.startprob_, truth.transmat_, means_=truth.means_)
        model.covars_ = truth._covars_
    log_prob, posteriors = ours.score_samples(X, lengths)
    their_log_prob, their_posteriors = theirs.score_samples(X, lengths)
    assert_allclose(log_prob, their_log_prob, rtol=1e-12)
    assert_allclose(posteriors, their_posteriors, rtol=1e-9, atol=1e-12)
    for algorithm in ("viterbi", "map"):
        got = ours.decode(X, lengths, algorithm=algorithm)
        want = theirs.decode(X, lengths, algorithm=algorithm)
        assert_allclose(got[0], want[0], rtol=1e-12)
        assert_array_equal(got[1], want[1])
    assert_array_equal(ours.predict(X, lengths), theirs.predict(X, lengths))
    n_samples = 40
    for currstate in (None, 2):
        got = ours.sample(n_samples, random_state=7, currstate=currstate)
        want = theirs.sample(n_samples, random_state=7, currstate=currstate)
        assert_allclose(got[0], want[0], rtol=1e-12)
        assert_array_equal(got[1], want[1])
    assert_allclose(ours.bic(X, lengths), theirs.bic(X, lengths), rtol=1e-12)
    assert_allclose(ours.aic(X, lengths), theirs.aic(X, lengths), rtol=1e-12)
    assert_allclose(
        ours.get_stationary_distribution(),
        theirs.get_stationary_distribution(),
        rtol=1e-12,
    )
    if covariance_type != "spherical":  # hmmlearn's spherical covars_ is broken
        assert_allclose(ours.covars_, theirs.covars_, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_hmm_initialises_as_hmmlearn(covariance_type):
    """The same random_state gives hmmlearn's start, hence its whole fit."""
    X, lengths, _ = gaussian_data(4, covariance_type=covariance_type)
    kwargs = dict(n_components=3, covariance_type=covariance_type, random_state=5)
    theirs = hmmlearn_hmm.GaussianHMM(n_iter=0, **kwargs).fit(X, lengths)
    ours = GaussianHMM(n_iter=0, **kwargs).fit(X, lengths)
    assert_allclose(ours.startprob_, theirs.startprob_, rtol=1e-12)
    assert_allclose(ours.transmat_, theirs.transmat_, rtol=1e-12)
    assert_allclose(ours.means_, theirs.means_, rtol=1e-12)
    their_covars = theirs._covars_
    if covariance_type == "spherical":
        their_covars = their_covars[:, 0]
    assert_allclose(ours._covars_, their_covars, rtol=1e-12)
    theirs = hmmlearn_hmm.GaussianHMM(n_iter=5, tol=-np.inf, **kwargs).fit(X, lengths)
    ours = GaussianHMM(n_iter=5, tol=-np.inf, **kwargs).fit(X, lengths)
    assert_same_fit(ours, theirs)


def categorical_data(seed=0, lengths=(60, 25, 1, 40), n_symbols=5):
    rng = np.random.default_rng(seed)
    truth = CategoricalHMM(3, n_features=n_symbols)
    truth.startprob_ = rng.dirichlet(np.ones(3))
    truth.transmat_ = rng.dirichlet(np.ones(3), size=3) + np.eye(3)
    truth.transmat_ /= truth.transmat_.sum(axis=1, keepdims=True)
    truth.emissionprob_ = rng.dirichlet(np.full(n_symbols, 0.5), size=3)
    X = np.concatenate(
        [truth.sample(n, random_state=seed + i)[0] for i, n in enumerate(lengths)]
    )
    return X.astype(np.int64), np.array(lengths), truth


@pytest.mark.parametrize("prior", [1.0, 1.7])
@pytest.mark.parametrize("params", ["ste", "e", "st"])
def test_categorical_hmm_fits_as_hmmlearn_from_the_same_start(prior, params):
    X, lengths, truth = categorical_data(1)
    rng = np.random.default_rng(3)
    start = (
        rng.dirichlet(np.ones(3)),
        rng.dirichlet(np.ones(3), size=3),
        rng.dirichlet(np.ones(5), size=3),
    )
    kwargs = dict(
        n_components=3,
        n_iter=10,
        tol=-np.inf,
        init_params="",
        params=params,
        emissionprob_prior=prior,
        transmat_prior=prior,
        startprob_prior=prior,
    )
    theirs = start_from(
        hmmlearn_hmm.CategoricalHMM(**kwargs), *start[:2], emissionprob_=start[2]
    ).fit(X, lengths)
    ours = start_from(CategoricalHMM(**kwargs), *start[:2], emissionprob_=start[2])
    ours.fit(X, lengths)
    assert_same_fit(ours, theirs)
    assert_allclose(ours.emissionprob_, theirs.emissionprob_, rtol=1e-9, atol=1e-12)
    for algorithm in ("viterbi", "map"):
        assert_array_equal(
            ours.decode(X, lengths, algorithm=algorithm)[1],
            theirs.decode(X, lengths, algorithm=algorithm)[1],
        )
    assert_allclose(ours.bic(X, lengths), theirs.bic(X, lengths), rtol=1e-12)


def test_categorical_hmm_initialises_and_samples_as_hmmlearn():
    X, lengths, truth = categorical_data(2)
    theirs = hmmlearn_hmm.CategoricalHMM(3, random_state=4, n_iter=6, tol=-np.inf)
    ours = CategoricalHMM(3, random_state=4, n_iter=6, tol=-np.inf)
    theirs.fit(X, lengths)
    ours.fit(X, lengths)
    assert_same_fit(ours, theirs)
    assert ours.n_features == theirs.n_features == 5
    got, want = ours.sample(30, random_state=1), theirs.sample(30, random_state=1)
    assert_array_equal(got[0], want[0])
    assert_array_equal(got[1], want[1])


def poisson_data(seed=0, lengths=(70, 30, 1, 45)):
    rng = np.random.default_rng(seed)
    truth = PoissonHMM(3)
    truth.startprob_ = rng.dirichlet(np.ones(3))
    truth.transmat_ = rng.dirichlet(np.ones(3), size=3) + np.eye(3)
    truth.transmat_ /= truth.transmat_.sum(axis=1, keepdims=True)
    truth.lambdas_ = rng.uniform(0.5, 12.0, size=(3, 4))
    X = np.concatenate(
        [truth.sample(n, random_state=seed + i)[0] for i, n in enumerate(lengths)]
    )
    return X, np.array(lengths), truth


@pytest.mark.parametrize("prior", [(0.0, 0.0), (2.0, 0.5)])
def test_poisson_hmm_fits_as_hmmlearn(prior):
    X, lengths, truth = poisson_data(1)
    kwargs = dict(
        n_components=3,
        n_iter=8,
        tol=-np.inf,
        random_state=3,
        lambdas_prior=prior[0],
        lambdas_weight=prior[1],
    )
    theirs = hmmlearn_hmm.PoissonHMM(**kwargs).fit(X, lengths)
    ours = PoissonHMM(**kwargs).fit(X, lengths)
    assert_same_fit(ours, theirs)
    assert_allclose(ours.lambdas_, theirs.lambdas_, rtol=1e-9)
    got, want = ours.sample(20, random_state=2), theirs.sample(20, random_state=2)
    assert_array_equal(got[0], want[0])
    assert_allclose(ours.aic(X, lengths), theirs.aic(X, lengths), rtol=1e-12)


# --- an oracle that enumerates every path ---------------------------------------------


def enumerate_paths(log_frameprob, lengths, startprob, transmat):
    """(log p(X), posteriors, Viterbi log-probability, Viterbi path) by brute force."""
    log_start, log_trans = np.log(startprob), np.log(transmat)
    K = len(startprob)
    total, best_total, posteriors, paths = 0.0, 0.0, [], []
    start = 0
    for length in lengths:
        L = log_frameprob[start : start + length]
        start += length
        scores, candidates = [], list(itertools.product(range(K), repeat=length))
        for path in candidates:
            score = log_start[path[0]] + L[0, path[0]]
            for t in range(1, length):
                score += log_trans[path[t - 1], path[t]] + L[t, path[t]]
            scores.append(score)
        scores = np.array(scores)
        norm = np.logaddexp.reduce(scores)
        total += norm
        best = int(np.argmax(scores))
        best_total += scores[best]
        paths.extend(candidates[best])
        gamma = np.zeros((length, K))
        for path, score in zip(candidates, scores):
            gamma[np.arange(length), path] += np.exp(score - norm)
        posteriors.append(gamma)
    return total, np.concatenate(posteriors), best_total, np.array(paths)


def gaussian_log_frameprob(X, means, covariances):
    """log N(x_O | mu_O, Sigma_OO) of each frame's observed features (0 where none
    is observed), by scipy."""
    out = np.zeros((len(X), len(means)))
    for t, x in enumerate(X):
        seen = ~np.isnan(x)
        if not seen.any():
            continue
        for k, (mean, cov) in enumerate(zip(means, covariances)):
            out[t, k] = multivariate_normal(mean[seen], cov[np.ix_(seen, seen)]).logpdf(
                x[seen]
            )
    return out


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("holes", [False, True])
def test_gaussian_hmm_equals_every_path_enumerated(covariance_type, holes):
    rng = np.random.default_rng(11)
    startprob, transmat, means = gaussian_chain(rng, 3, 3)
    covars = compact_covars(rng, covariance_type, 3, 3)
    model = GaussianHMM(3, covariance_type=covariance_type)
    start_from(model, startprob, transmat, means_=means)
    model.covars_ = covars
    lengths = [4, 1, 5]
    X = rng.normal(scale=2.0, size=(sum(lengths), 3))
    if holes:
        X[rng.random(X.shape) < 0.3] = np.nan
        X[2] = np.nan  # a frame with nothing observed: only the chain
    L = gaussian_log_frameprob(X, means, model.covars_)
    assert_equals_every_path(model, X, lengths, L)


def assert_equals_every_path(model, X, lengths, log_frameprob):
    """The model's log-likelihood, posteriors and Viterbi paths equal those of every
    state path enumerated, under the frames' log-densities ``log_frameprob``."""
    total, posteriors, best_total, best_path = enumerate_paths(
        log_frameprob, lengths, model.startprob_, model.transmat_
    )
    log_prob, got_posteriors = model.score_samples(X, lengths)
    assert_allclose(log_prob, total, rtol=1e-12)
    assert_allclose(got_posteriors, posteriors, rtol=1e-9, atol=1e-13)
    viterbi_log_prob, path = model.decode(X, lengths)
    assert_allclose(viterbi_log_prob, best_total, rtol=1e-12)
    assert_array_equal(path, best_path)


def test_categorical_and_poisson_hmms_equal_every_path_enumerated():
    rng = np.random.default_rng(5)
    lengths = [3, 5]
    categorical = CategoricalHMM(2, n_features=4)
    start_from(
        categorical,
        [0.3, 0.7],
        [[0.8, 0.2], [0.3, 0.7]],
        emissionprob_=rng.dirichlet(np.ones(4), size=2),
    )
    X = rng.integers(0, 4, size=(8, 1)).astype(float)
    X[4] = np.nan  # a missing symbol: only the chain
    L = np.log(categorical.emissionprob_).T[np.nan_to_num(X[:, 0]).astype(int)]
    L[4] = 0.0
    total, posteriors, _, path = enumerate_paths(
        L, lengths, categorical.startprob_, categorical.transmat_
    )
    assert_allclose(categorical.score(X, lengths), total, rtol=1e-12)
    assert_allclose(categorical.predict_proba(X, lengths), posteriors, rtol=1e-9)
    assert_array_equal(categorical.predict(X, lengths), path)

    poisson_model = PoissonHMM(2)
    start_from(
        poisson_model,
        [0.6, 0.4],
        [[0.9, 0.1], [0.2, 0.8]],
        lambdas_=[[1.0, 5.0], [4.0, 0.5]],
    )
    X = rng.poisson(3.0, size=(8, 2)).astype(float)
    X[1, 0] = np.nan
    L = np.stack(
        [
            np.nansum(
                np.where(np.isnan(X), 0.0, poisson.logpmf(np.nan_to_num(X), lam)),
                axis=1,
            )
            for lam in poisson_model.lambdas_
        ],
        axis=1,
    )
    total, posteriors, _, path = enumerate_paths(
        L, lengths, poisson_model.startprob_, poisson_model.transmat_
    )
    assert_allclose(poisson_model.score(X, lengths), total, rtol=1e-12)
    assert_allclose(poisson_model.predict_proba(X, lengths), posteriors, rtol=1e-9)
    assert_array_equal(poisson_model.predict(X, lengths), path)


# --- beyond hmmlearn ------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_the_twin_and_the_kernels_fit_alike(covariance_type):
    X, lengths, _ = gaussian_data(6, covariance_type=covariance_type)
    X[::7, 1] = np.nan
    kwargs = dict(n_components=3, covariance_type=covariance_type, random_state=0)
    compiled = GaussianHMM(n_iter=6, tol=-np.inf, **kwargs).fit(X, lengths)
    with fastem.use_backend("numpy"):
        twin = GaussianHMM(n_iter=6, tol=-np.inf, **kwargs).fit(X, lengths)
    assert_same_fit(twin, compiled)
    assert_allclose(twin.means_, compiled.means_, rtol=1e-9)
    assert_allclose(twin._covars_, compiled._covars_, rtol=1e-9)


@pytest.mark.parametrize(
    "model",
    [
        GaussianHMM(3, covariance_type="full", init_params="", n_iter=5),
        CategoricalHMM(3, init_params="", n_iter=5),
        PoissonHMM(3, init_params="", n_iter=5),
    ],
    ids=["gaussian", "categorical", "poisson"],
)
def test_integer_weights_equal_repeated_sequences(model):
    data = {
        "GaussianHMM": gaussian_data(7),
        "CategoricalHMM": categorical_data(7),
        "PoissonHMM": poisson_data(7),
    }[type(model).__name__]
    X, lengths, truth = data
    weights = np.array([2, 0, 1, 3])
    pieces = np.split(X, np.cumsum(lengths)[:-1])
    repeated = np.concatenate([p for p, w in zip(pieces, weights) for _ in range(w)])
    repeated_lengths = np.repeat(lengths, weights)
    fits = []
    for data_X, data_lengths, weight in (
        (X, lengths, weights),
        (repeated, repeated_lengths, None),
    ):
        fitted = _start_like(model, truth).fit(data_X, data_lengths, weight)
        fits.append(fitted)
    assert_allclose(fits[0].monitor_.history, fits[1].monitor_.history, rtol=1e-10)
    for name in ("startprob_", "transmat_", "means_", "emissionprob_", "lambdas_"):
        if hasattr(fits[0], name):
            assert_allclose(
                getattr(fits[0], name), getattr(fits[1], name), rtol=1e-9, atol=1e-12
            )


def _start_like(model, truth):
    from sklearn.base import clone

    model = clone(model)
    for name in ("startprob_", "transmat_", "means_", "emissionprob_", "lambdas_"):
        if hasattr(truth, name):
            setattr(model, name, np.array(getattr(truth, name)))
    if hasattr(truth, "_covars_"):
        model.covariance_type = truth.covariance_type
        model.covars_ = truth._covars_
    if hasattr(truth, "emissionprob_"):
        model.n_features = truth.emissionprob_.shape[1]
    return model


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_the_bits_do_not_depend_on_the_thread_count(covariance_type, monkeypatch):
    monkeypatch.setattr("fastem._engine.threads.MIN_PAIRS_PER_THREAD", 1)
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, size=60)
    X, _, _ = gaussian_data(8, lengths=tuple(lengths), covariance_type=covariance_type)
    X[rng.random(X.shape) < 0.05] = np.nan
    results = []
    for n_threads in (1, 2, 3):
        with threadpool_limits(n_threads, user_api="openmp"):
            model = GaussianHMM(
                3, covariance_type=covariance_type, random_state=0, n_iter=4
            ).fit(X, lengths)
            results.append(
                (
                    model,
                    model.predict_proba(X, lengths),
                    model.predict(X, lengths),
                    model.impute(X, lengths),
                )
            )
    for model, proba, states, imputed in results[1:]:
        for name in ("startprob_", "transmat_", "means_", "_covars_"):
            assert (
                getattr(model, name).tobytes() == getattr(results[0][0], name).tobytes()
            )
        assert model.monitor_.history == results[0][0].monitor_.history
        assert proba.tobytes() == results[0][1].tobytes()
        assert_array_equal(states, results[0][2])
        assert imputed.tobytes() == results[0][3].tobytes()


def test_impute_fills_with_the_smoothed_expectation():
    rng = np.random.default_rng(3)
    startprob, transmat, means = gaussian_chain(rng, 3, 3)
    covars = compact_covars(rng, "full", 3, 3)
    model = GaussianHMM(3, covariance_type="full")
    start_from(model, startprob, transmat, means_=means)
    model.covars_ = covars
    X = model.sample(30, random_state=1)[0]
    X[rng.random(X.shape) < 0.3] = np.nan
    X[5] = np.nan
    imputed = model.impute(X, [10, 20])
    _, posteriors = model.score_samples(X, [10, 20])
    for t in range(len(X)):
        seen = ~np.isnan(X[t])
        if seen.all():
            assert_array_equal(imputed[t], X[t])
            continue
        expectation = np.zeros(int((~seen).sum()))
        for k in range(3):
            cov = covars[k]
            regression = (
                np.linalg.solve(cov[np.ix_(seen, seen)], cov[np.ix_(seen, ~seen)])
                if seen.any()
                else np.zeros((0, int((~seen).sum())))
            )
            conditional = means[k, ~seen] + (X[t, seen] - means[k, seen]) @ regression
            expectation += posteriors[t, k] * conditional
        assert_allclose(imputed[t, ~seen], expectation, rtol=1e-9, atol=1e-12)
        assert_array_equal(imputed[t, seen], X[t, seen])


def test_the_log_likelihood_never_falls():
    X, lengths, _ = gaussian_data(9, covariance_type="full")
    model = GaussianHMM(
        3,
        covariance_type="full",
        n_iter=30,
        tol=-np.inf,
        covars_prior=0.0,
        random_state=1,
    ).fit(X, lengths)
    assert np.all(
        np.diff(model.monitor_.history) >= -1e-9 * np.abs(model.monitor_.history[1:])
    )


def test_a_state_without_mass_is_reseeded():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    model = GaussianHMM(3, init_params="", n_iter=3, covariance_type="diag")
    start_from(
        model,
        [0.5, 0.5, 0.0],
        [[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]],  # state 2 unreachable
        means_=[[0.0, 0.0], [1.0, 1.0], [50.0, 50.0]],
    )
    model.covars_ = np.ones((3, 2))
    with pytest.warns(fastem.DegenerateComponentWarning):
        model.fit(X)
    assert model.n_reseeds_ >= 1
    assert np.all(np.isfinite(model.means_))
    assert np.all(model.transmat_.sum(axis=1) > 0.99)
    model.set_params(on_degenerate="raise")
    start_from(model, [0.5, 0.5, 0.0], np.eye(3), means_=[[0, 0], [1, 1], [50, 50]])
    model.covars_ = np.ones((3, 2))
    with pytest.raises(ValueError, match="lost all their posterior mass"):
        model.fit(X)


def test_partial_fit_learns_from_a_stream_of_sequences():
    X, lengths, truth = gaussian_data(10, lengths=(200,) * 12, covariance_type="diag")
    pieces = np.split(X, np.cumsum(lengths)[:-1])
    kwargs = dict(n_components=3, covariance_type="diag", random_state=0)
    first = GaussianHMM(**kwargs).partial_fit(pieces[0], [200])
    one_step = GaussianHMM(n_iter=1, **kwargs).fit(pieces[0], [200])
    assert_allclose(first.means_, one_step.means_, rtol=1e-12)
    model = GaussianHMM(**kwargs)
    scores = []
    for _ in range(4):  # four passes over a stream of 12 sequences
        for piece in pieces:
            model.partial_fit(piece)
        scores.append(model.score(X, lengths))
    assert model.n_batch_iter_ == 48 == len(model.monitor_.history)
    assert np.all(np.diff(scores) > 0)
    best = GaussianHMM(n_iter=100, **kwargs).fit(X, lengths).score(X, lengths)
    assert scores[-1] > best - 0.06 * abs(best)


def test_float32_frames_are_read_as_they_are():
    """float32 frames are computed in float64: a fit from the same start equals the
    fit of their float64 copy (k-means would start each on its own dtype)."""
    X, lengths, truth = gaussian_data(12, covariance_type="diag")
    fits = []
    for data in (X.astype(np.float32), X.astype(np.float32).astype(np.float64)):
        model = GaussianHMM(3, covariance_type="diag", init_params="", n_iter=5)
        start_from(model, truth.startprob_, truth.transmat_, means_=truth.means_)
        model.covars_ = truth._covars_
        fits.append(model.fit(data, lengths))
    assert_allclose(fits[0].means_, fits[1].means_, rtol=1e-12)
    assert_allclose(fits[0].monitor_.history, fits[1].monitor_.history, rtol=1e-12)


@pytest.mark.parametrize(
    "lengths, message",
    [
        ([10, 10], "lengths sum to 20, but X has 30 rows"),
        ([10, 0, 20], "lengths must be positive: sequence 1 has length 0"),
        ([15, -5, 20], "sequence 1 has length -5"),
        ([10.5, 19.5], "lengths must be integers"),
        ([], "lengths is empty"),
    ],
)
def test_bad_lengths_get_a_clear_error(lengths, message):
    X = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ValueError, match=message):
        GaussianHMM(2).fit(X, lengths)
    model = GaussianHMM(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match=message):
        model.score(X, lengths)


def test_bad_frames_get_a_clear_error():
    with pytest.raises(ValueError, match="Largest symbol is 7 but the model only"):
        CategoricalHMM(2, n_features=4).fit(np.array([[0], [1], [7], [2]]))
    with pytest.raises(ValueError, match="Symbols should be nonnegative"):
        CategoricalHMM(2).fit(np.array([[0], [1], [-1], [2]]))
    with pytest.raises(ValueError, match="Symbols should be integers"):
        CategoricalHMM(2).fit(np.array([[0], [1.5], [1], [2]]))
    with pytest.raises(ValueError, match="one column"):
        CategoricalHMM(2).fit(np.zeros((4, 2), dtype=int))
    with pytest.raises(ValueError, match="X\\[1, 0\\] = -3.0 is not a non-negative"):
        PoissonHMM(2).fit(np.array([[1.0, 2.0], [-3.0, 1.0], [0.0, 4.0]]))
    with pytest.raises(ValueError, match="not a non-negative integer"):
        PoissonHMM(2).fit(np.array([[1.0, 2.0], [0.5, 1.0], [0.0, 4.0]]))
    with pytest.raises(ValueError, match="one weight per sequence"):
        GaussianHMM(2).fit(np.zeros((6, 1)), [3, 3], sample_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="non-negative"):
        GaussianHMM(2).fit(np.zeros((6, 1)), [3, 3], sample_weight=[1.0, -2.0])
    with pytest.raises(ValueError, match="infinity"):
        GaussianHMM(2).fit(np.array([[0.0], [np.inf], [1.0]]))
    model = GaussianHMM(2)
    model.startprob_ = [0.5, 0.6]
    model.transmat_ = np.eye(2)
    model.means_ = np.zeros((2, 1))
    model.covars_ = np.ones((2, 1))
    with pytest.raises(ValueError, match="startprob_ must sum to 1"):
        model.score(np.zeros((3, 1)))


def test_a_model_set_by_hand_scores_and_samples_without_fit():
    model = GaussianHMM(2, covariance_type="spherical")
    start_from(model, [1.0, 0.0], [[0.9, 0.1], [0.1, 0.9]], means_=[[0.0], [5.0]])
    model.covars_ = [1.0, 2.0]
    X, states = model.sample(50, random_state=0)
    assert X.shape == (50, 1) and states[0] == 0
    assert np.isfinite(model.score(X))
    assert model.covars_.shape == (2, 1, 1)


def test_a_saved_model_loads_with_every_attribute(tmp_path):
    X, lengths, _ = gaussian_data(13, covariance_type="tied")
    X[::5, 0] = np.nan
    for model in (
        GaussianHMM(3, covariance_type="tied", random_state=0, n_iter=3),
        CategoricalHMM(3, random_state=0, n_iter=3),
        PoissonHMM(3, random_state=0, n_iter=3),
    ):
        data = X
        if isinstance(model, CategoricalHMM):
            data = categorical_data(2)[0]
        elif isinstance(model, PoissonHMM):
            data = poisson_data(2)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data)
        model.save(tmp_path / "model.npz")
        loaded = fastem.load(tmp_path / "model.npz")
        assert type(loaded) is type(model)
        assert loaded.get_params() == model.get_params()
        assert loaded.monitor_ == model.monitor_
        for name in (
            "startprob_",
            "transmat_",
            "means_",
            "covars_",
            "emissionprob_",
            "lambdas_",
        ):
            if hasattr(model, name):
                assert_array_equal(getattr(loaded, name), getattr(model, name))
        assert_array_equal(loaded.predict_proba(data), model.predict_proba(data))


def test_select_picks_the_number_of_states_by_bic():
    X, lengths, truth = gaussian_data(
        14, lengths=(300, 250, 200, 150), covariance_type="diag"
    )
    result = fastem.select(
        X,
        n_components=range(1, 6),
        estimator=GaussianHMM(n_iter=30),
        param_grid={"covariance_type": ["diag", "full"]},
        lengths=lengths,
        n_init=2,
        random_state=0,
    )
    assert result.best_params_["n_components"] == 3
    table = result.table
    for row, model in zip(range(len(table)), result.estimators_):
        assert_allclose(table["bic"][row], model.bic(X, lengths), rtol=1e-12)
        assert_allclose(table["aic"][row], model.aic(X, lengths), rtol=1e-12)
        _, posteriors = model.score_samples(X, lengths)
        entropy = -np.sum(posteriors * np.log(np.where(posteriors > 0, posteriors, 1)))
        assert_allclose(table["icl"][row], table["bic"][row] + 2 * entropy, rtol=1e-9)
    # n_init=2: the better of the runs seeded seed and seed + 1.
    seed = 0
    row = 2  # diag, 3 states
    runs = [
        GaussianHMM(3, covariance_type="diag", n_iter=30, random_state=seed + run).fit(
            X, lengths
        )
        for run in range(2)
    ]
    best = max(runs, key=lambda model: model.lower_bound_)
    assert_allclose(result.estimators_[row].means_, best.means_, rtol=1e-12)


def test_select_takes_lengths_only_for_models_over_sequences():
    X = np.random.default_rng(0).normal(size=(40, 2))
    with pytest.raises(TypeError, match="lengths is for models over sequences"):
        fastem.select(X, n_components=[1, 2], lengths=[20, 20])
    with pytest.raises(ValueError, match="lengths sum to 30"):
        fastem.select(X, n_components=[1], estimator=GaussianHMM(), lengths=[10, 20])


def test_a_read_only_memory_map_fits_as_the_array_it_holds(tmp_path):
    X, lengths, _ = gaussian_data(15, covariance_type="diag")
    X[::9, 0] = np.nan
    path = tmp_path / "frames.npy"
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    kwargs = dict(n_components=3, covariance_type="diag", random_state=0, n_iter=5)
    from_map = GaussianHMM(**kwargs).fit(mapped, lengths)
    from_array = GaussianHMM(**kwargs).fit(X, lengths)
    assert from_map.monitor_.history == from_array.monitor_.history
    assert_array_equal(from_map.means_, from_array.means_)
    assert_array_equal(from_map.impute(mapped, lengths), from_array.impute(X, lengths))


def test_forward_backward_takes_no_more_threads_than_the_idle_cpus(monkeypatch):
    from fastem._engine.sequences import SequenceSource

    monkeypatch.setattr("fastem._engine.threads.MIN_PAIRS_PER_THREAD", 1)
    X, lengths, _ = gaussian_data(16, lengths=(50,) * 8)
    frozen = GaussianHMM(3, random_state=0, n_iter=1).fit(X, lengths)._fitted_model()
    block = next(SequenceSource(X, lengths).blocks(frozen.n_outputs))
    assert frozen._sequence_threads(block, 4) == 4
    assert frozen._sequence_threads(block, 16) == 8  # one sequence a thread at most
    monkeypatch.setattr("fastem._engine.threads.idle_cpus", lambda: 1)
    assert frozen._sequence_threads(block, 4) == 1
