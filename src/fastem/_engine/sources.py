"""Data sources: where the rows live, and a frozen model's kernels run over them.

A source knows rows, never a model: each pass hands its rows to a
:class:`~fastem._engine.model.FrozenModel` and adds up the statistics it returns.
This module holds rows in memory (or memory-mapped, read as one array); rows with
NaN are in ``patterns``, rows streamed in chunks or held by Dask in ``streams``.
"""

import copy

import numpy as np

from .seeding import kmeans_plusplus
from .threads import dense_row_equivalents, effective_n_threads


class ArraySource:
    """Rows held in one array (in memory or memory-mapped), passed to the kernels as is.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
        Any memory layout; never copied or written.
    sample_weight : ndarray of shape (n_samples,), float64, or None
    """

    def __init__(self, X, sample_weight=None):
        self.X = X
        self.sample_weight = sample_weight
        self.n_threads = effective_n_threads()

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
    def total_weight(self):
        """Sum of the row weights (the number of rows when unweighted)."""
        if self.sample_weight is None:
            return float(self.X.shape[0])
        return float(np.sum(self.sample_weight))

    def accumulate(self, model):
        """One fused E-step pass of ``model`` (a FrozenModel): the rows' statistics."""
        with model.kernel_context():
            return model.accumulate(
                self.X,
                self.sample_weight,
                model.threads(self.n_threads, dense_row_equivalents(self.X)),
            )

    def largest_magnitude(self):
        """max |x| over the rows, NaN ignored (0 for no rows)."""
        return largest_magnitude(self.X)

    def scaled(self, exponent):
        """The same rows times 2**-exponent (exact), in a new in-memory source."""
        scaled = copy.copy(self)
        scaled.X = np.ldexp(self.X, -exponent)
        return scaled

    def rows(self, indices):
        """The rows at ``indices`` (any order)."""
        return self.X[indices]

    def sample(self, size, random_state):
        """The source itself: in memory, initialisation reads every row."""
        return self

    def kmeans_plusplus(self, n_clusters, random_state):
        """Greedy k-means++ seeds of the rows, as scikit-learn chooses them.

        Returns
        -------
        centers : ndarray of shape (n_clusters, n_features), of X's dtype
        indices : ndarray of shape (n_clusters,), intp
        """
        return kmeans_plusplus(
            self.X,
            n_clusters,
            sample_weight=self.sample_weight,
            random_state=random_state,
            n_threads=self.n_threads,
        )

    def score(self, model, log_prob=True, resp=False, labels=False):
        """Per-row log p(x) (n,), responsibilities (n, n_outputs), labels (n,) under
        ``model``: each on request (None otherwise).

        Returns
        -------
        log_prob, resp, labels : ndarray or None
        """
        with model.kernel_context():
            return model.score_rows(
                self.X,
                model.threads(self.n_threads, dense_row_equivalents(self.X)),
                log_prob=log_prob,
                resp=resp,
                labels=labels,
            )


def largest_magnitude(X):
    """max |x| over an array, NaN ignored (0 for an empty or all-NaN one)."""
    if X.size == 0:
        return 0.0
    # Two reductions rather than np.abs(X), which would copy X; fmax and fmin skip
    # NaN without a warning.
    largest = max(np.fmax.reduce(X, axis=None), -np.fmin.reduce(X, axis=None))
    return 0.0 if np.isnan(largest) else float(largest)
