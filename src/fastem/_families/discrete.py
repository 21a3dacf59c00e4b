"""Discrete families: Bernoulli (binary features) and multinomial (counts).

Given component k, a row's features are independent Bernoulli draws with
probabilities p_kj, or one multinomial draw of its total count n with probabilities
theta_kj. Both share one fused kernel (``fastem._kernels._discrete``), which reads

    log p(x, k) = log w_k + b_k + sum_j x_j A_kj  (+ c(x))

- Bernoulli: A_kj = log p_kj - log(1 - p_kj), b_k = sum_j log(1 - p_kj); a missing
  (NaN) feature drops out of the row's likelihood and statistics exactly;
- multinomial: A_kj = log theta_kj, b_k = 0, and the row's multinomial coefficient
  c(x) = log(n! / prod_j x_j!), the same for every k, enters its log-probability.

The statistics are K x n_features expected counts: s_kj = sum_n w_n r_nk x_nj, with
the responsibility mass nk_k = sum_n w_n r_nk and, for Bernoulli, the observed mass
m_kj = sum_n w_n r_nk [x_nj observed]. The M-step is additive smoothing, as in
scikit-learn's naive Bayes: the MAP estimate under a symmetric Dirichlet(alpha + 1)
(Beta(alpha + 1, alpha + 1)) prior on each component's feature probabilities.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import betaln, gammaln

from .._engine.model import FrozenModel
from .._engine.stats import Stats
from .._engine.threads import limit_blas_threads
from .._kernels import get_backend

# Log-probabilities the kernels read are floored here (the log of the smallest
# normal double): with alpha = 0 a probability may be exactly 0 or 1, and a row a
# component cannot produce then gets a very low but finite logit instead of
# -inf (or NaN from 0 * inf in the Bernoulli coefficients).
LOG_FLOOR = float(np.log(np.finfo(np.float64).tiny))

# Initial parameters are smoothed at least this much: a seed of one row would
# otherwise give probabilities of exactly 0 and 1.
INIT_ALPHA = 1.0


@dataclass
class BernoulliStats(Stats):
    """Expected counts of binary features.

    Attributes
    ----------
    nk : ndarray of shape (K,)
        sum_n w_n r_nk.
    s : ndarray of shape (K, d)
        sum_n w_n r_nk x_nj (the expected number of ones).
    m : ndarray of shape (K, d)
        sum_n w_n r_nk [x_nj observed] (nk_k in every column without NaN).
    log_likelihood : float
    """

    nk: np.ndarray
    s: np.ndarray
    m: np.ndarray
    log_likelihood: float = 0.0

    _sums = ("nk", "s", "m")

    @classmethod
    def zeros(cls, n_components, n_features):
        return cls(
            np.zeros(n_components),
            np.zeros((n_components, n_features)),
            np.zeros((n_components, n_features)),
        )


@dataclass
class MultinomialStats(Stats):
    """Expected counts of a multinomial's categories.

    Attributes
    ----------
    nk : ndarray of shape (K,)
        sum_n w_n r_nk.
    s : ndarray of shape (K, d)
        sum_n w_n r_nk x_nj.
    log_likelihood : float
    """

    nk: np.ndarray
    s: np.ndarray
    log_likelihood: float = 0.0

    _sums = ("nk", "s")

    @classmethod
    def zeros(cls, n_components, n_features):
        return cls(np.zeros(n_components), np.zeros((n_components, n_features)))


@dataclass(frozen=True, eq=False)
class FrozenDiscreteMixture(FrozenModel):
    """A mixture of a discrete family as the kernel reads it, for one pass.

    Attributes
    ----------
    log_weights : ndarray of shape (K,), float64
    A : ndarray of shape (K, d), float64, C-contiguous
    b : ndarray of shape (K,), float64
    B : ndarray of shape (K, d), float64, or None
        Bernoulli's log(1 - p), for rows with NaN; None for the multinomial.
    coefficient : bool
        Whether rows' log-probabilities include the multinomial coefficient.
    """

    log_weights: np.ndarray
    A: np.ndarray
    b: np.ndarray
    B: np.ndarray | None
    coefficient: bool

    @classmethod
    def bernoulli(cls, weights, log_prob, log_complement):
        """The kernel's form of weights, log p and log(1 - p) (each (K, d))."""
        log_prob = np.maximum(log_prob, LOG_FLOOR)
        log_complement = np.maximum(log_complement, LOG_FLOOR)
        return cls(
            _log_weights(weights),
            np.ascontiguousarray(log_prob - log_complement),
            np.ascontiguousarray(np.sum(log_complement, axis=1)),
            np.ascontiguousarray(log_complement),
            False,
        )

    @classmethod
    def multinomial(cls, weights, log_prob):
        """The kernel's form of weights and log theta (K, d)."""
        return cls(
            _log_weights(weights),
            np.ascontiguousarray(np.maximum(log_prob, LOG_FLOOR)),
            np.zeros(len(weights)),
            None,
            True,
        )

    @property
    def n_outputs(self):
        return self.A.shape[0]

    @property
    def work_per_row(self):
        # A (row, component) pair of a Gaussian at small d is ~8 multiply-adds.
        return self.A.shape[0] * max(1, self.A.shape[1] // 8)

    def kernel_context(self):
        """BLAS on one thread: the kernel's dense path calls it from its OpenMP
        threads (else BLAS threads would nest in them)."""
        return limit_blas_threads()

    def zero_stats(self):
        stats_class = MultinomialStats if self.B is None else BernoulliStats
        return stats_class.zeros(*self.A.shape)

    def accumulate(self, X, sample_weight, n_threads):
        stats = self.zero_stats()
        m = getattr(stats, "m", None)
        stats.log_likelihood = get_backend().discrete.accumulate(
            X,
            sample_weight,
            self.log_weights,
            self.A,
            self.b,
            self.B,
            self.coefficient,
            n_threads,
            stats.nk,
            stats.s,
            m,
        )
        return stats

    def component_log_prob(self, X, n_threads=1):
        logits, values, _ = row_logits(X, self.log_weights, self.A, self.b, self.B)
        if self.coefficient:
            logits += multinomial_coefficient(values)[:, np.newaxis]
        return logits

    def stats_given(self, X, resp, sample_weight, n_threads=1):
        counts = counts_from_resp(X, resp, sample_weight, self.B is not None)
        return (MultinomialStats if self.B is None else BernoulliStats)(
            *(array for array in counts if array is not None)
        )

    def score(self, X, n_threads, log_prob, resp, labels):
        get_backend().discrete.score(
            X,
            self.log_weights,
            self.A,
            self.b,
            self.B,
            self.coefficient,
            n_threads,
            log_prob,
            resp,
            labels,
        )


def _log_weights(weights):
    with np.errstate(divide="ignore"):
        return np.ascontiguousarray(np.log(weights), dtype=np.float64)


# --- per-component probabilities and statistics given responsibilities --------


def row_logits(X, log_weights, A, b, B):
    """log w_k + log p(x_n | k) - c(x_n) of each row and component, and X as read.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), or scipy.sparse CSR
    log_weights, A, b, B
        As in :func:`accumulate`.

    Returns
    -------
    logits : ndarray of shape (n_samples, K), float64
    values : ndarray of shape (n_samples, n_features) or CSR, float64
        X with its missing values (NaN, dense only) as 0.
    observed : ndarray of shape (n_samples, n_features), bool, or None
        Where X is not NaN; None where nothing is missing.
    """
    if sp.issparse(X):
        stored = X.indices[X.indptr[0] : X.indptr[-1]]
        if np.any(stored < 0) or np.any(stored >= X.shape[1]):
            raise ValueError("X.indices has a column index outside [0, n_features)")
        values = X.astype(np.float64)
        return log_weights + b + np.asarray(values @ A.T), values, None
    values = np.asarray(X, dtype=np.float64)
    missing = np.isnan(values)
    if not missing.any():
        return log_weights + b + values @ A.T, values, None
    if B is None:
        raise ValueError("X has missing values (NaN): B is needed")
    values = np.where(missing, 0.0, values)
    logits = log_weights + (b - missing @ B.T) + values @ A.T
    return logits, values, ~missing


def count_non_binary(X):
    """The number of values of dense X that are neither 0, 1 nor NaN, in one
    compiled pass (the check of a Bernoulli mixture's dense rows)."""
    return get_backend().discrete.count_non_binary(X)


def multinomial_coefficient(values):
    """c(x) = log(n! / prod_j x_j!) of each row, n = sum_j x_j, over the stored values
    of a CSR matrix (duplicates count as separate entries) or every value of a dense
    one (missing values as 0), float64 (n_samples,)."""
    if sp.issparse(values):
        terms = values.copy()
        terms.data = gammaln(terms.data + 1.0)
        log_factorials = np.asarray(terms.sum(axis=1)).ravel()
        totals = np.asarray(values.sum(axis=1)).ravel()
    else:
        log_factorials = gammaln(values + 1.0).sum(axis=1)
        totals = values.sum(axis=1)
    return gammaln(totals + 1.0) - log_factorials


# --- M-step ---------------------------------------------------------------------


def bernoulli_maximize(stats, alpha, previous=None):
    """log p and log(1 - p) from expected counts, with additive smoothing ``alpha``.

    p_kj = (s_kj + alpha) / (m_kj + 2 alpha), and 1 - p_kj from the count of zeros,
    (m_kj - s_kj + alpha) / (m_kj + 2 alpha), so probabilities near 1 stay exact.
    Where a component observed no value of a feature and ``alpha`` is 0 the
    probability is undefined: it keeps ``previous`` (log p, log(1 - p)), or 1/2.

    Returns
    -------
    log_prob, log_complement : ndarray of shape (K, d)
    """
    ones = stats.s + alpha
    zeros = np.maximum(stats.m - stats.s, 0.0) + alpha
    total = stats.m + 2.0 * alpha
    with np.errstate(divide="ignore", invalid="ignore"):
        log_total = np.log(total)
        log_prob = np.log(ones) - log_total
        log_complement = np.log(zeros) - log_total
    undefined = total <= 0.0
    if undefined.any():
        if previous is None:
            previous = (np.full_like(log_prob, -np.log(2.0)),) * 2
        log_prob = np.where(undefined, previous[0], log_prob)
        log_complement = np.where(undefined, previous[1], log_complement)
    return log_prob, log_complement


def multinomial_maximize(stats, alpha, previous=None):
    """log theta from expected counts: (s_kj + alpha) / (sum_j s_kj + alpha d).

    A component with no counts at all and ``alpha`` 0 keeps ``previous`` (or the
    uniform distribution).

    Returns
    -------
    log_prob : ndarray of shape (K, d)
    """
    n_features = stats.s.shape[1]
    counts = stats.s + alpha
    total = np.sum(counts, axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_prob = np.log(counts) - np.log(total)
    undefined = (total <= 0.0)[:, 0]
    if undefined.any():
        fallback = (
            np.full_like(log_prob, -np.log(n_features))
            if previous is None
            else previous
        )
        log_prob[undefined] = fallback[undefined]
    return log_prob


def bernoulli_log_prior(log_prob, log_complement, alpha):
    """log density of the Beta(alpha + 1, alpha + 1) prior on every p_kj."""
    if alpha == 0:
        return 0.0
    return float(
        alpha * np.sum(log_prob + log_complement)
        - log_prob.size * betaln(alpha + 1.0, alpha + 1.0)
    )


def multinomial_log_prior(log_prob, alpha):
    """log density of the Dirichlet(alpha + 1) prior on each component's theta."""
    if alpha == 0:
        return 0.0
    n_components, n_features = log_prob.shape
    log_normaliser = gammaln(n_features * (alpha + 1.0)) - n_features * gammaln(
        alpha + 1.0
    )
    return float(alpha * np.sum(log_prob) + n_components * log_normaliser)


def bernoulli_n_parameters(n_components, n_features):
    return n_components * n_features + n_components - 1


def multinomial_n_parameters(n_components, n_features):
    return n_components * (n_features - 1) + n_components - 1


# --- statistics of an initial assignment --------------------------------------


def counts_from_resp(X, resp, sample_weight, with_observed):
    """Expected counts of rows X given responsibilities (or a one-hot of labels).

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n, d)
        NaN (dense only) is a missing value.
    resp : ndarray or sparse matrix of shape (n, K)
    sample_weight : ndarray of shape (n,) or None
    with_observed : bool
        Whether to return the observed mass m (Bernoulli).

    Returns
    -------
    nk : ndarray of shape (K,)
    s : ndarray of shape (K, d)
    m : ndarray of shape (K, d) or None
    """
    weighted = resp if sample_weight is None else _scale_rows(resp, sample_weight)
    nk = np.asarray(weighted.sum(axis=0), dtype=np.float64).reshape(-1)
    if sp.issparse(X):
        product = X.T @ weighted  # (d, K)
        product = product.toarray() if sp.issparse(product) else product
        s = np.ascontiguousarray(np.asarray(product).T, dtype=np.float64)
        m = np.repeat(nk[:, None], X.shape[1], axis=1) if with_observed else None
        return nk, s, m
    X = np.asarray(X, dtype=np.float64)
    missing = np.isnan(X)
    s = np.asarray(weighted.T @ np.where(missing, 0.0, X), dtype=np.float64)
    m = None
    if with_observed:
        m = np.asarray(weighted.T @ (~missing).astype(np.float64), dtype=np.float64)
    return nk, s, m


def _scale_rows(matrix, weights):
    if sp.issparse(matrix):
        return sp.diags(weights) @ matrix
    return matrix * weights[:, None]
