"""The categorical family: one symbol among M per frame, emitted by state k with
probability B_kj (hidden Markov models' discrete emissions).

A frame is one column holding the symbol's index; NaN is a missing symbol, which
drops out of its frame's likelihood (log p = 0 in every state) and statistics. The
statistics are the states' posterior mass and expected symbol counts; both take one
gather or bincount per pass, O(n_frames x K).
"""

from dataclasses import dataclass

import numpy as np

from .._engine.model import FrozenModel
from .._engine.stats import Stats


@dataclass
class CategoricalStats(Stats):
    """Expected symbol counts.

    Attributes
    ----------
    nk : ndarray of shape (K,)
        sum_t w_t r_tk over every frame (missing symbols too).
    counts : ndarray of shape (K, M)
        sum_t w_t r_tk [x_t = j].
    log_likelihood : float
    """

    nk: np.ndarray
    counts: np.ndarray
    log_likelihood: float = 0.0

    _sums = ("nk", "counts")


def symbols(X):
    """The symbol of each frame as intp, -1 where it is missing (NaN)."""
    column = np.asarray(X)[:, 0]
    if column.dtype.kind == "f":
        missing = np.isnan(column)
        return np.where(missing, -1, np.where(missing, 0, column)).astype(np.intp)
    return column.astype(np.intp)


@dataclass(frozen=True, eq=False)
class FrozenCategorical(FrozenModel):
    """Categorical emissions for one pass.

    Attributes
    ----------
    log_prob : ndarray of shape (K, M), float64
        log B_kj (-inf where a state never emits a symbol).
    """

    log_prob: np.ndarray

    @property
    def n_outputs(self):
        return self.log_prob.shape[0]

    def zero_stats(self):
        return CategoricalStats(
            np.zeros(self.log_prob.shape[0]), np.zeros(self.log_prob.shape)
        )

    def component_log_prob(self, X, n_threads=1):
        codes = symbols(X)
        out = np.zeros((len(codes), self.n_outputs))
        seen = codes >= 0
        out[seen] = self.log_prob.T[codes[seen]]
        return out

    def stats_given(self, X, resp, sample_weight, n_threads=1):
        codes = symbols(X)
        weighted = resp if sample_weight is None else resp * sample_weight[:, None]
        stats = self.zero_stats()
        stats.nk[:] = weighted.sum(axis=0)
        seen = codes >= 0
        n_symbols = self.log_prob.shape[1]
        for k in range(self.n_outputs):
            stats.counts[k] = np.bincount(
                codes[seen], weights=weighted[seen, k], minlength=n_symbols
            )
        return stats
