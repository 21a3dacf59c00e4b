"""GMMHMM (``fastem.hmm``): hmmlearn parity from identical starting parameters (every
covariance type, default and MAP priors) and from the same random_state, every state
path enumerated on tiny chains (also with missing values), imputation, sequence
weights, re-seeding, online EM and bad input. The contract suite
(tests/test_contract.py) runs it through the twin, thread counts, splits and
save / load."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp

import fastem
from fastem.hmm import GMMHMM
from test_hmm import assert_equals_every_path, gaussian_data, gaussian_log_frameprob

hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm")

COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")
K, M, D = 2, 2, 2


def random_covars(rng, covariance_type, n_states=K, n_mix=M, n_features=D):
    """Covariances in hmmlearn's GMMHMM layout."""

    def matrix():
        a = rng.normal(size=(n_features, n_features))
        return a @ a.T / n_features + 0.5 * np.eye(n_features)

    if covariance_type == "spherical":
        return rng.uniform(0.5, 1.5, (n_states, n_mix))
    if covariance_type == "diag":
        return rng.uniform(0.5, 1.5, (n_states, n_mix, n_features))
    if covariance_type == "tied":
        return np.array([matrix() for _ in range(n_states)])
    return np.array([[matrix() for _ in range(n_mix)] for _ in range(n_states)])


def random_start(rng, covariance_type, n_features=D):
    return {
        "startprob_": rng.dirichlet(np.ones(K)),
        "transmat_": rng.dirichlet(np.ones(K), size=K),
        "weights_": rng.dirichlet(np.ones(M), size=K),
        "means_": rng.normal(scale=2.0, size=(K, M, n_features)),
        "covars_": random_covars(rng, covariance_type, n_features=n_features),
    }


def set_start(model, start):
    for name, value in start.items():
        setattr(model, name, np.array(value))
    return model


def full_covariances(model):
    """Each component's (d, d) covariance, (K, M, d, d)."""
    covars, d = np.asarray(model.covars_), model.means_.shape[2]
    if model.covariance_type == "spherical":
        return covars[..., None, None] * np.eye(d)
    if model.covariance_type == "diag":
        return covars[..., None] * np.eye(d)
    if model.covariance_type == "tied":
        return np.repeat(covars[:, None], model.n_mix, axis=1)
    return covars


def map_priors(covariance_type):
    matrix = covariance_type in ("full", "tied")
    return {
        "startprob_prior": 2.0,
        "transmat_prior": 1.5,
        "weights_prior": 2.0,
        "means_prior": 0.3,
        "means_weight": 1.5,
        "covars_prior": 0.5 * np.eye(D) if matrix else 0.5,
        "covars_weight": 4.0 if matrix else 1.2,
    }


def assert_same_gmm_fit(ours, theirs, rtol=1e-9):
    assert_allclose(ours.monitor_.history, theirs.monitor_.history, rtol=rtol)
    assert ours.monitor_.iter == theirs.monitor_.iter
    for name in ("startprob_", "transmat_", "weights_", "means_", "covars_"):
        assert_allclose(
            getattr(ours, name),
            getattr(theirs, name),
            rtol=rtol,
            atol=1e-12,
            err_msg=name,
        )


# --- hmmlearn parity ------------------------------------------------------------------


@pytest.mark.parametrize("prior", ["default", "map"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("params", ["stmcw", "stcw", "smw"])
def test_gmm_hmm_fits_as_hmmlearn_from_the_same_start(covariance_type, prior, params):
    X, lengths, _ = gaussian_data(1)
    start = random_start(np.random.default_rng(2), covariance_type)
    kwargs = dict(
        n_components=K,
        n_mix=M,
        covariance_type=covariance_type,
        n_iter=6,
        tol=-np.inf,
        init_params="",
        params=params,
        **(map_priors(covariance_type) if prior == "map" else {}),
    )
    theirs = set_start(hmmlearn_hmm.GMMHMM(**kwargs), start).fit(X, lengths)
    ours = set_start(GMMHMM(**kwargs), start).fit(X, lengths)
    assert_same_gmm_fit(ours, theirs)
    assert_allclose(ours.score(X, lengths), theirs.score(X, lengths), rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gmm_hmm_initialises_as_hmmlearn(covariance_type):
    """The same random_state gives hmmlearn's start (nested k-means), hence its
    whole fit."""
    X, lengths, _ = gaussian_data(4)
    kwargs = dict(n_components=K, n_mix=M, covariance_type=covariance_type)
    theirs = hmmlearn_hmm.GMMHMM(n_iter=0, random_state=5, **kwargs).fit(X, lengths)
    ours = GMMHMM(n_iter=0, random_state=5, **kwargs).fit(X, lengths)
    for name in ("startprob_", "transmat_", "weights_", "means_", "covars_"):
        assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-12)
    kwargs.update(n_iter=5, tol=-np.inf, random_state=5)
    theirs = hmmlearn_hmm.GMMHMM(**kwargs).fit(X, lengths)
    ours = GMMHMM(**kwargs).fit(X, lengths)
    assert_same_gmm_fit(ours, theirs)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gmm_hmm_scores_decodes_and_samples_as_hmmlearn(covariance_type):
    X, lengths, _ = gaussian_data(3)
    start = random_start(np.random.default_rng(4), covariance_type)
    kwargs = dict(n_components=K, n_mix=M, covariance_type=covariance_type)
    theirs = set_start(hmmlearn_hmm.GMMHMM(**kwargs), start)
    ours = set_start(GMMHMM(**kwargs), start)
    log_prob, posteriors = ours.score_samples(X, lengths)
    their_log_prob, their_posteriors = theirs.score_samples(X, lengths)
    assert_allclose(log_prob, their_log_prob, rtol=1e-12)
    assert_allclose(posteriors, their_posteriors, rtol=1e-9, atol=1e-12)
    for algorithm in ("viterbi", "map"):
        got = ours.decode(X, lengths, algorithm=algorithm)
        want = theirs.decode(X, lengths, algorithm=algorithm)
        assert_allclose(got[0], want[0], rtol=1e-12)
        assert_array_equal(got[1], want[1])
    for currstate in (None, 1):
        got = ours.sample(30, random_state=7, currstate=currstate)
        want = theirs.sample(30, random_state=7, currstate=currstate)
        assert_allclose(got[0], want[0], rtol=1e-12)
        assert_array_equal(got[1], want[1])
    assert_allclose(
        ours.get_stationary_distribution(),
        theirs.get_stationary_distribution(),
        rtol=1e-12,
    )
    # hmmlearn counts the weights' free parameters as n_mix - 1, for all states
    # together; each state has n_mix - 1.
    extra = (K - 1) * (M - 1)
    assert_allclose(
        ours.bic(X, lengths), theirs.bic(X, lengths) + extra * np.log(len(X))
    )
    assert_allclose(ours.aic(X, lengths), theirs.aic(X, lengths) + 2 * extra)


# --- independent oracles -------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("holes", [False, True])
def test_gmm_hmm_equals_every_path_enumerated(covariance_type, holes):
    rng = np.random.default_rng(11)
    model = set_start(
        GMMHMM(K, n_mix=M, covariance_type=covariance_type),
        random_start(rng, covariance_type, n_features=3),
    )
    lengths = [4, 1, 5]
    X = rng.normal(scale=2.0, size=(sum(lengths), 3))
    if holes:
        X[rng.random(X.shape) < 0.3] = np.nan
        X[2] = np.nan  # a frame with nothing observed: only the chain
    covariances = full_covariances(model)
    per_component = [
        gaussian_log_frameprob(X, model.means_[k], covariances[k]) for k in range(K)
    ]
    L = np.stack(
        [
            logsumexp(per_component[k] + np.log(model.weights_[k]), axis=1)
            for k in range(K)
        ],
        axis=1,
    )
    L[np.all(np.isnan(X), axis=1)] = 0.0
    assert_equals_every_path(model, X, lengths, L)


def test_impute_fills_with_the_smoothed_expectation_over_components():
    rng = np.random.default_rng(3)
    model = set_start(
        GMMHMM(K, n_mix=M, covariance_type="full"),
        random_start(rng, "full", n_features=3),
    )
    X = model.sample(30, random_state=1)[0]
    X[rng.random(X.shape) < 0.3] = np.nan
    X[5] = np.nan
    lengths = [10, 20]
    imputed = model.impute(X, lengths)
    _, posteriors = model.score_samples(X, lengths)
    covariances = full_covariances(model)
    for t in range(len(X)):
        seen = ~np.isnan(X[t])
        if seen.all():
            assert_array_equal(imputed[t], X[t])
            continue
        expectation = np.zeros(int((~seen).sum()))
        for k in range(K):
            log_joint = (
                np.log(model.weights_[k])
                + gaussian_log_frameprob(X[t : t + 1], model.means_[k], covariances[k])[
                    0
                ]
            )
            within = np.exp(log_joint - logsumexp(log_joint))
            for m in range(M):
                cov, mean = covariances[k, m], model.means_[k, m]
                regression = np.linalg.solve(
                    cov[np.ix_(seen, seen)], cov[np.ix_(seen, ~seen)]
                )
                conditional = mean[~seen] + (X[t, seen] - mean[seen]) @ regression
                expectation += posteriors[t, k] * within[m] * conditional
        assert_allclose(imputed[t, ~seen], expectation, rtol=1e-9, atol=1e-12)
        assert_array_equal(imputed[t, seen], X[t, seen])


# --- beyond hmmlearn ------------------------------------------------------------------


def test_integer_weights_equal_repeated_sequences():
    X, lengths, _ = gaussian_data(7)
    start = random_start(np.random.default_rng(8), "diag")
    weights = np.array([2, 0, 1, 3])
    pieces = np.split(X, np.cumsum(lengths)[:-1])
    repeated = np.concatenate([p for p, w in zip(pieces, weights) for _ in range(w)])
    kwargs = dict(n_components=K, n_mix=M, init_params="", n_iter=5, tol=-np.inf)
    weighted = set_start(GMMHMM(**kwargs), start).fit(X, lengths, weights)
    plain = set_start(GMMHMM(**kwargs), start).fit(
        repeated, np.repeat(lengths, weights)
    )
    assert_same_gmm_fit(weighted, plain, rtol=1e-10)


def test_missing_values_fit_with_a_likelihood_that_never_falls():
    X, lengths, _ = gaussian_data(9, lengths=(150, 90, 60))
    X[np.random.default_rng(0).random(X.shape) < 0.2] = np.nan
    model = GMMHMM(
        K, n_mix=M, covariance_type="full", n_iter=15, tol=-np.inf, random_state=0
    ).fit(X, lengths)
    history = np.array(model.monitor_.history)
    assert np.all(np.isfinite(history))
    assert np.all(np.diff(history) >= -1e-9 * np.abs(history[1:]))
    assert not np.isnan(model.impute(X, lengths)).any()


def test_a_state_without_mass_is_reseeded():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    start = random_start(rng, "diag")
    start["startprob_"] = [1.0, 0.0]
    start["transmat_"] = [[1.0, 0.0], [0.0, 1.0]]  # state 1 unreachable
    kwargs = dict(n_components=K, n_mix=M, init_params="", n_iter=3)
    model = set_start(GMMHMM(**kwargs), start)
    with pytest.warns(fastem.DegenerateComponentWarning):
        model.fit(X)
    assert model.n_reseeds_ >= 1
    for name in ("weights_", "means_", "covars_"):
        assert np.all(np.isfinite(getattr(model, name))), name
    model = set_start(GMMHMM(on_degenerate="raise", **kwargs), start)
    with pytest.raises(ValueError, match="lost all their posterior mass"):
        model.fit(X)


def test_partial_fit_starts_as_one_iteration_of_fit():
    X, lengths, _ = gaussian_data(10, lengths=(200,))
    kwargs = dict(n_components=K, n_mix=M, random_state=0)
    online = GMMHMM(**kwargs).partial_fit(X)
    one_step = GMMHMM(n_iter=1, **kwargs).fit(X)
    for name in ("weights_", "means_", "covars_"):
        assert_allclose(getattr(online, name), getattr(one_step, name), rtol=1e-12)


def test_bad_parameters_get_a_clear_error():
    X, lengths, _ = gaussian_data(2)
    start = random_start(np.random.default_rng(0), "diag")
    model = set_start(GMMHMM(K, n_mix=M, init_params=""), start)
    model.covars_ = np.ones((K, M))
    with pytest.raises(ValueError, match=r"covars_ must have shape \(2, 2, 2\)"):
        model.fit(X, lengths)
    model = set_start(GMMHMM(K, n_mix=M, init_params=""), start)
    model.weights_ = np.full((K, M), 0.6)
    with pytest.raises(ValueError, match="weights_ rows must sum to 1"):
        model.score(X, lengths)
    model = set_start(GMMHMM(K, n_mix=M, covariance_type="full", init_params=""), start)
    model.covars_ = -np.ones((K, M, D, D))
    with pytest.raises(ValueError, match="symmetric, positive-definite"):
        model.fit(X, lengths)
    with pytest.raises(ValueError, match="weights_prior must broadcast"):
        GMMHMM(K, n_mix=M, weights_prior=np.ones(5), random_state=0).fit(X, lengths)


def test_n_mix_one_with_no_prior_scores_as_a_gaussian_hmm():
    """One component per state: the same densities as GaussianHMM."""
    X, lengths, _ = gaussian_data(5)
    start = random_start(np.random.default_rng(6), "full")
    for covariance_type in COVARIANCE_TYPES:
        gmm = set_start(GMMHMM(K, n_mix=1, covariance_type=covariance_type), start)
        gmm.weights_ = np.ones((K, 1))
        gmm.means_ = start["means_"][:, :1]
        covars = random_covars(np.random.default_rng(1), covariance_type, n_mix=1)
        gmm.covars_ = covars
        gaussian = fastem.GaussianHMM(K, covariance_type=covariance_type)
        gaussian.startprob_, gaussian.transmat_ = gmm.startprob_, gmm.transmat_
        gaussian.means_ = gmm.means_[:, 0]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            gaussian.covars_ = {
                "spherical": covars[:, 0],
                "diag": covars[:, 0],
                "full": covars[:, 0],
                "tied": covars[0],
            }[covariance_type]
        if covariance_type == "tied":
            gmm.covars_ = np.repeat(covars[:1], K, axis=0)
        assert_allclose(gmm.score(X, lengths), gaussian.score(X, lengths), rtol=1e-12)
