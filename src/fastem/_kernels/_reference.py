"""Pure-NumPy twin of the compiled kernels: the executable specification.

Every name in ``__all__`` exists in exactly one compiled kernel module
(:mod:`fastem._kernels._gaussian`: ``accumulate``, ``score``;
:mod:`fastem._kernels._kmeans_plusplus`: ``kmeanspp_potentials``,
``kmeanspp_searchsorted``; :mod:`fastem._kernels._discrete`:
``discrete_accumulate``, ``discrete_score``) with the same argument order and output
contract; tests
hold the two together, and ``fastem.use_backend("numpy")`` runs the whole estimator
on this module.

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
import scipy.sparse as sp
from scipy.special import gammaln, logsumexp

from ._discrete_checks import check_accumulate, check_score

__all__ = [
    "accumulate",
    "score",
    "kmeanspp_potentials",
    "kmeanspp_searchsorted",
    "discrete_accumulate",
    "discrete_score",
]


def weighted_log_prob(X, means, precisions_chol, log_norm, covariance_type):
    """log(weight_k) + log N(x_n | mu_k, Sigma_k), shape (n_samples, K), float64."""
    X = np.asarray(X, dtype=np.float64)
    n_components = means.shape[0]
    quad = np.empty((X.shape[0], n_components))
    for k in range(n_components):
        diff = X - means[k]
        if covariance_type == "full":
            quad[:, k] = np.sum((diff @ precisions_chol[k]) ** 2, axis=1)
        elif covariance_type == "tied":
            quad[:, k] = np.sum((diff @ precisions_chol) ** 2, axis=1)
        elif covariance_type == "diag":
            quad[:, k] = np.sum((diff * precisions_chol[k]) ** 2, axis=1)
        else:
            quad[:, k] = np.sum(diff**2, axis=1) * precisions_chol[k] ** 2
    return log_norm - 0.5 * quad


def sufficient_stats(X, sample_weight, resp, shift, covariance_type, nk, s1, s2):
    """Weighted sums of one pass, around the per-component shifts.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
        None means unit weights.
    resp : ndarray of shape (n_samples, K)
        Responsibilities.
    shift : ndarray of shape (K, n_features)
        The point c_k each component's moments are taken around.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    nk : ndarray of shape (K,), OUT
        sum_n w_n r_nk.
    s1 : ndarray of shape (K, n_features), OUT
        sum_n w_n r_nk (x_n - c_k).
    s2 : ndarray, OUT
        Second moments sum_n w_n r_nk (x_n - c_k)(x_n - c_k)^T: full (K, d, d); tied
        (d, d), summed over components; diag (K, d), the diagonal; spherical (K,), the
        trace.
    """
    X = np.asarray(X, dtype=np.float64)
    weighted = np.asarray(resp, dtype=np.float64)
    if sample_weight is not None:
        weighted = weighted * sample_weight[:, np.newaxis]
    nk[:] = weighted.sum(axis=0)
    if covariance_type == "tied":
        s2[:] = 0.0
    for k in range(shift.shape[0]):
        diff = X - shift[k]
        w = weighted[:, k]
        s1[k] = w @ diff
        if covariance_type == "full":
            s2[k] = (diff * w[:, np.newaxis]).T @ diff
        elif covariance_type == "tied":
            s2 += (diff * w[:, np.newaxis]).T @ diff
        elif covariance_type == "diag":
            s2[k] = w @ diff**2
        else:
            s2[k] = w @ np.sum(diff**2, axis=1)


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


# --- k-means++ seeding ----------------------------------------------------------------
#
# The twin of ``_kmeans_plusplus.pyx``, to the bit: squared distances are summed over
# features in order with no fused multiply-add, a block's sums keep KMEANSPP_LANES
# partial sums (lane l adds the block's rows r = l mod KMEANSPP_LANES in order) added
# pairwise at the end, and the scan of a block adds its terms one by one.

KMEANSPP_LANES = 8


def squared_distances(X, centre):
    """||x_n - centre||^2 of each row, summed over features in order, float64 (n,)."""
    dist = np.zeros(X.shape[0])
    for j in range(X.shape[1]):
        diff = np.asarray(X[:, j], dtype=np.float64) - centre[j]
        dist += diff * diff
    return dist


def sum_blocks(terms, block_rows):
    """Sum of ``terms`` over each block of ``block_rows`` rows, as the kernel adds."""
    n_blocks = -(-len(terms) // block_rows)
    padded = np.zeros(n_blocks * block_rows)
    padded[: len(terms)] = terms
    # A reduction over a non-contiguous axis adds rows one by one, in order.
    lanes = np.add.reduce(padded.reshape(n_blocks, -1, KMEANSPP_LANES), axis=1)
    return ((lanes[:, 0] + lanes[:, 1]) + (lanes[:, 2] + lanes[:, 3])) + (
        (lanes[:, 4] + lanes[:, 5]) + (lanes[:, 6] + lanes[:, 7])
    )


def _closest_with(X, last_center, closest, rows=slice(None)):
    """min(closest, ||x - x_last||^2) on ``rows``; closest if last_center < 0."""
    if last_center < 0:
        return closest[rows]
    last = np.asarray(X[last_center], dtype=np.float64)
    return np.minimum(closest[rows], squared_distances(X[rows], last))


def _check_block_rows(block_rows):
    if block_rows <= 0 or block_rows % KMEANSPP_LANES:
        raise ValueError(f"block_rows must be a positive multiple of {KMEANSPP_LANES}")


def kmeanspp_potentials(
    X,
    sample_weight,
    last_center,
    candidates,
    block_rows,
    n_threads,
    closest,
    block_sums,
):
    """One k-means++ step's pass over X: fold in the last centre, then each candidate's
    potential per block of rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
    sample_weight : ndarray of shape (n_samples,), float64, or None
        None means unit weights.
    last_center : int
        Row of X chosen as a centre since ``closest`` was last updated, or -1.
    candidates : ndarray of shape (n_candidates,), intp
        Rows of X tried as the next centre.
    block_rows : int
        Rows per block, a positive multiple of 8; blocks start at multiples of it.
    n_threads : int
        Threads to use (ignored by the twin).
    closest : ndarray of shape (n_samples,), float64, INOUT
        Squared distance of each row to its closest centre (inf before the first
        centre); on return min(closest, ||x - X[last_center]||^2).
    block_sums : ndarray of shape (n_blocks, n_candidates), float64, OUT
        ``block_sums[b, t]`` = sum over the rows n of block b of
        w_n min(closest_n, ||x_n - X[candidates[t]]||^2) (closest as updated), where
        n_blocks = ceil(n_samples / block_rows). Each candidate's potential is the
        sum of its column.
    """
    _check_block_rows(block_rows)
    closest[:] = _closest_with(X, last_center, closest)
    for t, candidate in enumerate(np.asarray(candidates).reshape(-1)):
        centre = np.asarray(X[candidate], dtype=np.float64)
        terms = np.minimum(closest, squared_distances(X, centre))
        if sample_weight is not None:
            terms = sample_weight * terms
        block_sums[:, t] = sum_blocks(terms, block_rows)


def kmeanspp_searchsorted(
    X,
    sample_weight,
    last_center,
    closest,
    block_cumsum,
    targets,
    block_rows,
    candidates,
):
    """Rows where ``targets`` fall in the cumulative sum of the weighted closest
    distances: ``np.searchsorted(cumsum(w * closest'), targets)``, clipped to the
    last row, with closest' = min(closest, ||x - X[last_center]||^2).

    The cumulative sum over all rows is not formed: the target's block is the first
    whose ``block_cumsum`` reaches it (the last if none), and within the block the
    terms are added one by one to the cumulative sum of the blocks before.

    Parameters
    ----------
    X, sample_weight, last_center, block_rows
        As in :func:`kmeanspp_potentials`; ``closest`` is not updated here.
    closest : ndarray of shape (n_samples,), float64
    block_cumsum : ndarray of shape (n_blocks,), float64
        Cumulative sum over blocks of the blocks' sums of w * closest', e.g. the
        in-order cumulative sum of a column of ``kmeanspp_potentials``'s
        ``block_sums``.
    targets : ndarray of shape (n_targets,), float64
    candidates : ndarray of shape (n_targets,), intp, OUT
        For each target, the first row of its block at which the running sum reaches
        the target, or the block's last row if it does not.
    """
    _check_block_rows(block_rows)
    n_samples = X.shape[0]
    n_blocks = len(block_cumsum)
    blocks = np.minimum(np.searchsorted(block_cumsum, targets), n_blocks - 1)
    for t, (block, target) in enumerate(zip(blocks, targets)):
        rows = slice(block * block_rows, min((block + 1) * block_rows, n_samples))
        terms = _closest_with(X, last_center, closest, rows)
        if sample_weight is not None:
            terms = sample_weight[rows] * terms
        offset = block_cumsum[block - 1] if block > 0 else 0.0
        running = np.cumsum(np.concatenate(([offset], terms)))[1:]
        row = min(np.searchsorted(running, target), len(running) - 1)
        candidates[t] = rows.start + row


# --- mixtures of discrete data --------------------------------------------------------
#
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


def discrete_logits(X, log_weights, A, b, B):
    """log w_k + log p(x_n | k) - c(x_n) of each row and component, and X as read.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), or scipy.sparse CSR
    log_weights, A, b, B
        As in :func:`discrete_accumulate`.

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


def discrete_coefficient(values):
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


def discrete_accumulate(
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
    logits, values, observed = discrete_logits(X, log_weights, A, b, B)
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
        log_prob += discrete_coefficient(values)
    kept = weights != 0
    return float(weights[kept] @ log_prob[kept])


def discrete_score(
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
        As in :func:`discrete_accumulate`.
    log_prob : ndarray of shape (n_samples,), float64, OUT, or None
        log p(x_n), including c(x_n) with ``coefficient``.
    resp : ndarray of shape (n_samples, K), float64, OUT, or None
        Responsibilities p(k | x_n).
    labels : ndarray of shape (n_samples,), intp, OUT, or None
        argmax_k of the logits log w_k + log p(x_n | k) (first index on ties).
    """
    check_score(X, log_weights, A, b, B, coefficient, n_threads, log_prob, resp, labels)
    logits, values, _ = discrete_logits(X, log_weights, A, b, B)
    row_log_prob = logsumexp(logits, axis=1)
    if log_prob is not None:
        log_prob[:] = row_log_prob
        if coefficient:
            log_prob += discrete_coefficient(values)
    if resp is not None:
        resp[:] = np.exp(logits - row_log_prob[:, np.newaxis])
    if labels is not None:
        labels[:] = np.argmax(logits, axis=1)
