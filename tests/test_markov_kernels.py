"""The hidden Markov chain kernels (``_markov``) and their twin: against an
independent oracle that enumerates every state path of tiny chains, against each
other on larger ones (the kernels run in scaled probability space, the twin in log
space), across thread counts, on the rare sequences that scaling cannot hold, and
with bad arguments. Also the Gaussian family's two halves of an E-step
(``component_log_prob``, ``stats_given``), which hidden Markov models run around
forward-backward.
"""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from _builders import random_covariances
from fastem._families import gaussian as gm
from fastem._kernels import TWIN


def random_chain(rng, n_states, zeros=False):
    """A random start distribution and transition matrix (some transitions
    forbidden where ``zeros``)."""
    startprob = rng.dirichlet(np.ones(n_states))
    transmat = rng.dirichlet(np.ones(n_states), size=n_states)
    if zeros:
        transmat[rng.random((n_states, n_states)) < 0.3] = 0.0
        transmat[np.arange(n_states), np.arange(n_states)] += 0.1
        transmat /= transmat.sum(axis=1, keepdims=True)
    return startprob, transmat


def bounds_of(lengths):
    return np.r_[0, np.cumsum(lengths)].astype(np.int64)


def run_forward_backward(module, L, lengths, startprob, transmat, weight, n_threads):
    n, K = L.shape
    posteriors = np.full((n, K), np.nan)
    log_prob = np.full(len(lengths), np.nan)
    start, trans = np.full(K, np.nan), np.full((K, K), np.nan)
    module.forward_backward(
        np.ascontiguousarray(L),
        bounds_of(lengths),
        startprob,
        transmat,
        weight,
        n_threads,
        posteriors,
        log_prob,
        start,
        trans,
    )
    return posteriors, log_prob, start, trans


def run_viterbi(module, L, lengths, startprob, transmat, n_threads):
    with np.errstate(divide="ignore"):
        log_start, log_trans = np.log(startprob), np.log(transmat)
    states = np.full(len(L), -1, dtype=np.int64)
    log_prob = np.full(len(lengths), np.nan)
    module.viterbi(
        np.array(L),
        bounds_of(lengths),
        log_start,
        log_trans,
        n_threads,
        states,
        log_prob,
    )
    return states, log_prob


def brute_force(L, lengths, startprob, transmat, weight):
    """Every quantity by enumerating every state path of every sequence."""
    n, K = L.shape
    posteriors = np.zeros((n, K))
    log_prob, best_log_prob, best_paths = [], [], []
    start, trans = np.zeros(K), np.zeros((K, K))
    with np.errstate(divide="ignore"):
        log_start, log_trans = np.log(startprob), np.log(transmat)
    for s, (lo, hi) in enumerate(zip(bounds_of(lengths)[:-1], bounds_of(lengths)[1:])):
        paths = list(itertools.product(range(K), repeat=hi - lo))
        scores = np.array(
            [
                log_start[p[0]]
                + L[lo, p[0]]
                + sum(
                    log_trans[p[t - 1], p[t]] + L[lo + t, p[t]]
                    for t in range(1, len(p))
                )
                for p in paths
            ]
        )
        total = np.logaddexp.reduce(scores)
        log_prob.append(total)
        best = int(np.argmax(scores))
        best_log_prob.append(scores[best])
        best_paths.append(paths[best])
        w = 1.0 if weight is None else weight[s]
        for path, score in zip(paths, scores):
            p = np.exp(score - total)
            for t, state in enumerate(path):
                posteriors[lo + t, state] += p
            start[path[0]] += w * p
            for a, b in zip(path[:-1], path[1:]):
                trans[a, b] += w * p
    return posteriors, np.array(log_prob), start, trans, best_log_prob, best_paths


def backends(compiled_variants=True):
    from fastem._kernels import COMPILED

    named = [("numpy", TWIN)]
    if compiled_variants:
        named += [(f"cython-{name}", kernels) for name, kernels in COMPILED.items()]
    return named


@pytest.mark.parametrize("backend", [name for name, _ in backends()])
@pytest.mark.parametrize("seed", range(4))
def test_forward_backward_and_viterbi_equal_every_path_enumerated(backend, seed):
    module = dict(backends())[backend].markov
    rng = np.random.default_rng(seed)
    K = 3
    lengths = [4, 1, 3, 5][: 2 + seed % 3]
    startprob, transmat = random_chain(rng, K, zeros=seed % 2 == 1)
    L = rng.normal(scale=3.0, size=(sum(lengths), K))
    weight = rng.uniform(0.1, 3.0, size=len(lengths)) if seed % 2 else None
    posteriors, log_prob, start, trans, best_lp, best_paths = brute_force(
        L, lengths, startprob, transmat, weight
    )
    got = run_forward_backward(module, L, lengths, startprob, transmat, weight, 2)
    assert_allclose(got[0], posteriors, rtol=1e-10, atol=1e-14)
    assert_allclose(got[1], log_prob, rtol=1e-12)
    assert_allclose(got[2], start, rtol=1e-10, atol=1e-14)
    assert_allclose(got[3], trans, rtol=1e-10, atol=1e-14)
    states, viterbi_lp = run_viterbi(module, L, lengths, startprob, transmat, 2)
    assert_allclose(viterbi_lp, best_lp, rtol=1e-12)
    assert_array_equal(states, np.concatenate(best_paths))


@pytest.mark.parametrize("n_states", [1, 2, 5, 10, 17])
def test_kernels_equal_the_twin(compiled, n_states):
    """Ragged sequences, K around the vector widths, the scaled kernels against the
    log-space twin."""
    rng = np.random.default_rng(n_states)
    lengths = rng.integers(1, 60, size=23)
    startprob, transmat = random_chain(rng, n_states)
    L = rng.normal(scale=4.0, size=(lengths.sum(), n_states))
    weight = rng.uniform(0, 2, size=len(lengths))
    want = run_forward_backward(TWIN.markov, L, lengths, startprob, transmat, weight, 1)
    got = run_forward_backward(
        compiled.markov, L, lengths, startprob, transmat, weight, 3
    )
    for a, b in zip(got, want):
        assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    assert_array_equal(
        run_viterbi(compiled.markov, L, lengths, startprob, transmat, 3)[0],
        run_viterbi(TWIN.markov, L, lengths, startprob, transmat, 1)[0],
    )


def test_the_bits_do_not_depend_on_the_thread_count(compiled):
    rng = np.random.default_rng(7)
    lengths = rng.integers(1, 400, size=600)
    startprob, transmat = random_chain(rng, 6)
    L = rng.normal(scale=2.0, size=(lengths.sum(), 6))
    weight = rng.uniform(0, 2, size=len(lengths))
    runs = [
        run_forward_backward(
            compiled.markov, L, lengths, startprob, transmat, weight, t
        )
        for t in (1, 2, 3)
    ]
    paths = [
        run_viterbi(compiled.markov, L, lengths, startprob, transmat, t)
        for t in (1, 2, 3)
    ]
    for run, path in zip(runs[1:], paths[1:]):
        for got, want in zip(run + path, runs[0] + paths[0]):
            assert got.tobytes() == want.tobytes()


def test_a_sequence_that_scaling_cannot_hold_runs_in_log_space(compiled):
    """A left-to-right chain whose frames favour an unreachable state by 1000 nats:
    every scale of the reachable states underflows, the log space gets it right (the
    twin and the enumeration agree)."""
    startprob = np.array([1.0, 0.0, 0.0])
    transmat = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])
    L = np.array(
        [
            [0.0, -1e3, -1e3],
            [-1e3, -1e3, 0.0],  # state 2 cannot be reached yet
            [-1e3, -1e3, 0.0],
            [0.0, -1e3, -1.5e3],
            [-1e3, -1.2e3, 0.0],
            [0.0, -1.1e3, -1e3],  # state 0 cannot be reached again
        ]
    )
    lengths = [3, 3]
    want = brute_force(L, lengths, startprob, transmat, None)
    got = run_forward_backward(
        compiled.markov, L, lengths, startprob, transmat, None, 1
    )
    for a, b in zip(got, want[:4]):
        assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert np.all(np.isfinite(got[1]))


def test_an_impossible_sequence_has_log_probability_minus_infinity(compiled):
    startprob = np.array([1.0, 0.0])
    transmat = np.array([[1.0, 0.0], [0.0, 1.0]])
    L = np.array([[0.0, 0.0], [-np.inf, 0.0], [0.0, -1.0]])  # frame 1: state 1 only
    for module in (compiled.markov, TWIN.markov):
        posteriors, log_prob, start, trans = run_forward_backward(
            module, L, [2, 1], startprob, transmat, None, 1
        )
        assert log_prob[0] == -np.inf
        assert_allclose(log_prob[1], 0.0)
        assert_array_equal(posteriors[:2], 0.0)  # no mass from the impossible one
        assert_allclose(start, [1.0, 0.0])
        assert_array_equal(trans, 0.0)


def test_scoring_leaves_the_counts_out(compiled):
    rng = np.random.default_rng(3)
    startprob, transmat = random_chain(rng, 4)
    L = rng.normal(size=(30, 4))
    posteriors, log_prob = np.empty((30, 4)), np.empty(2)
    compiled.markov.forward_backward(
        L,
        bounds_of([10, 20]),
        startprob,
        transmat,
        None,
        1,
        posteriors,
        log_prob,
        None,
        None,
    )
    want = run_forward_backward(TWIN.markov, L, [10, 20], startprob, transmat, None, 1)
    assert_allclose(posteriors, want[0], rtol=1e-10, atol=1e-14)
    assert_allclose(log_prob, want[1], rtol=1e-12)


def test_bad_arguments_raise(compiled):
    module = compiled.markov
    startprob, transmat = np.full(2, 0.5), np.full((2, 2), 0.5)
    L = np.zeros((4, 2))
    out = (np.empty((4, 2)), np.empty(2), np.empty(2), np.empty((2, 2)))
    with pytest.raises(ValueError, match="at least one frame"):
        module.forward_backward(
            L, np.array([0, 0, 4]), startprob, transmat, None, 1, *out
        )
    with pytest.raises(ValueError, match="bounds"):
        module.forward_backward(L, np.array([0, 3]), startprob, transmat, None, 1, *out)
    with pytest.raises(ValueError, match="transmat"):
        module.forward_backward(
            L, np.array([0, 4]), startprob, np.full((3, 3), 1 / 3), None, 1, *out
        )


# --- the Gaussian family's halves of an E-step ------------------------------------


@pytest.mark.parametrize("covariance_type", gm.COVARIANCE_TYPES)
@pytest.mark.parametrize("n_features", [1, 3, 8, 9, 20])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gaussian_halves_equal_the_twin(compiled, covariance_type, n_features, dtype):
    rng = np.random.default_rng(n_features)
    K, n = 4, 517
    X = rng.normal(size=(n, n_features)).astype(dtype)
    X = X[::-1]  # a strided, read-only-like layout
    means = rng.normal(size=(K, n_features))
    covariances = random_covariances(rng, K, n_features, covariance_type)
    factors = gm.precision_cholesky(covariances, covariance_type)
    log_norm = gm.log_norm(
        rng.dirichlet(np.ones(K)), factors, covariance_type, n_features
    )
    resp = rng.dirichlet(np.ones(K), size=n)
    weight = rng.uniform(0, 2, size=n)
    shape = gm.second_moment_shape(K, n_features, covariance_type)
    outputs = {}
    for name, module in (("twin", TWIN.gaussian), ("compiled", compiled.gaussian)):
        log_prob = np.empty((n, K))
        module.component_log_prob(
            X, means, factors, log_norm, covariance_type, 2, log_prob
        )
        sums = [np.empty(K), np.empty((K, n_features)), np.empty(shape)]
        module.stats_given(X, weight, resp, means, covariance_type, 2, *sums)
        outputs[name] = [log_prob, *sums]
    for got, want in zip(outputs["compiled"], outputs["twin"]):
        assert_allclose(got, want, rtol=1e-10, atol=1e-9)
