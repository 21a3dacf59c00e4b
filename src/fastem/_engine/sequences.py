"""Rows that come in sequences: ``lengths`` cuts the rows of X into consecutive
sequences, each read whole by a model over sequences, each with a weight.

Statistics add over sequences exactly as they add over chunks of rows, so a pass runs
the model over blocks of whole sequences (a few tens of megabytes of per-frame work
each: nothing of size frames x outputs outlives a block) and adds the blocks'
statistics in order. Blocks depend on the lengths and the model's number of outputs,
never on the thread count.

Sequences live in memory (:class:`SequenceSource`, memory maps too), in the chunks of
a chunk callable (:class:`SequenceChunkSource`) or in the blocks of a Dask array
(:class:`SequenceDaskSource`); each chunk or block must end where a sequence ends,
and the lengths (and weights) of the sequences it holds travel with it.
"""

import dataclasses
from dataclasses import dataclass
from numbers import Integral

import numpy as np

from .estimator import MAX_TOTAL_WEIGHT
from .patterns import group_patterns
from .streams import _import_dask_array, _is_dask_array, _sample_indices
from .threads import effective_n_threads

# Bytes of per-frame work (two frames x outputs float64 arrays) per block of
# sequences: the kernels' threads stay busy on many sequences at once, and memory
# stays bounded whatever the number of frames. A sequence longer than a block is a
# block alone, read by the model in blocks of frames of this size (forward, then
# backward from checkpoints), never held whole.
SEQUENCE_BLOCK_BYTES = 64 * 2**20


def max_block_frames(n_outputs):
    """The frames of a block of a model with ``n_outputs`` outputs: a sequence
    longer than this is read in blocks of frames."""
    return max(1, SEQUENCE_BLOCK_BYTES // (16 * max(1, n_outputs)))


def restricted_patterns(patterns, lo, hi):
    """``patterns`` restricted to rows [lo, hi), counted from lo (None for None)."""
    if patterns is None:
        return None
    restricted = []
    for pattern in patterns:
        start, stop = np.searchsorted(pattern.rows, [lo, hi])
        if stop > start:
            restricted.append(
                type(pattern)(
                    pattern.rows[start:stop] - lo, pattern.observed, pattern.missing
                )
            )
    return restricted


def checked_lengths(lengths, n_samples):
    """The sequences' lengths as int64, checked against the ``n_samples`` rows.

    Parameters
    ----------
    lengths : array-like of int, or None
        None: one sequence of all rows.
    n_samples : int or None
        None where the rows are not counted yet (read in chunks): the sum is then
        checked as they are read.

    Returns
    -------
    ndarray of shape (n_sequences,), int64

    Raises
    ------
    ValueError
        If the lengths are not positive integers summing to ``n_samples``.
    """
    if lengths is None:
        if n_samples is None:
            raise ValueError(
                "lengths is None, but the rows are not counted yet: count them first"
            )
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
    if n_samples is not None and total != n_samples:
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

    def frame_spans(self, n_outputs):
        """[lo, hi) of each block of frames the block's one sequence is read in by
        a model with ``n_outputs`` outputs: one span where the sequence is no
        longer than :func:`max_block_frames`."""
        step = max_block_frames(n_outputs)
        edges = list(range(0, len(self.X), step)) + [len(self.X)]
        return list(zip(edges[:-1], edges[1:]))

    def frames(self, lo, hi):
        """The frames [lo, hi) of the block's one sequence, as a block of their
        own (with the sequence's weight)."""
        return SequenceBlock(
            self.X[lo:hi],
            np.array([0, hi - lo], dtype=np.int64),
            self.sequence_weight,
            restricted_patterns(self.patterns, lo, hi),
            self.first_frame + lo,
            self.first_sequence,
        )

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


def _joined(parts, empty):
    """The blocks' answers one after the other (the only one as it is; ``empty``
    where there is none)."""
    if not parts:
        return empty
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


class _Sequences:
    """What a source of sequences (its ``lengths``, ``sequence_weight`` and
    ``n_samples``) says of them."""

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


class _SequencePasses(_Sequences):
    """A model's passes over the :class:`SequenceBlock` s of a source (its
    ``blocks(n_outputs)``, ``n_samples``, ``n_sequences`` and ``n_threads``)."""

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
        log_prob, frames = [], []
        with model.kernel_context():
            for block in self.blocks(model.n_outputs):
                block_log_prob, block_posteriors = model.score_sequences(
                    block, self.n_threads, posteriors
                )
                log_prob.append(block_log_prob)
                frames.append(block_posteriors)
        log_prob = _joined(log_prob, np.empty(0))
        if not posteriors:
            return log_prob, None
        return log_prob, _joined(frames, np.empty((0, model.n_outputs)))

    def viterbi(self, model):
        """The most probable state of every frame (n_samples,), intp, along each
        sequence's most probable path, and each path's log-probability
        (n_sequences,)."""
        states, log_prob = [], []
        with model.kernel_context():
            for block in self.blocks(model.n_outputs):
                block_states, block_log_prob = model.viterbi(block, self.n_threads)
                states.append(block_states)
                log_prob.append(block_log_prob)
        return _joined(states, np.empty(0, dtype=np.intp)), _joined(
            log_prob, np.empty(0)
        )

    def map_blocks(self, function, n_outputs):
        """``function(block, n_threads)`` of every :class:`SequenceBlock` of a pass
        of a model with ``n_outputs`` outputs, in order."""
        return [function(block, self.n_threads) for block in self.blocks(n_outputs)]


class SequenceSource(_SequencePasses):
    """Rows in memory cut into sequences by ``lengths``, each with a weight.

    The frozen model runs over blocks of whole sequences: its
    ``accumulate_sequences(block, n_threads)`` gives their statistics (added in block
    order), ``score_sequences(block, n_threads, posteriors)`` their per-sequence
    log-likelihoods and (on request) per-frame posteriors, ``viterbi(block,
    n_threads)`` their most probable paths.

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

    def _partition(self, n_outputs):
        """The first sequence of each block, then n_sequences."""
        if n_outputs not in self._partitions:
            max_frames = max_block_frames(n_outputs)
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

    def rows(self, indices):
        """The rows at ``indices`` (any order)."""
        return self.X[indices]

    def sample(self, size, random_state):
        """The source itself: in memory, initialisation reads every frame."""
        return self

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
        return restricted_patterns(self.patterns, lo, hi)


def _chunk_sequences(bounds, start, n_rows, what):
    """The sequences ``[first, stop)`` of a chunk of ``n_rows`` rows from frame
    ``start`` (a sequence start), or a ValueError naming the chunk (``what``) where it
    does not end at a sequence end."""
    end = start + n_rows
    if end > bounds[-1]:
        raise ValueError(
            f"{what} holds frames {start} to {end - 1}, past the {bounds[-1]} frames "
            "that lengths sum to: lengths must give the length of every sequence in "
            "X"
        )
    first, stop = (int(index) for index in np.searchsorted(bounds, [start, end]))
    if bounds[stop] != end:
        inside = stop - 1
        raise ValueError(
            f"{what} ends at frame {end}, inside sequence {inside} (frames "
            f"{bounds[inside]} to {bounds[inside + 1] - 1}): every chunk must end "
            "where a sequence ends, so that each sequence is read whole; cut the "
            "chunks at the ends of the sequences that lengths gives"
        )
    return first, stop


def _shifted(block, first_frame, first_sequence):
    """``block`` of a chunk, placed in the whole source."""
    return dataclasses.replace(
        block,
        first_frame=block.first_frame + first_frame,
        first_sequence=block.first_sequence + first_sequence,
    )


def _sliced(array, first, stop):
    return None if array is None else array[first:stop]


class SequenceChunkSource(_SequencePasses):
    """Sequences streamed chunk by chunk from a chunk callable, never held whole.

    Each pass calls ``chunks()`` for a fresh iterator of 2-D chunks; each chunk must
    end where a sequence ends (its sequences are read whole; the error names the
    chunk that does not), and is validated by ``frames`` then run as an in-memory
    :class:`SequenceSource` of the sequences it holds, whose ``lengths`` and
    weights are sliced from the whole source's. Chunks may hold any number of whole
    sequences (none too).

    Parameters
    ----------
    chunks : callable
        ``chunks() -> iterator of array-like (n_rows, n_features)``, the same rows in
        the same order on every call.
    lengths : ndarray of shape (n_sequences,), int64, or None
        Checked by :func:`checked_lengths` (their sum against the rows as they are
        read); None: one sequence of all the rows.
    sequence_weight : ndarray of shape (n_sequences,), float64, or None
    frames : callable
        ``frames(chunk, what) -> (X, missing)``: the chunk's rows validated as the
        model reads them and where they are missing (None where none is); its
        errors name the chunk by ``what``.
    release : callable or None
        ``release(chunk)`` after the kernels are done with a chunk.
    """

    def __init__(self, chunks, lengths, sequence_weight, frames, release=None):
        self._chunks = chunks
        self._frames = frames
        self._release = release
        self.sequence_weight = sequence_weight
        self.n_threads = effective_n_threads()
        self.n_features = None
        self.dtype = None
        self._set_lengths(lengths)

    def _set_lengths(self, lengths):
        self._lengths = lengths
        self.bounds = (
            None if lengths is None else np.r_[0, np.cumsum(lengths)].astype(np.int64)
        )

    @property
    def lengths(self):
        """The sequences' lengths (one sequence of all rows, counted in a pass, where
        none were given)."""
        if self._lengths is None:
            for _ in self.parts():
                pass
        return self._lengths

    @property
    def n_samples(self):
        return int(np.sum(self.lengths))

    def _validated(self):
        """Yield (chunk, (X, missing)) over one pass: validated, each with as many
        columns as the first."""
        index = -1
        for index, raw in enumerate(self._chunks()):
            if len(raw) == 0:  # no frame: nothing to validate or run
                continue
            X, missing = self._frames(raw, f"chunk {index} of X")
            if self.n_features is None:
                self.n_features, self.dtype = X.shape[1], X.dtype
            elif X.shape[1] != self.n_features:
                raise ValueError(
                    f"chunk {index} of X has {X.shape[1]} columns; the first had "
                    f"{self.n_features}"
                )
            yield raw, (X, missing)
            if self._release is not None:
                self._release(raw)
        if index < 0:
            raise ValueError("the chunks of X are empty: the iterator yielded no chunk")

    def parts(self):
        """Yield (first frame, first sequence, the in-memory :class:`SequenceSource`
        of the chunk's sequences) over one pass."""
        one_sequence = self._lengths is None
        start = 0
        for index, (_, (X, missing)) in enumerate(self._validated()):
            what = f"chunk {index} of X"
            if one_sequence:
                # X is one sequence: it must lie in one chunk.
                if len(X) and start:
                    raise ValueError(
                        f"{what} continues the sequence of the {start} frames before "
                        "it: without lengths, X is one sequence, which must be read "
                        "whole from one chunk; give lengths, with chunks that end "
                        "where sequences end"
                    )
                lengths, weight = np.array([len(X)], dtype=np.int64), None
                first = stop = 0
                if len(X):
                    stop = 1
                    weight = self.sequence_weight
            else:
                first, stop = _chunk_sequences(self.bounds, start, len(X), what)
                lengths = self._lengths[first:stop]
                weight = _sliced(self.sequence_weight, first, stop)
            if stop > first:
                yield start, first, SequenceSource(X, lengths, weight, missing)
            start += len(X)
        if one_sequence:
            self._set_lengths(checked_lengths(None, start))
            if start == 0:
                raise ValueError("the chunks of X hold no frame")
        elif start != self.bounds[-1]:
            raise ValueError(
                f"the chunks of X hold {start} frames, but lengths sum to "
                f"{self.bounds[-1]}: each call must yield every frame of every sequence"
            )

    def blocks(self, n_outputs):
        """Yield the :class:`SequenceBlock` s of a pass, chunk by chunk."""
        for first_frame, first_sequence, part in self.parts():
            for block in part.blocks(n_outputs):
                yield _shifted(block, first_frame, first_sequence)

    def rows(self, indices):
        """The rows at ``indices`` (any order), in memory: one pass."""
        positions, order = np.unique(indices, return_inverse=True)
        parts = [np.empty((0, self.n_features or 0))]
        for start, _, part in self.parts():
            lo, hi = np.searchsorted(positions, [start, start + part.n_samples])
            parts.append(part.X[positions[lo:hi] - start])
        return np.concatenate(parts)[order]

    def sample(self, size, random_state):
        """The in-memory source of ``min(size, n_samples)`` distinct frames drawn with
        ``random_state`` (read in one pass), each its own sequence weighing its
        sequence's weight, for initialisation: all the frames, in order, where there
        are no more than ``size``."""
        indices = _sample_indices(self.n_samples, size, random_state)
        return _frames_sample(self, indices)


def _frames_sample(source, indices):
    """The in-memory source of the frames at ``indices`` of ``source``, one frame a
    sequence."""
    X, missing = source._frames(source.rows(indices), "the frames sampled from X")
    weight = source.sample_weight
    return SequenceSource(
        X,
        np.ones(len(X), dtype=np.int64),
        None if weight is None else weight[indices],
        missing,
    )


# --- Dask: each block's sequences run where the block lives ---------------------------


def _block_frames(block, frames, index):
    if len(block) == 0:  # no frame: nothing to validate or run
        return block, None
    return frames(block, f"block {index} of X")


def _block_source(validated, lengths, sequence_weight):
    X, missing = validated
    return SequenceSource(X, lengths, sequence_weight, missing)


def _block_statistics(validated, lengths, sequence_weight, model):
    """The flat statistics of a block's sequences (all that travels back)."""
    return (
        _block_source(validated, lengths, sequence_weight).accumulate(model).to_flat()
    )


def _block_score(validated, lengths, sequence_weight, model, posteriors):
    return _block_source(validated, lengths, sequence_weight).score(model, posteriors)


def _block_viterbi(validated, lengths, sequence_weight, model):
    return _block_source(validated, lengths, sequence_weight).viterbi(model)


def _block_map(validated, lengths, sequence_weight, function, n_outputs):
    source = _block_source(validated, lengths, sequence_weight)
    return source.map_blocks(function, n_outputs)


def _block_dtype(validated):
    return validated[0].dtype


def _block_rows(validated):
    return validated[0]


class SequenceDaskSource(_Sequences):
    """Sequences in the blocks of a Dask array: each block must end where a sequence
    ends (the error names the block that does not); blocks are validated and
    persisted on the workers once, each pass runs the model over every block's
    sequences where it lives and brings back only the statistics (added in block
    order), per-sequence log-likelihoods, or lazy per-frame answers.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    lengths : ndarray of shape (n_sequences,), int64, or None
        Unchecked lengths (None: one sequence of all rows).
    sequence_weight : array-like of shape (n_sequences,), or None
        Unchecked weights.
    frames : callable
        As :class:`SequenceChunkSource`'s, run on the workers.
    """

    def __init__(self, X, lengths, sequence_weight, frames):
        import dask

        da = _import_dask_array()
        if X.ndim != 2:
            raise ValueError(f"X has shape {X.shape}; expected (n_samples, n_features)")
        X = X.rechunk({1: -1})  # whole frames in each block
        if any(np.isnan(size) for size in X.chunks[0]):
            X = X.compute_chunk_sizes()
        self.lengths = checked_lengths(lengths, X.shape[0])
        self.bounds = np.r_[0, np.cumsum(self.lengths)].astype(np.int64)
        self.sequence_weight = checked_sequence_weight(sequence_weight, self.lengths)
        self.n_features = X.shape[1]
        self._frames = frames
        self._spans, start = [], 0
        for index, size in enumerate(X.chunks[0]):
            self._spans.append(
                _chunk_sequences(self.bounds, start, size, f"block {index} of X")
            )
            start += size
        delayed = dask.delayed
        validated = [
            delayed(_block_frames)(block, frames, index)
            for index, block in enumerate(X.to_delayed().ravel())
        ]
        self._validated = dask.persist(*validated)
        self._sizes = X.chunks[0]
        first = int(np.argmax(np.asarray(self._sizes) > 0))
        self.dtype = np.dtype(
            dask.compute(delayed(_block_dtype)(self._validated[first]))[0]
        )
        self.X = da.concatenate(
            [
                da.from_delayed(
                    delayed(_block_rows)(pair),
                    shape=(size, self.n_features),
                    dtype=self.dtype,
                )
                for pair, size in zip(self._validated, self._sizes)
            ]
        )
        self._dask = dask
        self._da = da
        self.n_threads = effective_n_threads()

    @property
    def n_samples(self):
        return int(self.bounds[-1])

    def _tasks(self, function, *args):
        """``function(validated block, lengths, weights, *args)`` of every block,
        delayed."""
        return [
            self._dask.delayed(function)(
                pair,
                self.lengths[first:stop],
                _sliced(self.sequence_weight, first, stop),
                *args,
            )
            for pair, (first, stop) in zip(self._validated, self._spans)
        ]

    def accumulate(self, model):
        """One pass on the workers; the blocks' statistics added here in order."""
        zero = model.zero_stats()
        flat = np.zeros(zero.to_flat().size)
        for part in self._dask.compute(*self._tasks(_block_statistics, model)):
            flat += part
        return zero.from_flat(flat)

    def score(self, model, posteriors=True):
        """Per-sequence log p(x_s) (n_sequences,), computed, and, on request, the
        frames' posteriors as a lazy dask array (n_samples, n_outputs) (else
        None)."""
        tasks = self._tasks(_block_score, model, posteriors)
        log_prob = np.concatenate(
            [np.empty(0)] + list(self._dask.compute(*[task[0] for task in tasks]))
        )
        if not posteriors:
            return log_prob, None
        frames = self._da.concatenate(
            [
                self._da.from_delayed(
                    task[1], shape=(size, model.n_outputs), dtype=np.float64
                )
                for task, size in zip(tasks, self._sizes)
            ]
        )
        return log_prob, frames

    def viterbi(self, model):
        """The most probable state of every frame, as a lazy dask array (n_samples,),
        and each path's log-probability (n_sequences,), computed."""
        tasks = self._tasks(_block_viterbi, model)
        log_prob = np.concatenate(
            [np.empty(0)] + list(self._dask.compute(*[task[1] for task in tasks]))
        )
        states = self._da.concatenate(
            [
                self._da.from_delayed(task[0], shape=(size,), dtype=np.intp)
                for task, size in zip(tasks, self._sizes)
            ]
        )
        return states, log_prob

    def map_blocks(self, function, n_outputs):
        """``function(block, n_threads)`` of every :class:`SequenceBlock`, run on the
        workers, in order."""
        results = self._dask.compute(*self._tasks(_block_map, function, n_outputs))
        return [value for block_values in results for value in block_values]

    def rows(self, indices):
        """The rows at ``indices`` (any order), gathered from the workers."""
        return np.asarray(self.X[np.asarray(indices)].compute())

    def sample(self, size, random_state):
        """As :meth:`SequenceChunkSource.sample`, gathered from the workers."""
        indices = _sample_indices(self.n_samples, size, random_state)
        return _frames_sample(self, indices)


def chunked_sequences(X, lengths, sequence_weight, frames, *, one_pass=False):
    """The source of sequences read in chunks, or None for in-memory X.

    Parameters
    ----------
    X : object
        A ``dask.array.Array`` (a :class:`SequenceDaskSource`), a callable returning
        a fresh iterator of chunks on each call, or, where ``one_pass``, an iterator
        (a :class:`SequenceChunkSource`); anything else (arrays, memory maps, lists,
        data frames) is in memory: None.
    lengths, sequence_weight : array-like or None
        Unchecked.
    frames : callable
        ``frames(chunk, what) -> (X, missing)``, see :class:`SequenceChunkSource`.
    one_pass : bool
        Whether one pass over the frames is all the caller needs.
    """
    if _is_dask_array(X):
        return SequenceDaskSource(X, lengths, sequence_weight, frames)
    if isinstance(X, np.ndarray):
        return None
    if callable(X) or (hasattr(X, "__next__") and iter(X) is X):
        if not callable(X) and not one_pass:
            raise TypeError(
                "X is an iterator, which can be read only once, but the frames "
                "are read more than once here (once per EM iteration; to start a "
                "model): pass a callable that returns a fresh iterator of chunks on "
                "each call"
            )
        chunks = X if callable(X) else (lambda: X)
        lengths = None if lengths is None else checked_lengths(lengths, None)
        if lengths is None and sequence_weight is not None:
            sequence_weight = np.asarray(sequence_weight).reshape(1)
            weight_lengths = np.ones(1, dtype=np.int64)
        else:
            weight_lengths = lengths
        weight = checked_sequence_weight(sequence_weight, weight_lengths)
        return SequenceChunkSource(chunks, lengths, weight, frames)
    return None
