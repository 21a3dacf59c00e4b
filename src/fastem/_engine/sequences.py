"""Rows that come in sequences: ``lengths`` cuts the rows of X into consecutive
sequences, each read whole by a model over sequences, each with a weight.

Statistics add over sequences exactly as they add over chunks of rows, so a pass runs
the model over blocks of whole sequences (a few tens of megabytes of per-frame work
each: nothing of size frames x outputs outlives a block) and adds the blocks'
statistics in order. Blocks depend on the lengths and the model's number of outputs,
never on the thread count.
"""

from dataclasses import dataclass
from numbers import Integral

import numpy as np

from .estimator import MAX_TOTAL_WEIGHT
from .patterns import group_patterns
from .threads import effective_n_threads

# Bytes of per-frame work (two frames x outputs float64 arrays) per block of
# sequences: the kernels' threads stay busy on many sequences at once, and memory
# stays bounded whatever the number of frames (a longer sequence is a block alone).
SEQUENCE_BLOCK_BYTES = 64 * 2**20


def checked_lengths(lengths, n_samples):
    """The sequences' lengths as int64, checked against the ``n_samples`` rows.

    Parameters
    ----------
    lengths : array-like of int, or None
        None: one sequence of all rows.
    n_samples : int

    Returns
    -------
    ndarray of shape (n_sequences,), int64

    Raises
    ------
    ValueError
        If the lengths are not positive integers summing to ``n_samples``.
    """
    if lengths is None:
        return np.array([n_samples], dtype=np.int64)
    array = np.asarray(lengths)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError(f"lengths must be 1-D, got shape {array.shape}")
    if len(array) == 0:
        raise ValueError("lengths is empty: give at least one sequence")
    if array.dtype.kind == "f" and np.all(np.isfinite(array)):
        if np.all(array == np.round(array)):
            array = array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise ValueError(f"lengths must be integers, got dtype {array.dtype}")
    array = array.astype(np.int64)
    short = np.flatnonzero(array < 1)
    if len(short):
        raise ValueError(
            f"lengths must be positive: sequence {short[0]} has length "
            f"{array[short[0]]} (a sequence without frames has no likelihood; "
            "leave it out)"
        )
    total = int(np.sum(array))
    if total != n_samples:
        raise ValueError(
            f"lengths sum to {total}, but X has {n_samples} rows: they must be "
            "equal (each row is a frame of exactly one sequence)"
        )
    return array


def checked_sequence_weight(sample_weight, lengths):
    """Validated float64 weights, one per sequence, or None for unit weights.

    Raises
    ------
    ValueError
        If the weights are not one per sequence, are negative, NaN or infinite, are
        all zero, or weigh the frames beyond ``MAX_TOTAL_WEIGHT``.
    """
    if sample_weight is None:
        return None
    if isinstance(sample_weight, Integral | float):
        sample_weight = np.full(len(lengths), float(sample_weight))
    weight = np.asarray(sample_weight, dtype=np.float64)
    if weight.shape != lengths.shape:
        raise ValueError(
            f"sample_weight must hold one weight per sequence: {len(lengths)} "
            f"sequences, got shape {weight.shape}"
        )
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise ValueError("sample_weight must be non-negative and finite")
    total = float(weight @ lengths)
    if total <= 0:
        raise ValueError("sample_weight is zero for every sequence")
    if not total <= MAX_TOTAL_WEIGHT:
        raise ValueError(
            f"sample_weight weighs the frames {total:.3g} in all: weighted sums of "
            "log-likelihoods would overflow float64. Divide the weights by a "
            "constant."
        )
    return weight


@dataclass(frozen=True)
class SequenceBlock:
    """Whole consecutive sequences, as a model reads them in one go.

    Attributes
    ----------
    X : ndarray of shape (n_frames, n_features)
        A view of the source's rows, never written.
    bounds : ndarray of shape (n_sequences + 1,), int64
        Where each sequence starts in X, then X's length.
    sequence_weight : ndarray of shape (n_sequences,), float64, or None
    patterns : list of Pattern, or None
        The block's frames by missingness pattern (rows counted from the block's
        first); None where X has no NaN.
    first_frame, first_sequence : int
        Where the block starts in the source.
    """

    X: np.ndarray
    bounds: np.ndarray
    sequence_weight: np.ndarray | None
    patterns: list | None
    first_frame: int
    first_sequence: int

    @property
    def n_sequences(self):
        return len(self.bounds) - 1

    def frame_weight(self):
        """Each frame's weight, its sequence's (None for unit weights)."""
        if self.sequence_weight is None:
            return None
        return np.repeat(self.sequence_weight, np.diff(self.bounds))

    def total_log_likelihood(self, log_prob):
        """sum_s w_s log p(x_s) of the block's per-sequence log-likelihoods; a
        sequence of weight 0 adds nothing (even where its probability is 0)."""
        if self.sequence_weight is None:
            return float(np.sum(log_prob))
        weighted = np.where(self.sequence_weight > 0, self.sequence_weight, 0.0)
        with np.errstate(invalid="ignore"):
            terms = np.where(weighted > 0, weighted * log_prob, 0.0)
        return float(np.sum(terms))


class SequenceSource:
    """Rows in memory cut into sequences by ``lengths``, each with a weight.

    The frozen model runs over blocks of whole sequences: its
    ``accumulate_sequences(block, n_threads)`` gives their statistics (added in block
    order), ``score_sequences(block, n_threads)`` their per-sequence log-likelihoods
    and per-frame posteriors, ``viterbi(block, n_threads)`` their most probable
    paths.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Never copied or written.
    lengths : ndarray of shape (n_sequences,), int64
        Checked by :func:`checked_lengths`.
    sequence_weight : ndarray of shape (n_sequences,), float64, or None
    missing : ndarray of shape (n_samples, n_features), bool, or None
        Where X is NaN (a missing value), None where nothing is.
    """

    def __init__(self, X, lengths, sequence_weight=None, missing=None):
        self.X = X
        self.lengths = lengths
        self.bounds = np.r_[0, np.cumsum(lengths)].astype(np.int64)
        self.sequence_weight = sequence_weight
        self.patterns = None if missing is None else group_patterns(missing)
        self.n_threads = effective_n_threads()
        self._partitions = {}

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    @property
    def dtype(self):
        return self.X.dtype

    @property
    def n_sequences(self):
        return len(self.lengths)

    @property
    def sample_weight(self):
        """Each frame's weight, its sequence's (None for unit weights)."""
        if self.sequence_weight is None:
            return None
        return np.repeat(self.sequence_weight, self.lengths)

    @property
    def total_weight(self):
        """The frames' total weight (their number when unweighted)."""
        if self.sequence_weight is None:
            return float(self.n_samples)
        return float(self.sequence_weight @ self.lengths)

    def _partition(self, n_outputs):
        """The first sequence of each block, then n_sequences."""
        if n_outputs not in self._partitions:
            max_frames = max(1, SEQUENCE_BLOCK_BYTES // (16 * max(1, n_outputs)))
            starts, first = [0], 0
            while first < self.n_sequences:
                # The last sequence that ends within max_frames of the block's start,
                # at least the first one.
                end = np.searchsorted(
                    self.bounds, self.bounds[first] + max_frames, side="right"
                )
                first = max(first + 1, int(end) - 1)
                starts.append(min(first, self.n_sequences))
            self._partitions[n_outputs] = starts
        return self._partitions[n_outputs]

    def blocks(self, n_outputs):
        """Yield the :class:`SequenceBlock` s of a pass of a model with
        ``n_outputs`` outputs."""
        starts = self._partition(n_outputs)
        for first, stop in zip(starts[:-1], starts[1:]):
            lo, hi = int(self.bounds[first]), int(self.bounds[stop])
            weight = (
                None
                if self.sequence_weight is None
                else self.sequence_weight[first:stop]
            )
            yield SequenceBlock(
                self.X[lo:hi],
                self.bounds[first : stop + 1] - lo,
                weight,
                self._block_patterns(lo, hi),
                lo,
                first,
            )

    def _block_patterns(self, lo, hi):
        """The patterns restricted to rows [lo, hi), counted from lo."""
        if self.patterns is None:
            return None
        restricted = []
        for pattern in self.patterns:
            start, stop = np.searchsorted(pattern.rows, [lo, hi])
            if stop > start:
                restricted.append(
                    type(pattern)(
                        pattern.rows[start:stop] - lo, pattern.observed, pattern.missing
                    )
                )
        return restricted

    def accumulate(self, model):
        """One pass of ``model`` over all sequences: their statistics."""
        total = model.zero_stats()
        with model.kernel_context():
            for block in self.blocks(model.n_outputs):
                total += model.accumulate_sequences(block, self.n_threads)
        return total

    def score(self, model, posteriors=True):
        """Per-sequence log p(x_s) (n_sequences,) and, on request, the frames'
        posteriors (n_samples, n_outputs) (else None)."""
        log_prob = np.empty(self.n_sequences)
        frames = np.empty((self.n_samples, model.n_outputs)) if posteriors else None
        with model.kernel_context():
            for block in self.blocks(model.n_outputs):
                stop = block.first_sequence + block.n_sequences
                block_log_prob, block_posteriors = model.score_sequences(
                    block, self.n_threads
                )
                log_prob[block.first_sequence : stop] = block_log_prob
                if posteriors:
                    rows = slice(block.first_frame, block.first_frame + len(block.X))
                    frames[rows] = block_posteriors
        return log_prob, frames

    def viterbi(self, model):
        """The most probable state of every frame (n_samples,), intp, along each
        sequence's most probable path, and each path's log-probability
        (n_sequences,)."""
        log_prob = np.empty(self.n_sequences)
        states = np.empty(self.n_samples, dtype=np.intp)
        with model.kernel_context():
            for block in self.blocks(model.n_outputs):
                stop = block.first_sequence + block.n_sequences
                rows = slice(block.first_frame, block.first_frame + len(block.X))
                states[rows], log_prob[block.first_sequence : stop] = model.viterbi(
                    block, self.n_threads
                )
        return states, log_prob

    def rows(self, indices):
        """The rows at ``indices`` (any order)."""
        return self.X[indices]
