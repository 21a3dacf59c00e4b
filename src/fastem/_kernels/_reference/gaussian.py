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

from ..._families.gaussian import sufficient_stats, weighted_log_prob

__all__ = ["accumulate", "component_log_prob", "exp", "score", "stats_given"]


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
