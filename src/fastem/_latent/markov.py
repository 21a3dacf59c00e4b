"""The Markov chain of a hidden Markov model: its statistics (expected start and
transition counts beside the emission family's), its parameters frozen for a pass
over sequences (forward-backward, Viterbi), its M-step under Dirichlet priors, and
what a chain is asked for (validation, free parameters, sampling, the stationary
distribution).

A pass over a block of sequences is three steps, each compiled and each run over
many sequences or frames on the kernels' threads:

1. the emission family's log-densities of every frame and state
   (``component_log_prob``, per missingness pattern where frames hold NaN: the
   density of a frame's observed features);
2. forward-backward over every sequence (``_kernels._markov``): the posteriors of
   the frames, the sequences' log-likelihoods and the expected start and transition
   counts;
3. the family's statistics given the posteriors (``stats_given``), weighted by each
   frame's sequence weight.

Nothing of size frames x states outlives the block. A sequence longer than a block
(:func:`~fastem._engine.sequences.max_block_frames`) is read in blocks of frames
instead: forward once, keeping the normalised forward variables of each block's last
frame (K numbers a block), then backward block by block, each block's forward
variables recomputed from the checkpoint before it; the emission's statistics are
taken block by block. The posteriors and expected counts have the bits of the
sequence run whole (the emission's sums differ by rounding: they add in blocks).
"""

from dataclasses import dataclass, field

import numpy as np
from scipy import linalg

from .._engine.model import FrozenModel
from .._engine.patterns import component_log_prob_by_pattern, stats_given_by_pattern
from .._engine.persistence import register_value
from .._engine.sequences import max_block_frames
from .._engine.stats import Stats
from .._kernels import get_backend


@dataclass
class ChainStats(Stats):
    """Expected counts of a hidden Markov chain, and its emission's statistics.

    Attributes
    ----------
    start : ndarray of shape (K,)
        sum_s w_s p(z_0 = k | x_s).
    trans : ndarray of shape (K, K)
        sum_s w_s sum_t p(z_t = i, z_{t+1} = j | x_s).
    emission : Stats
        The emission family's statistics given the frames' posteriors.
    log_likelihood : float
        sum_s w_s log p(x_s).
    """

    start: np.ndarray
    trans: np.ndarray
    emission: Stats
    log_likelihood: float = 0.0

    _sums = ("start", "trans")

    def _sum_arrays(self):
        return [self.start, self.trans, *self.emission._sum_arrays()]

    def _replace_sums(self, sums, log_likelihood):
        return ChainStats(
            sums[0], sums[1], self.emission._replace_sums(sums[2:], 0.0), log_likelihood
        )

    def _check_frame(self, other):
        super()._check_frame(other)
        self.emission._check_frame(other.emission)

    def _reframed(self, like):
        return ChainStats(
            self.start,
            self.trans,
            self.emission._reframed(like.emission),
            self.log_likelihood,
        )


@dataclass(frozen=True, eq=False)
class FrozenHMM(FrozenModel):
    """A hidden Markov model's parameters for one pass over sequences.

    Attributes
    ----------
    startprob : ndarray of shape (K,), float64
    transmat : ndarray of shape (K, K), float64, C-contiguous
    emission : FrozenModel
        The family's model of a frame given each state: its ``component_log_prob``
        gives log p(x_t | k) (weights of one), its ``stats_given`` the statistics.
    """

    startprob: np.ndarray
    transmat: np.ndarray
    emission: FrozenModel

    @property
    def n_outputs(self):
        return len(self.startprob)

    @property
    def work_per_row(self):
        return self.emission.work_per_row

    def _sequence_threads(self, block, n_threads):
        """Threads for forward-backward or Viterbi over the block's sequences: no
        more than the sequences, the work (frames x states) keeps busy, or the CPUs
        other work leaves idle (the bits are the same for any count)."""
        return max(1, min(self.threads(n_threads, len(block.X)), block.n_sequences))

    def zero_stats(self):
        K = self.n_outputs
        return ChainStats(np.zeros(K), np.zeros((K, K)), self.emission.zero_stats())

    def kernel_context(self):
        return self.emission.kernel_context()

    def frame_log_prob(self, block, n_threads):
        """log p(x_t | k) of every frame of ``block`` and state, (n_frames, K)."""
        threads = self.threads(n_threads, len(block.X))
        if block.patterns is None:
            return np.ascontiguousarray(
                self.emission.component_log_prob(block.X, threads)
            )
        return component_log_prob_by_pattern(
            self.emission, block.X, block.patterns, n_threads
        )

    def _forward_backward(self, block, n_threads, counting):
        log_frameprob = self.frame_log_prob(block, n_threads)
        K = self.n_outputs
        posteriors = np.empty_like(log_frameprob)
        log_prob = np.empty(block.n_sequences)
        start = np.empty(K) if counting else None
        trans = np.empty((K, K)) if counting else None
        get_backend().markov.forward_backward(
            log_frameprob,
            block.bounds,
            self.startprob,
            self.transmat,
            block.sequence_weight,
            self._sequence_threads(block, n_threads),
            posteriors,
            log_prob,
            start,
            trans,
        )
        return posteriors, log_prob, start, trans

    def _emission_stats(self, block, posteriors, n_threads):
        """The emission's statistics of the block's frames given their posteriors."""
        weight = block.frame_weight()
        if block.patterns is None:
            return self.emission.stats_given(
                block.X, posteriors, weight, self.threads(n_threads, len(block.X))
            )
        return stats_given_by_pattern(
            self.emission, block.X, posteriors, weight, block.patterns, n_threads
        )

    def _is_long(self, block):
        """Whether the block is one sequence to read in blocks of frames."""
        return block.n_sequences == 1 and len(block.X) > max_block_frames(
            self.n_outputs
        )

    def _forward_backward_blocks(self, block, n_threads, posteriors_done, counting):
        """Forward-backward of the block's one long sequence read in blocks of
        frames (see the module's notes): log p(x) and, when ``counting``, the
        weighted start and transition counts; each block's posteriors go to
        ``posteriors_done(frames, posteriors)`` (in reverse order). log p(x) is
        None where the scaled recursions left their range: nothing handed over
        counts then, the caller runs the sequence whole."""
        spans = block.frame_spans(self.n_outputs)

        def log_frameprob(b):
            return self.frame_log_prob(block.frames(*spans[b]), n_threads)

        done = None
        if posteriors_done is not None:

            def done(b, posteriors):
                posteriors_done(block.frames(*spans[b]), posteriors)

        K = self.n_outputs
        start = np.empty(K) if counting else None
        trans = np.empty((K, K)) if counting else None
        weight = block.sequence_weight
        log_prob = get_backend().markov.forward_backward_blocks(
            log_frameprob,
            len(spans),
            self.startprob,
            self.transmat,
            1.0 if weight is None else float(weight[0]),
            done,
            start,
            trans,
        )
        return log_prob, start, trans

    def accumulate_sequences(self, block, n_threads):
        """The statistics of the block's sequences (a :class:`ChainStats`)."""
        if self._is_long(block):
            emission = [self.emission.zero_stats()]

            def add_frames(frames, posteriors):
                emission[0] += self._emission_stats(frames, posteriors, n_threads)

            log_prob, start, trans = self._forward_backward_blocks(
                block, n_threads, add_frames, counting=True
            )
            if log_prob is not None:
                log_likelihood = block.total_log_likelihood(np.array([log_prob]))
                return ChainStats(start, trans, emission[0], log_likelihood)
        posteriors, log_prob, start, trans = self._forward_backward(
            block, n_threads, counting=True
        )
        emission = self._emission_stats(block, posteriors, n_threads)
        return ChainStats(start, trans, emission, block.total_log_likelihood(log_prob))

    def score_sequences(self, block, n_threads, posteriors=True):
        """Per-sequence log p(x_s) (n_sequences,) and the frames' posteriors
        (n_frames, K), or None where not wanted and the block is one long sequence
        (then read once, forward)."""
        if self._is_long(block):
            frames = np.empty((len(block.X), self.n_outputs)) if posteriors else None

            def keep(part, part_posteriors):
                lo = part.first_frame - block.first_frame
                frames[lo : lo + len(part.X)] = part_posteriors

            log_prob, _, _ = self._forward_backward_blocks(
                block, n_threads, keep if posteriors else None, counting=False
            )
            if log_prob is not None:
                return np.array([log_prob]), frames
        frames, log_prob, _, _ = self._forward_backward(
            block, n_threads, counting=False
        )
        return log_prob, frames

    def viterbi(self, block, n_threads):
        """The most probable state path of each sequence of ``block`` and its
        log-probability, as hmmlearn chooses among ties.

        Returns
        -------
        states : ndarray of shape (n_frames,), intp
        log_prob : ndarray of shape (n_sequences,)
        """
        lattice = self.frame_log_prob(block, n_threads)
        with np.errstate(divide="ignore"):
            log_start = np.log(self.startprob)
            log_trans = np.ascontiguousarray(np.log(self.transmat))
        states = np.empty(len(block.X), dtype=np.int64)
        log_prob = np.empty(block.n_sequences)
        get_backend().markov.viterbi(
            lattice,
            block.bounds,
            log_start,
            log_trans,
            self._sequence_threads(block, n_threads),
            states,
            log_prob,
        )
        return states.astype(np.intp, copy=False), log_prob


# --- the M-step -----------------------------------------------------------------------


def dirichlet_map(counts, prior, previous):
    """hmmlearn's M-step of distributions (rows of the last axis) under Dirichlet
    priors: max(prior - 1 + counts, 0), zero where ``previous`` is zero (forbidden
    starts and transitions stay forbidden), normalised; a row whose sum is 0 stays 0
    (its state was never left) and is for the caller to repair.

    Parameters
    ----------
    counts : ndarray of shape (K,) or (K, M)
    prior : float or array broadcastable to ``counts``
    previous : ndarray like counts

    Returns
    -------
    ndarray like counts
    """
    values = np.maximum(np.asarray(prior, dtype=np.float64) - 1.0 + counts, 0.0)
    values = np.where(previous == 0, 0.0, values)
    total = values.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, values / np.where(total > 0, total, 1.0), 0.0)


def reseeded_chain(startprob, transmat, degenerate):
    """The chain with each degenerate state given a uniform row of transitions (over
    the transitions it may take) and probability 1 / K into it from every state
    that may reach it, the rows renormalised: the state can be visited again.

    Returns
    -------
    startprob, transmat : ndarray
        New arrays.
    """
    K = len(startprob)
    transmat = transmat.copy()
    for k in np.flatnonzero(degenerate):
        allowed = transmat[k] > 0
        transmat[k] = np.where(allowed, 1.0, 0.0) if allowed.any() else 1.0
        transmat[k] /= transmat[k].sum()
        into = transmat[:, k] > 0
        into[k] = False
        transmat[into, k] = 1.0 / K
    transmat /= transmat.sum(axis=1, keepdims=True)
    return startprob.copy(), transmat


# --- what a chain is asked for -------------------------------------------------------


def check_distribution(values, name, shape):
    """A float64 copy of a distribution (``shape[-1]`` entries summing to 1 along the
    last axis), or hmmlearn's ValueError."""
    array = np.array(values, dtype=np.float64)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name} must hold probabilities (finite, non-negative)")
    sums = array.sum(axis=-1)
    if not np.allclose(sums, 1):
        raise ValueError(
            f"{name} must sum to 1 (got {sums:.4f})"
            if sums.ndim == 0
            else f"{name} rows must sum to 1 (got row sums of {sums})"
        )
    return array


def chain_n_parameters(n_components):
    """Free parameters of the start distribution and the transition matrix."""
    return (n_components - 1) + n_components * (n_components - 1)


def stationary_distribution(transmat):
    """The left eigenvector of ``transmat`` for its largest eigenvalue, normalised
    (hmmlearn's ``get_stationary_distribution``)."""
    eigenvalues, eigenvectors = linalg.eig(np.asarray(transmat).T)
    vector = np.real_if_close(eigenvectors[:, np.argmax(eigenvalues)])
    return vector / vector.sum()


def sample_states(startprob, transmat, n_samples, random_state, currstate=None):
    """hmmlearn's draws of a state path: the first state from ``startprob`` (or
    ``currstate``), then each from its predecessor's row, one ``rand()`` a state,
    interleaved with ``emit(state)`` as hmmlearn interleaves its emissions.

    Returns a generator of states; the caller draws the emission of each before the
    next state is drawn.
    """
    transmat_cdf = np.cumsum(transmat, axis=1)
    if currstate is None:
        startprob_cdf = np.cumsum(startprob)
        currstate = int((startprob_cdf > random_state.rand()).argmax())
    yield currstate
    for _ in range(n_samples - 1):
        currstate = int((transmat_cdf[currstate] > random_state.rand()).argmax())
        yield currstate


@dataclass
class ConvergenceMonitor:
    """hmmlearn's convergence monitor, as a fitted attribute (``monitor_``).

    Attributes
    ----------
    tol : float
    n_iter : int
    verbose : bool
    history : list of float
        The log-likelihood of the training sequences at each iteration, under the
        parameters the iteration started from (EM never lowers it without a prior).
    iter : int
        The iterations run.
    """

    tol: float
    n_iter: int
    verbose: bool
    history: list = field(default_factory=list)
    iter: int = 0

    _template = "{iter:>10d} {log_prob:>16.8f} {delta:>+16.8f}"

    @property
    def converged(self):
        """Whether EM stopped by itself: hmmlearn's rule, n_iter reached or the last
        gain below tol."""
        return self.iter == self.n_iter or (
            len(self.history) >= 2 and self.history[-1] - self.history[-2] < self.tol
        )

    def report(self, log_prob, stream):
        """Record an iteration's log-likelihood, printing hmmlearn's line if
        verbose."""
        if self.verbose:
            delta = log_prob - self.history[-1] if self.history else np.nan
            print(
                self._template.format(
                    iter=self.iter + 1, log_prob=log_prob, delta=delta
                ),
                file=stream,
            )
        self.history.append(float(log_prob))
        self.iter += 1


register_value("hmm-convergence-monitor", ConvergenceMonitor)
