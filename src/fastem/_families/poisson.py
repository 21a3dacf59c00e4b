"""The Poisson family: independent counts per feature, x_j ~ Poisson(lambda_kj) given
state k (hidden Markov models' count emissions).

log p(x | k) = sum_j (x_j log lambda_kj - lambda_kj - log x_j!), over the observed
features: a missing (NaN) count drops out of its frame's likelihood and statistics.
The statistics are the states' posterior mass nk, the expected sums
s_kj = sum_t w_t r_tk x_tj and the observed mass m_kj = sum_t w_t r_tk [x_tj
observed]; the log-densities are one matrix product per pass.
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from .._engine.model import FrozenModel
from .._engine.stats import Stats
from .discrete import LOG_FLOOR


@dataclass
class PoissonStats(Stats):
    """Expected counts of Poisson features.

    Attributes
    ----------
    nk : ndarray of shape (K,)
    s : ndarray of shape (K, d)
    m : ndarray of shape (K, d)
    log_likelihood : float
    """

    nk: np.ndarray
    s: np.ndarray
    m: np.ndarray
    log_likelihood: float = 0.0

    _sums = ("nk", "s", "m")


def _values(X):
    """X as float64 with missing values as 0, and the observed mask (None where
    nothing is missing)."""
    values = np.asarray(X, dtype=np.float64)
    missing = np.isnan(values)
    if not missing.any():
        return values, None
    return np.where(missing, 0.0, values), ~missing


@dataclass(frozen=True, eq=False)
class FrozenPoisson(FrozenModel):
    """Poisson emissions for one pass.

    Attributes
    ----------
    lambdas : ndarray of shape (K, d), float64
    """

    lambdas: np.ndarray

    @property
    def n_outputs(self):
        return self.lambdas.shape[0]

    @property
    def log_lambdas(self):
        # A rate of 0 emits only zeros: 0 * log(0) counts as 0, a positive count
        # gets a very low but finite log-density (the floor).
        with np.errstate(divide="ignore"):
            return np.maximum(np.log(self.lambdas), LOG_FLOOR)

    def zero_stats(self):
        K, d = self.lambdas.shape
        return PoissonStats(np.zeros(K), np.zeros((K, d)), np.zeros((K, d)))

    def component_log_prob(self, X, n_threads=1):
        values, observed = _values(X)
        log_factorials = gammaln(values + 1.0).sum(axis=1)
        logits = values @ self.log_lambdas.T - log_factorials[:, None]
        if observed is None:
            return logits - self.lambdas.sum(axis=1)
        return logits - observed @ self.lambdas.T

    def stats_given(self, X, resp, sample_weight, n_threads=1):
        values, observed = _values(X)
        weighted = resp if sample_weight is None else resp * sample_weight[:, None]
        nk = weighted.sum(axis=0)
        s = weighted.T @ values
        if observed is None:
            m = np.repeat(nk[:, None], values.shape[1], axis=1)
        else:
            m = weighted.T @ observed.astype(np.float64)
        return PoissonStats(nk, s, m)
