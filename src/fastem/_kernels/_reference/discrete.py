"""The twin of ``_discrete``: the fused EM pass of a mixture of a discrete family,
Bernoulli or multinomial (``accumulate``), and its scores (``score``), in NumPy."""

import numpy as np
from scipy.special import logsumexp

from ..._families.discrete import multinomial_coefficient, row_logits
from .._discrete_checks import check_accumulate, check_dense_rows, check_score

__all__ = ["accumulate", "count_non_binary", "score"]


# The twin of ``_discrete.pyx``. One row x and K components of weights w_k:
#
#     log p(x, k) = log w_k + b_k + sum_j x_j A_kj  (+ c(x))
#
# Bernoulli (x in {0, 1}): A_kj = log p_kj - log(1 - p_kj), b_k = sum_j B_kj with
# B_kj = log(1 - p_kj). A NaN in dense X is missing: the feature drops out of the
# row's likelihood and statistics, the row's logit being b_k - sum_{j missing} B_kj +
# sum_{j observed} x_j A_kj. Multinomial (counts): A_kj = log theta_kj, b_k = 0, and
# c(x) = log(n! / prod_j x_j!), n = sum_j x_j, adds to each row's log-probability
# (not to its responsibilities).


def accumulate(
    X,
    sample_weight,
    log_weights,
    A,
    b,
    B,
    coefficient,
    n_threads,
    nk,
    s,
    m,
):
    """E-step fused with the M-step's sums of a Bernoulli or multinomial mixture.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), or scipy.sparse CSR
        Dense: float32 or float64, any memory layout; NaN is missing (needs ``B``).
        CSR (matrix or array): float32 or float64 values, int32 or int64 indices
        (the same for ``indices`` and ``indptr``), columns in any order; values are
        finite (NaN is not missing there). Duplicate entries add up, except in c(x),
        which takes them one by one: pass canonical CSR with ``coefficient``.
    sample_weight : ndarray of shape (n_samples,), float64, or None
        None means unit weights. A row of weight 0 contributes nothing.
    log_weights : ndarray of shape (K,), float64, C-contiguous
        log w_k; -inf for a component of weight 0 (not all).
    A : ndarray of shape (K, n_features), float64, C-contiguous, finite
        The coefficients of x_j in log p(x | k).
    b : ndarray of shape (K,), float64, C-contiguous, finite
        The constant of log p(x | k) (every feature observed).
    B : ndarray of shape (K, n_features), float64, C-contiguous, finite, or None
        The constant's share of each feature, subtracted for missing ones: a row's
        constant is b_k - sum_{j missing} B_kj. Needed where dense X has a NaN.
    coefficient : bool
        Add c(x) = log(n! / prod_j x_j!) to each row's log-probability.
    n_threads : int
        Threads to use, at least 1 (ignored by the twin).
    nk : ndarray of shape (K,), float64, OUT
        sum_n w_n r_nk.
    s : ndarray of shape (K, n_features), float64, OUT
        sum_n w_n r_nk x_nj, missing values as 0.
    m : ndarray of shape (K, n_features), float64, OUT, or None
        sum_n w_n r_nk [x_nj observed]: ``nk`` in every column where nothing is
        missing.

    Returns
    -------
    log_likelihood : float
        sum_n w_n log p(x_n), log p(x_n) including c(x_n) with ``coefficient``.

    Raises
    ------
    TypeError
        X sparse but not CSR, or neither an array nor sparse.
    ValueError
        Mismatched shapes, dtypes or layouts (see ``_discrete_checks``), or NaN in X
        while ``B`` is None.
    """
    args = check_accumulate(
        X, sample_weight, log_weights, A, b, B, coefficient, n_threads, nk, s, m
    )
    logits, values, observed = row_logits(X, log_weights, A, b, B)
    log_prob = logsumexp(logits, axis=1)
    resp = np.exp(logits - log_prob[:, np.newaxis])
    weights = args.sample_weight
    if weights is None:
        weights = np.ones(args.n_samples)
    weighted = resp * weights[:, np.newaxis]
    nk[:] = weighted.sum(axis=0)
    s[:] = (values.T @ weighted).T
    if m is not None:
        m[:] = nk[:, np.newaxis] if observed is None else weighted.T @ observed
    if coefficient:
        log_prob += multinomial_coefficient(values)
    kept = weights != 0
    return float(weights[kept] @ log_prob[kept])


def score(
    X,
    log_weights,
    A,
    b,
    B,
    coefficient,
    n_threads,
    log_prob,
    resp,
    labels,
):
    """Per-row log-probability, and optionally responsibilities and labels.

    Parameters
    ----------
    X, log_weights, A, b, B, coefficient, n_threads
        As in :func:`accumulate`.
    log_prob : ndarray of shape (n_samples,), float64, OUT, or None
        log p(x_n), including c(x_n) with ``coefficient``.
    resp : ndarray of shape (n_samples, K), float64, OUT, or None
        Responsibilities p(k | x_n).
    labels : ndarray of shape (n_samples,), intp, OUT, or None
        argmax_k of the logits log w_k + log p(x_n | k) (first index on ties).
    """
    check_score(X, log_weights, A, b, B, coefficient, n_threads, log_prob, resp, labels)
    logits, values, _ = row_logits(X, log_weights, A, b, B)
    row_log_prob = logsumexp(logits, axis=1)
    if log_prob is not None:
        log_prob[:] = row_log_prob
        if coefficient:
            log_prob += multinomial_coefficient(values)
    if resp is not None:
        resp[:] = np.exp(logits - row_log_prob[:, np.newaxis])
    if labels is not None:
        labels[:] = np.argmax(logits, axis=1)


def count_non_binary(X):
    """The number of values of dense X that are neither 0, 1 nor NaN: the check of a
    Bernoulli mixture's dense rows (NaN is a missing value there).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        float32 or float64, any memory layout.

    Returns
    -------
    count : int

    Raises
    ------
    TypeError
        X is neither a NumPy array nor a scipy.sparse matrix.
    ValueError
        X sparse, or not a 2-D float32 / float64 array.
    """
    check_dense_rows(X)
    return int(np.count_nonzero(~((X == 0) | (X == 1) | np.isnan(X))))
