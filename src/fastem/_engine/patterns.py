"""Missing values (NaN), for any model that marginalises its observed columns.

A NaN means "missing at random": a row's likelihood is the density of its observed
values, and EM treats the missing ones as latent (Ghahramani & Jordan 1994). Rows are
grouped by their pattern of NaN once per data set; each pattern runs the model's
unchanged kernels on its rows' observed columns, under the model's marginal of those
columns (``FrozenModel.marginal``), whose ``lift`` turns the statistics of the
observed columns into statistics of all of them (for a Gaussian, with the conditional
expectations of the missing ones; for independent features, the missing ones drop
out). Statistics add over patterns as they add over chunks, so the M-step is
unchanged, and the extra work depends on the number of patterns, not of rows.

A model whose kernels can take every pattern at once (``accumulate_patterns``)
gets the E-step's pass as one call: the rows of all patterns as one index array
(:class:`PatternGrouping`, X is not copied), one parallel region over (pattern,
block) work items, the marginals and lifts batched over patterns by the model;
so do its scores (``score_patterns``). The pattern-by-pattern pass (a Python loop
of marginal, gathered copy, kernel call and lift per pattern) serves the other
models and imputation, whose per-pattern cost is paid once per call, not once per
iteration.
"""

from dataclasses import dataclass

import numpy as np

from .seeding import kmeans_plusplus
from .sources import ArraySource

# Rows of one pattern gathered per kernel call: bounds the copy (rows x observed
# columns) whatever the number of samples.
GATHER_ROWS = 65536

RESP_ONLY = {"log_prob": False, "resp": True, "labels": False}


def check_missing(X, fitting=True):
    """Reject what a NaN cannot stand for: infinities and, in data to fit, all-NaN
    columns (nothing could be estimated for them). A row that is entirely NaN is
    fine: it contributes nothing to the likelihood or the statistics.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    fitting : bool, default=True
        Whether X is to be fitted (a fitted model scores and imputes rows whatever
        columns the other rows observe).

    Returns
    -------
    missing : ndarray of shape (n_samples, n_features), bool, or None
        ``np.isnan(X)``, or None when X has no NaN.

    Raises
    ------
    ValueError
        If X holds +/-inf, or (when fitting) a column that is entirely NaN.
    """
    if np.isfinite(np.sum(X)):  # no NaN and no infinity: one pass, no (n, d) mask
        return None
    if np.any(np.isinf(X)):
        raise ValueError("Input X contains infinity; only NaN marks a missing value.")
    missing = np.isnan(X)
    if not missing.any():
        return None
    empty_columns = np.flatnonzero(missing.all(axis=0)) if fitting else []
    if len(empty_columns):
        raise ValueError(
            f"Column {empty_columns[0]} of X is entirely NaN; nothing can be "
            "estimated for it."
        )
    return missing


@dataclass(frozen=True)
class Pattern:
    """The rows sharing one set of observed columns."""

    rows: np.ndarray  # (n_rows,) intp, increasing
    observed: np.ndarray  # (o,) intp, increasing
    missing: np.ndarray  # (d - o,) intp, increasing


@dataclass(frozen=True)
class PatternGrouping:
    """The rows of the patterns with at least one observed column, as one index
    array a kernel reads pattern after pattern (rows are never copied).

    Attributes
    ----------
    rows : ndarray of shape (n_grouped,), intp
        The rows of the first pattern, then of the second, ...
    bounds : ndarray of shape (P + 1,), intp
        Pattern p's rows are ``rows[bounds[p]:bounds[p + 1]]``.
    missing : ndarray of shape (P, n_features), bool
        Each pattern's missing columns.
    """

    rows: np.ndarray
    bounds: np.ndarray
    missing: np.ndarray

    @classmethod
    def of(cls, patterns, n_features):
        """The grouping of ``patterns`` (:func:`group_patterns`) over ``n_features``
        columns; patterns with nothing observed are left out."""
        kept = [pattern for pattern in patterns if len(pattern.observed)]
        missing = np.zeros((len(kept), n_features), dtype=bool)
        for index, pattern in enumerate(kept):
            missing[index, pattern.missing] = True
        sizes = [len(pattern.rows) for pattern in kept]
        rows = np.concatenate([pattern.rows for pattern in kept]) if kept else []
        return cls(
            np.ascontiguousarray(rows, dtype=np.intp),
            np.ascontiguousarray(np.r_[0, np.cumsum(sizes)], dtype=np.intp),
            missing,
        )

    def batches(self, n_patterns):
        """The grouping in consecutive parts of at most ``n_patterns`` patterns
        (``rows`` views, ``bounds`` from 0), in order."""
        for first in range(0, len(self.missing), n_patterns):
            bounds = self.bounds[first : first + n_patterns + 1]
            yield PatternGrouping(
                self.rows[bounds[0] : bounds[-1]],
                bounds - bounds[0],
                self.missing[first : first + n_patterns],
            )


def group_patterns(missing):
    """The rows of each missingness pattern (complete rows are one pattern too).

    Parameters
    ----------
    missing : ndarray of shape (n_samples, n_features), bool

    Returns
    -------
    patterns : list of Pattern
    """
    packed = np.packbits(missing, axis=1)
    n_bytes = packed.shape[1]
    if n_bytes <= 8:  # one integer key per row: sorting them is fast
        padded = np.zeros((len(packed), 8), dtype=np.uint8)
        padded[:, :n_bytes] = packed
        keys = padded.view(np.uint64).reshape(-1)
    else:
        keys = np.ascontiguousarray(packed).view(np.dtype((np.void, n_bytes)))
        keys = keys.reshape(-1)
    # One stable sort of the keys: each pattern's rows stay increasing.
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    bounds = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    masks = missing[order[np.r_[0, bounds]]]
    return [
        Pattern(rows, np.flatnonzero(~mask), np.flatnonzero(mask))
        for rows, mask in zip(np.split(order, bounds), masks)
    ]


def rows_source(X, sample_weight=None, fitting=False):
    """The source over in-memory rows: per missingness pattern where X has NaN.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
    sample_weight : ndarray of shape (n_samples,) or None
    fitting : bool
        Whether X is to be fitted (see :func:`check_missing`).

    Returns
    -------
    ArraySource or MissingValueSource
    """
    missing = check_missing(X, fitting)
    if missing is None:
        return ArraySource(X, sample_weight)
    return MissingValueSource(X, missing, sample_weight)


class MissingValueSource(ArraySource):
    """Rows of an array with NaN, grouped by missingness pattern; the same methods
    as ``ArraySource``.

    ``accumulate`` and ``score`` run all patterns in one kernel call where the
    model can (its work items, blocks of each pattern's rows, fixed by the problem
    and added in order). Otherwise, and for imputation, patterns run one after the
    other (in chunks of gathered rows), each on as many kernel threads as its rows
    keep busy, and their results are added in pattern order. Either way, results do
    not depend on the number of threads.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
        Never written; checked by :func:`check_missing`.
    missing : ndarray of shape (n_samples, n_features), bool
        ``np.isnan(X)``.
    sample_weight : ndarray of shape (n_samples,), float64, or None
    """

    def __init__(self, X, missing, sample_weight=None):
        super().__init__(X, sample_weight)
        self.patterns = group_patterns(missing)
        self.grouping = PatternGrouping.of(self.patterns, X.shape[1])

    def _map_patterns(self, work, model, patterns=None):
        """``[work(pattern, marginal, n_threads) for each pattern]`` (of
        ``patterns``, all by default), in order, with ``marginal`` the model of the
        pattern's observed columns (the model itself for complete rows)."""
        patterns = self.patterns if patterns is None else patterns
        # One kernel context around all the patterns, not one per kernel call.
        with model.kernel_context():
            return [
                work(
                    pattern, marginal, model.threads(self.n_threads, len(pattern.rows))
                )
                for pattern, marginal in zip(patterns, model.marginals(patterns))
            ]

    def _chunks(self, pattern):
        """(rows, observed block of X) in chunks of at most GATHER_ROWS rows."""
        for start in range(0, len(pattern.rows), GATHER_ROWS):
            rows = pattern.rows[start : start + GATHER_ROWS]
            block = self.X.take(rows, axis=0)
            if len(pattern.missing):
                block = block[:, pattern.observed]
            yield rows, block

    def accumulate(self, model):
        """One fused E-step pass: statistics of all columns (the missing ones as
        latent) and the observed-data log-likelihood: in one pass over all the
        patterns where the model can (``FrozenModel.accumulate_patterns``), else
        pattern by pattern."""
        if len(self.grouping.missing) == 0:  # nothing observed anywhere
            return model.zero_stats()
        n_threads = model.threads(self.n_threads, len(self.grouping.rows))
        with model.kernel_context():
            stats = model.accumulate_patterns(
                self.X, self.sample_weight, self.grouping, n_threads
            )
        if stats is not NotImplemented:
            return stats

        def pattern_stats(pattern, marginal, n_threads):
            if len(pattern.observed) == 0:  # nothing observed: nothing to add
                return model.zero_stats()
            observed_stats = marginal.zero_stats()
            for rows, block in self._chunks(pattern):
                weight = (
                    None if self.sample_weight is None else self.sample_weight[rows]
                )
                observed_stats += marginal.accumulate(block, weight, n_threads)
            if len(pattern.missing) == 0:
                return observed_stats
            return marginal.lift(observed_stats)

        total = model.zero_stats()
        for stats in self._map_patterns(pattern_stats, model):
            total += stats
        return total

    def kmeans_plusplus(self, n_clusters, random_state):
        """k-means++ seeds of the mean-imputed rows (see :func:`mean_imputed`)."""
        return kmeans_plusplus(
            mean_imputed(self.X, self.sample_weight),
            n_clusters,
            sample_weight=self.sample_weight,
            random_state=random_state,
            n_threads=self.n_threads,
        )

    def _score_chunks(self, marginal, pattern, n_threads, **wanted):
        """(rows, block, the marginal's score outputs) for each chunk of a pattern."""
        for rows, block in self._chunks(pattern):
            yield rows, block, marginal.score_rows(block, n_threads, **wanted)

    def score(self, model, log_prob=True, resp=False, labels=False):
        """Per-row log p(x_O) (n,), responsibilities (n, n_outputs), labels (n,):
        each on request, as ``ArraySource.score``.

        Returns
        -------
        log_prob, resp, labels : ndarray or None
        """
        wanted = {"log_prob": log_prob, "resp": resp, "labels": labels}
        outputs = model.score_outputs(self.X.shape[0], **wanted)
        n_threads = model.threads(self.n_threads, len(self.grouping.rows))
        with model.kernel_context():
            scored = model.score_patterns(self.X, self.grouping, n_threads, *outputs)
        # What is left pattern by pattern: rows with nothing observed (the prior's
        # answer), or every pattern where the model has no batched score.
        patterns = (
            self.patterns
            if scored is NotImplemented
            else [pattern for pattern in self.patterns if len(pattern.observed) == 0]
        )

        def score_pattern(pattern, marginal, n_threads):
            for rows, _, parts in self._score_chunks(
                marginal, pattern, n_threads, **wanted
            ):
                for out, part in zip(outputs, parts):
                    if out is not None:
                        out[rows] = part

        self._map_patterns(score_pattern, model, patterns)
        return outputs

    def impute(self, model, random_state=None):
        """A copy of X with each NaN replaced by the model's value for it.

        Parameters
        ----------
        model : FrozenModel
            The fitted model; its marginals' ``impute`` give the values.
        random_state : numpy.random.RandomState or None
            None: the conditional expectation E[x_M | x_O]. Otherwise a draw from
            p(x_M | x_O), pattern after pattern (so the stream does not depend on
            threads).

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features), of X's dtype
        """
        imputed = np.array(self.X)

        def responsibilities(pattern, marginal, n_threads):
            """The marginal and, per chunk, its rows, block and responsibilities."""
            if len(pattern.missing) == 0:
                return marginal, []
            return marginal, list(
                self._score_chunks(marginal, pattern, n_threads, **RESP_ONLY)
            )

        for pattern, (marginal, chunks) in zip(
            self.patterns, self._map_patterns(responsibilities, model)
        ):
            for rows, block, (_, resp, _) in chunks:
                imputed[np.ix_(rows, pattern.missing)] = marginal.impute(
                    block, resp, random_state
                )
        return imputed


def mean_imputed(X, sample_weight=None):
    """A copy of X with each NaN replaced by its column's (weighted) mean over the
    observed rows: the data that initialisations start from.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None

    Returns
    -------
    X_filled : ndarray of shape (n_samples, n_features), of X's dtype
    """
    observed = ~np.isnan(X)
    weight = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight)
    weighted = observed * weight[:, None]
    totals = weighted.sum(axis=0)
    sums = np.einsum("nd,nd->d", weighted, np.where(observed, X, 0.0))
    # A column observed only on zero-weight rows falls back to its plain mean.
    plain = np.nanmean(X, axis=0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        column_means = np.where(totals > 0, sums / totals, plain)
    return np.where(observed, X, column_means.astype(X.dtype))


# --- per-row halves of an E-step, for models that combine them themselves ----------


def _pattern_chunks(pattern):
    """The pattern's rows in chunks of at most GATHER_ROWS."""
    for start in range(0, len(pattern.rows), GATHER_ROWS):
        yield pattern.rows[start : start + GATHER_ROWS]


def component_log_prob_by_pattern(model, X, patterns, n_threads):
    """log w_k + log p(x_O | k) of each row of X and component, each row's density
    that of its observed columns O (``model.marginal``'s; log w_k where nothing is
    observed).

    Parameters
    ----------
    model : FrozenModel
    X : ndarray of shape (n_rows, n_features)
    patterns : list of Pattern
        The rows of X by missingness pattern (:func:`group_patterns`).
    n_threads : int

    Returns
    -------
    ndarray of shape (n_rows, n_outputs), float64
    """
    out = np.empty((X.shape[0], model.n_outputs))
    for pattern, marginal in zip(patterns, model.marginals(patterns)):
        for rows in _pattern_chunks(pattern):
            block = X.take(rows, axis=0)
            if len(pattern.missing):
                block = block[:, pattern.observed]
            out[rows] = marginal.component_log_prob(
                block, model.threads(n_threads, len(rows))
            )
    return out


def stats_given_by_pattern(model, X, resp, sample_weight, patterns, n_threads):
    """The statistics of the rows of X given their responsibilities, the missing
    values latent (each pattern's statistics lifted to all columns by its marginal);
    rows with nothing observed add nothing.

    Parameters
    ----------
    model : FrozenModel
    X : ndarray of shape (n_rows, n_features)
    resp : ndarray of shape (n_rows, n_outputs)
    sample_weight : ndarray of shape (n_rows,) or None
    patterns : list of Pattern
    n_threads : int

    Returns
    -------
    stats : Stats
    """
    total = model.zero_stats()
    for pattern, marginal in zip(patterns, model.marginals(patterns)):
        if len(pattern.observed) == 0:
            continue
        observed_stats = marginal.zero_stats()
        for rows in _pattern_chunks(pattern):
            block = X.take(rows, axis=0)
            if len(pattern.missing):
                block = block[:, pattern.observed]
            weight = None if sample_weight is None else sample_weight[rows]
            observed_stats += marginal.stats_given(
                block, resp[rows], weight, model.threads(n_threads, len(rows))
            )
        total += (
            observed_stats
            if len(pattern.missing) == 0
            else marginal.lift(observed_stats)
        )
    return total


def impute_by_pattern(model, X, resp, patterns, n_threads):
    """X with each NaN replaced by its expectation given the row's observed values
    and its responsibilities ``resp`` (``marginal.impute``), in place.

    Parameters
    ----------
    model : FrozenModel
    X : ndarray of shape (n_rows, n_features), written
    resp : ndarray of shape (n_rows, n_outputs)
    patterns : list of Pattern
    n_threads : int

    Returns
    -------
    X : ndarray
    """
    for pattern, marginal in zip(patterns, model.marginals(patterns)):
        if len(pattern.missing) == 0:
            continue
        for rows in _pattern_chunks(pattern):
            block = X.take(rows, axis=0)[:, pattern.observed]
            X[np.ix_(rows, pattern.missing)] = marginal.impute(block, resp[rows])
    return X
