"""The twin of ``_gaussian``: the fused EM pass of a Gaussian mixture (``accumulate``),
its scores (``score``) and its two halves for models that combine them themselves
(``component_log_prob``, ``stats_given``), in NumPy: the executable specification of
the kernels.

The per-component log-densities and the sums given the responsibilities are the
Gaussian family's own (``fastem._families.gaussian.weighted_log_prob`` and
``sufficient_stats``, which initialisations and hidden Markov models use too): what
this module specifies is how the fused pass combines them.

Conventions shared with the kernels
-----------------------------------
- ``X`` has shape (n_samples, n_features), float32 or float64, any memory layout; it is
  read, never written. Everything is computed in float64.
- ``means`` (K, d) float64 are both the component means and the shifts c_k around
  which the first and second moments are taken, so that data far from the origin and
  tight clusters stay exact.
- ``precisions_chol`` float64, the upper-triangular factor U with U U^T = precision:
  full (K, d, d), tied (d, d), diag (K, d), spherical (K,).
- ``log_norm`` (K,) float64: log(weight_k) + log|U_k| - d/2 log(2 pi), so that the
  weighted log-density of row n under component k is ``log_norm[k] - q_nk / 2`` with
  ``q_nk = ||(x_n - mu_k) U_k||^2``.
- Outputs are preallocated by the caller and overwritten.
"""

import numpy as np
from scipy.special import logsumexp

from ..._families.gaussian import (
    lower_triangular_inverse,
    sufficient_stats,
    weighted_log_prob,
)

__all__ = [
    "accumulate",
    "accumulate_patterns",
    "component_log_prob",
    "exp",
    "padded_marginals",
    "score",
    "score_patterns",
    "stats_given",
]


def accumulate(
    X,
    sample_weight,
    means,
    precisions_chol,
    log_norm,
    covariance_type,
    n_threads,
    nk,
    s1,
    s2,
):
    """E-step fused with the M-step's sums: one pass over X.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
    sample_weight : ndarray of shape (n_samples,), float64, or None
    means : ndarray of shape (K, n_features), float64
        Current means, also the shifts of the moments.
    precisions_chol : ndarray, float64
        Upper-triangular precision factors (see module docstring).
    log_norm : ndarray of shape (K,), float64
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    n_threads : int
        Threads to use (ignored by the twin).
    nk, s1, s2 : ndarray, OUT
        As in :func:`sufficient_stats`, with the responsibilities of the current
        parameters.

    Returns
    -------
    log_likelihood : float
        sum_n w_n log p(x_n) under the current parameters.
    """
    wlp = weighted_log_prob(X, means, precisions_chol, log_norm, covariance_type)
    log_prob_norm = logsumexp(wlp, axis=1)
    resp = np.exp(wlp - log_prob_norm[:, np.newaxis])
    sufficient_stats(X, sample_weight, resp, means, covariance_type, nk, s1, s2)
    if sample_weight is None:
        return float(np.sum(log_prob_norm))
    return float(sample_weight @ log_prob_norm)


def accumulate_patterns(
    X,
    sample_weight,
    rows,
    bounds,
    means,
    precisions_chol,
    log_norm,
    covariance_type,
    n_threads,
    nk,
    s1,
    s2,
    log_likelihood,
):
    """:func:`accumulate` over rows grouped by missingness pattern, each pattern
    under its own marginal padded to all columns: one pass, one call.

    A NaN is read as 0. Pattern p's factors are zero on the columns its rows miss
    (their rows of U for full and tied, their entries for diag), so those values
    cancel; its statistics are then those of its observed columns, the others
    meaningless (the family's lift ignores them).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
        NaN where missing; read, never written.
    sample_weight : ndarray of shape (n_samples,), float64, or None
    rows : ndarray of shape (n_grouped,), intp
        Rows of X, pattern after pattern.
    bounds : ndarray of shape (P + 1,), intp
        Pattern p's rows are ``rows[bounds[p]:bounds[p + 1]]``.
    means : ndarray of shape (K, n_features), float64
        The means, also the shifts of the moments (of every pattern).
    precisions_chol : ndarray, float64
        Each pattern's padded factors: full (P, K, d, d), tied (P, d, d), diag
        (P, K, d).
    log_norm : ndarray of shape (P, K), float64
        Each pattern's log(weight_k) + log|U_pk| - o_p/2 log(2 pi).
    covariance_type : {'full', 'tied', 'diag'}
    n_threads : int
        Threads to use (ignored by the twin).
    nk, s1, s2 : ndarray, OUT
        Each pattern's sums, as :func:`accumulate`'s with a leading axis of P.
    log_likelihood : ndarray of shape (P,), float64, OUT
        Each pattern's sum_n w_n log p(x_n,O).
    """
    X = np.asarray(X, dtype=np.float64)
    for p in range(len(bounds) - 1):
        pattern_rows = rows[bounds[p] : bounds[p + 1]]
        block = np.nan_to_num(X[pattern_rows], nan=0.0)
        weight = None if sample_weight is None else sample_weight[pattern_rows]
        log_likelihood[p] = accumulate(
            block,
            weight,
            means,
            precisions_chol[p],
            log_norm[p],
            covariance_type,
            n_threads,
            nk[p],
            s1[p],
            s2[p],
        )


def padded_marginals(covariances, missing, factors, log_det, embed, conditional):
    """Each pattern's marginal of each covariance on its observed columns O and the
    conditional of its missing ones M, padded back to all d columns.

    Sigma_OO padded with the identity on M x M (nothing couples the blocks, so its
    Cholesky factor and that factor's inverse are the marginal's on O x O and the
    identity on M, without fill-in) gives U~, upper-triangular with U~ U~^T =
    Sigma_OO^{-1} on O x O, zeroed on M's rows and columns.

    Parameters
    ----------
    covariances : ndarray of shape (K, d, d), float64
    missing : ndarray of shape (P, d), bool (or uint8)
    factors : ndarray of shape (P, K, d, d), float64, OUT
        U~.
    log_det : ndarray of shape (P, K), float64, OUT
        log|U_OO| = the sum of log U~_ii over O.
    embed : ndarray of shape (P, K, d, d), float64, OUT
        E~: the identity on O's columns of O's rows, B^T = (Sigma_OO^{-1}
        Sigma_OM)^T on O's columns of M's rows, zero on M's columns.
    conditional : ndarray of shape (P, K, d, d), float64, OUT
        C~: Sigma_MM - Sigma_MO B on M x M, zero elsewhere.

    Returns
    -------
    positive : bool
        False where a Sigma_OO is not positive definite (the outputs are then
        meaningless).
    """
    n_features = covariances.shape[-1]
    observed = (~np.asarray(missing, dtype=bool)).astype(np.float64)
    lost = 1.0 - observed
    observed_block = observed[:, None, :, None] * observed[:, None, None, :]
    identity = np.eye(n_features)
    padded = covariances[None] * observed_block + lost[:, None, :, None] * identity
    try:
        lower = np.linalg.cholesky(padded)
    except np.linalg.LinAlgError:
        return False
    inverse = lower_triangular_inverse(lower.reshape(-1, n_features, n_features))
    upper = np.swapaxes(inverse.reshape(lower.shape), -1, -2)
    log_det[...] = np.sum(
        np.log(np.diagonal(upper, axis1=-2, axis2=-1)) * observed[:, None], axis=-1
    )
    factors[...] = upper * observed_block
    sigma_om = covariances[None] * (observed[:, None, :, None] * lost[:, None, None, :])
    regression = (factors @ np.swapaxes(factors, -1, -2)) @ sigma_om
    embed[...] = np.swapaxes(regression, -1, -2) + observed[:, None, :, None] * identity
    conditional[...] = (covariances[None] - covariances[None] @ regression) * (
        lost[:, None, :, None] * lost[:, None, None, :]
    )
    return True


def score(
    X,
    means,
    precisions_chol,
    log_norm,
    covariance_type,
    n_threads,
    log_prob_norm,
    resp,
    labels,
):
    """Per-row log-likelihood, and optionally responsibilities and labels.

    Parameters
    ----------
    X, means, precisions_chol, log_norm, covariance_type, n_threads
        As in :func:`accumulate`.
    log_prob_norm : ndarray of shape (n_samples,), float64, OUT, or None
        log p(x_n).
    resp : ndarray of shape (n_samples, K), float64, OUT, or None
        Responsibilities p(k | x_n).
    labels : ndarray of shape (n_samples,), int64, OUT, or None
        argmax_k of the weighted log-densities (first index on ties).
    """
    wlp = weighted_log_prob(X, means, precisions_chol, log_norm, covariance_type)
    row_lse = logsumexp(wlp, axis=1)
    if log_prob_norm is not None:
        log_prob_norm[:] = row_lse
    if resp is not None:
        resp[:] = np.exp(wlp - row_lse[:, np.newaxis])
    if labels is not None:
        labels[:] = np.argmax(wlp, axis=1)


def score_patterns(
    X,
    rows,
    bounds,
    means,
    precisions_chol,
    log_norm,
    covariance_type,
    n_threads,
    log_prob_norm,
    resp,
    labels,
):
    """:func:`score` over rows grouped by missingness pattern, each pattern under
    its padded marginal (as :func:`accumulate_patterns`: NaN read as 0), the
    outputs written at the rows' places (other rows untouched).

    Parameters
    ----------
    X, rows, bounds, means, precisions_chol, log_norm, covariance_type, n_threads
        As in :func:`accumulate_patterns`.
    log_prob_norm : ndarray of shape (n_samples,), float64, OUT, or None
    resp : ndarray of shape (n_samples, K), float64, OUT, or None
    labels : ndarray of shape (n_samples,), int64, OUT, or None
    """
    X = np.asarray(X, dtype=np.float64)
    n_components = means.shape[0]
    for p in range(len(bounds) - 1):
        pattern_rows = rows[bounds[p] : bounds[p + 1]]
        block = np.nan_to_num(X[pattern_rows], nan=0.0)
        outputs = (
            None if log_prob_norm is None else np.empty(len(block)),
            None if resp is None else np.empty((len(block), n_components)),
            None if labels is None else np.empty(len(block), dtype=labels.dtype),
        )
        score(
            block,
            means,
            precisions_chol[p],
            log_norm[p],
            covariance_type,
            n_threads,
            *outputs,
        )
        for out, part in zip((log_prob_norm, resp, labels), outputs):
            if out is not None:
                out[pattern_rows] = part


def component_log_prob(
    X, means, precisions_chol, log_norm, covariance_type, n_threads, out
):
    """The per-component log-densities ``log_norm[k] - q_nk / 2`` of each row.

    Parameters
    ----------
    X, means, precisions_chol, log_norm, covariance_type, n_threads
        As in :func:`accumulate`.
    out : ndarray of shape (n_samples, K), float64, OUT
    """
    out[...] = weighted_log_prob(X, means, precisions_chol, log_norm, covariance_type)


def stats_given(X, sample_weight, resp, means, covariance_type, n_threads, nk, s1, s2):
    """The M-step's sums of the rows given their responsibilities.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
    sample_weight : ndarray of shape (n_samples,), float64, or None
    resp : ndarray of shape (n_samples, K), float64
    means : ndarray of shape (K, n_features), float64
        The shifts of the moments.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    n_threads : int
    nk, s1, s2 : ndarray, OUT
        As in :func:`sufficient_stats`.
    """
    sufficient_stats(X, sample_weight, resp, means, covariance_type, nk, s1, s2)


def exp(x, out, n_threads):
    """out = exp(x), with the kernels' domain: x <= 0, and 0 below -708.

    Parameters
    ----------
    x : ndarray of shape (n,), float64
    out : ndarray of shape (n,), float64
        Overwritten.
    n_threads : int
        Unused: the twin is serial.
    """
    if out.shape != x.shape:
        raise ValueError(f"out has {out.shape[0]} elements; x has {x.shape[0]}")
    np.exp(x, out=out)
    out[x < -708.0] = 0.0
