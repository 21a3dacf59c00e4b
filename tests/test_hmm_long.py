"""One sequence longer than a block: read in blocks of frames, forward once keeping a
checkpoint per block, then backward block by block from the checkpoints, never held
whole (frames x states).

Oracles: the kernel's forward-backward of the sequence whole (the same bits for the
posteriors, counts and log-likelihood: the same recursions in the same order), the
twin, and the fits of the same data with the default block size (the emission's
statistics add in blocks of frames: equal to rounding, rtol 1e-10).
"""

import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastem._engine.sequences import SequenceSource
from fastem._kernels import _markov
from fastem._kernels._reference import markov as twin
from fastem.hmm import CategoricalHMM, GaussianHMM, PoissonHMM
from test_hmm import categorical_data, gaussian_data, poisson_data


def chain(rng, K, T):
    startprob = rng.dirichlet(np.ones(K))
    transmat = rng.dirichlet(np.ones(K), size=K) + 3 * np.eye(K)
    transmat /= transmat.sum(axis=1, keepdims=True)
    log_frameprob = rng.normal(scale=4.0, size=(T, K)) - 30.0
    return startprob, transmat, log_frameprob


def whole(backend, L, startprob, transmat, weight):
    K = len(startprob)
    posteriors, log_prob = np.empty_like(L), np.empty(1)
    start, trans = np.empty(K), np.empty((K, K))
    backend.forward_backward(
        L,
        np.array([0, len(L)]),
        startprob,
        transmat,
        np.array([weight]),
        1,
        posteriors,
        log_prob,
        start,
        trans,
    )
    return log_prob[0], posteriors, start, trans


def in_blocks(backend, L, startprob, transmat, weight, size):
    K = len(startprob)
    edges = list(range(0, len(L), size)) + [len(L)]
    reads, parts = [], {}

    def frame_log_prob(b):
        reads.append(b)
        return np.ascontiguousarray(L[edges[b] : edges[b + 1]])

    def done(b, posteriors):
        parts[b] = posteriors

    start, trans = np.empty(K), np.empty((K, K))
    log_prob = backend.forward_backward_blocks(
        frame_log_prob, len(edges) - 1, startprob, transmat, weight, done, start, trans
    )
    posteriors = np.concatenate([parts[b] for b in range(len(edges) - 1)])
    return log_prob, posteriors, start, trans, reads


@pytest.mark.parametrize("K", [1, 2, 3, 5, 10])
@pytest.mark.parametrize("size", [1, 2, 7, 64, 1000])
def test_blocks_from_checkpoints_have_the_bits_of_the_sequence_whole(K, size):
    rng = np.random.default_rng(K * 100 + size)
    startprob, transmat, L = chain(rng, K, 300)
    expected = whole(_markov, L, startprob, transmat, 1.7)
    *got, reads = in_blocks(_markov, L, startprob, transmat, 1.7, size)
    for ours, theirs in zip(got, expected):
        assert_array_equal(ours, theirs)
    n_blocks = -(-300 // size)
    # Each block read twice: forward in order, then backward in reverse.
    assert reads == list(range(n_blocks)) + list(range(n_blocks - 1, -1, -1))
    # The twin (log space) agrees, block by block too.
    reference = whole(twin, L, startprob, transmat, 1.7)
    *twin_blocks, twin_reads = in_blocks(twin, L, startprob, transmat, 1.7, size)
    assert twin_reads == reads
    for ours, blocked, theirs in zip(got, twin_blocks, reference):
        assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
        assert_array_equal(blocked, theirs)


def test_the_log_likelihood_alone_reads_each_block_once():
    rng = np.random.default_rng(1)
    startprob, transmat, L = chain(rng, 4, 100)
    reads = []

    def frame_log_prob(b):
        reads.append(b)
        return np.ascontiguousarray(L[10 * b : 10 * b + 10])

    log_prob = _markov.forward_backward_blocks(
        frame_log_prob, 10, startprob, transmat, 1.0, None, None, None
    )
    assert reads == list(range(10))
    assert log_prob == whole(_markov, L, startprob, transmat, 1.0)[0]


def test_a_frame_no_state_can_emit_leaves_the_scaled_recursions():
    rng = np.random.default_rng(2)
    startprob, transmat, L = chain(rng, 3, 50)
    L[30] = -np.inf
    result = _markov.forward_backward_blocks(
        lambda b: np.ascontiguousarray(L[10 * b : 10 * b + 10]),
        5,
        startprob,
        transmat,
        1.0,
        None,
        np.empty(3),
        np.empty((3, 3)),
    )
    assert result is None


def test_bad_blocks_get_a_clear_error():
    startprob, transmat, L = chain(np.random.default_rng(3), 3, 20)
    with pytest.raises(ValueError, match=r"frame_log_prob\(0\) must give"):
        _markov.forward_backward_blocks(
            lambda b: L[:, :2].copy(), 2, startprob, transmat, 1.0, None, None, None
        )
    sizes = iter([10, 10, 5])
    with pytest.raises(ValueError, match="gave 5 frames, and 10 on the forward"):
        _markov.forward_backward_blocks(
            lambda b: np.ascontiguousarray(L[: next(sizes)]),
            2,
            startprob,
            transmat,
            1.0,
            lambda b, p: None,
            None,
            None,
        )


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 37 frames for 3 states."""
    monkeypatch.setattr("fastem._engine.sequences.SEQUENCE_BLOCK_BYTES", 16 * 3 * 37)


def fits(model, X, lengths, weight=None):
    return type(model)(**model.get_params()).fit(X, lengths, weight)


CASES = {
    "gaussian-full": lambda: (
        gaussian_data(7, (400, 3, 250), "full")[:2]
        + (GaussianHMM(3, covariance_type="full", random_state=0, n_iter=5),)
    ),
    "gaussian-diag-nan": lambda: (
        gaussian_data(8, (500, 100), "diag")[:2]
        + (GaussianHMM(3, covariance_type="diag", random_state=0, n_iter=5),)
    ),
    "categorical": lambda: (
        categorical_data(9, (400, 200))[:2]
        + (CategoricalHMM(3, random_state=0, n_iter=5),)
    ),
    "poisson": lambda: (
        poisson_data(10, (30, 450))[:2] + (PoissonHMM(3, random_state=0, n_iter=5),)
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_long_sequences_fit_and_score_as_when_held_whole(case, monkeypatch):
    X, lengths, model = CASES[case]()
    if case.endswith("nan"):
        X = X.copy()
        X[::13, 1] = np.nan
        X[5::29] = np.nan
    weight = np.array([1.5] + [0.5] * (len(lengths) - 1))
    held = fits(model, X, lengths, weight)
    held_posteriors = held.predict_proba(X, lengths)
    held_score = held.score(X, lengths)
    monkeypatch.setattr("fastem._engine.sequences.SEQUENCE_BLOCK_BYTES", 16 * 3 * 37)
    read = fits(model, X, lengths, weight)
    assert_allclose(read.monitor_.history, held.monitor_.history, rtol=1e-12)
    assert_allclose(read.transmat_, held.transmat_, rtol=1e-10, atol=1e-14)
    assert_allclose(read.startprob_, held.startprob_, rtol=1e-10, atol=1e-14)
    # Scoring with the same parameters: the same recursions, block by block.
    assert_array_equal(held.predict_proba(X, lengths), held_posteriors)
    assert held.score(X, lengths) == held_score


def test_a_memory_mapped_sequence_is_read_block_by_block(tmp_path, small_blocks):
    X, _, model = CASES["gaussian-full"]()
    path = tmp_path / "frames.npy"
    np.save(path, X)
    mapped = np.load(path, mmap_mode="r")
    from_map = fits(model, mapped, None)
    from_array = fits(model, X, None)
    assert from_map.monitor_.history == from_array.monitor_.history
    assert_array_equal(from_map.means_, from_array.means_)


def test_nothing_of_size_frames_x_states_is_held(monkeypatch):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200_000, 1))
    model = GaussianHMM(4, covariance_type="diag", init_params="", n_iter=1)
    model.startprob_ = np.full(4, 0.25)
    model.transmat_ = np.full((4, 4), 0.25)
    model.means_ = np.array([[-1.0], [0.0], [1.0], [2.0]])
    model.covars_ = np.ones((4, 1))
    frozen = model._fitted_model()
    frames_x_states = 200_000 * 4 * 8
    monkeypatch.setattr("fastem._engine.sequences.SEQUENCE_BLOCK_BYTES", 2**16)
    source = SequenceSource(X, np.array([200_000]))
    peaks = []
    for run in (lambda: source.accumulate(frozen), lambda: source.score(frozen, False)):
        tracemalloc.start()
        run()
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert max(peaks) < frames_x_states / 8
    # The same statistics as the sequence held whole.
    monkeypatch.undo()
    held = SequenceSource(X, np.array([200_000])).accumulate(frozen)
    monkeypatch.setattr("fastem._engine.sequences.SEQUENCE_BLOCK_BYTES", 2**16)
    read = source.accumulate(frozen)
    assert_array_equal(read.start, held.start)
    assert_array_equal(read.trans, held.trans)
    assert read.log_likelihood == held.log_likelihood
    assert_allclose(read.emission.nk, held.emission.nk, rtol=1e-12)


def test_a_long_sequence_out_of_scaled_range_is_run_whole(small_blocks):
    model = CategoricalHMM(2, n_features=3, init_params="", n_iter=1)
    model.startprob_ = np.array([1.0, 0.0])
    model.transmat_ = np.array([[1.0, 0.0], [0.0, 1.0]])
    model.emissionprob_ = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    X = np.zeros((200, 1), dtype=np.int64)
    X[150] = 2  # only the unreachable state emits it: probability 0
    assert model.score(X) == -np.inf
    log_prob, posteriors = model.score_samples(X)
    assert log_prob == -np.inf and np.all(posteriors == 0)
