"""The twin of ``_lowrank``: the E-step of a factor model on each row's observed
entries fused with the M-step's sums (``accumulate``), and the rows' scores
(``score``), in NumPy."""

import numpy as np
import scipy.sparse as sp

from ..._latent.factors import pack, row_posteriors
from .._lowrank_checks import check_accumulate, check_score

__all__ = ["accumulate", "score"]


# The twin of ``_lowrank.pyx``. A row x of d features, q factors: x = W z + mu + e,
# z ~ N(0, I), e ~ N(0, diag(psi)). Row i observes O_i (dense: its entries that are
# not NaN; CSR: its stored entries). M_i = I + W_O^T Psi_O^-1 W_O, z_i | x_O ~
# N(m_i, M_i^-1), m_i = M_i^-1 W_O^T Psi_O^-1 r_i with r_i = x_O - mu_O; see
# ``fastem._latent.factors`` for the log-density and the M-step.


def accumulate(
    X,
    sample_weight,
    loadings,
    mean,
    noise_variance,
    n_threads,
    per_feature,
    shared,
):
    """E-step fused with the M-step's sums of a factor model, on observed entries.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), or scipy.sparse CSR
        Dense: float32 or float64, any memory layout; NaN is a missing entry.
        CSR (matrix or array): float32 or float64 values, int32 or int64 indices
        (the same for ``indices`` and ``indptr``), columns in any order, no
        duplicates; the stored entries are the observed ones (an explicit 0 is an
        observed 0), the others are missing. Values are finite.
    sample_weight : ndarray of shape (n_samples,), float64, or None
        None means unit weights. A row of weight 0 contributes nothing.
    loadings : ndarray of shape (n_features, q), float64, C-contiguous, finite
        W: row j holds feature j's loadings.
    mean : ndarray of shape (n_features,), float64, C-contiguous, finite
        mu, also the frame of the statistics: residuals are r_ij = x_ij - mu_j.
    noise_variance : ndarray of shape (n_features,), float64, C-contiguous
        psi_j > 0.
    n_threads : int
        Threads to use, at least 1 (ignored by the twin).
    per_feature : ndarray of shape (n_features, q + 1 + P + 1), float64, OUT
        P = (q + 1)(q + 2) / 2. Row j: sum_i w_i r_ij E[z~_i] (z~ = (z, 1)), then
        the packed upper triangle of a share of sum_i w_i E[z~_i z~_i^T], then
        sum_i w_i r_ij^2, each over the rows i observing j.
    shared : ndarray of shape (P,), float64, OUT
        The rest of every feature's sum_i w_i E[z~_i z~_i^T]: a dense row observing
        at least half the features (2 o_i >= d) adds w_i E[z~_i z~_i^T] here and
        subtracts it from the features it misses; any other row adds it to the
        features it observes.

    Returns
    -------
    log_likelihood : float
        sum_i w_i log p(x_O of row i); a row observing nothing has log p = 0.

    Raises
    ------
    TypeError
        X sparse but not CSR, or neither an array nor sparse.
    ValueError
        Mismatched shapes, dtypes or layouts (see ``_lowrank_checks``), parameters
        that are not finite, a noise variance that is not positive, or a CSR column
        index outside [0, n_features).
    """
    args = check_accumulate(
        X, sample_weight, loadings, mean, noise_variance, n_threads, per_feature, shared
    )
    q, d = args.n_components, args.n_features
    rows = row_posteriors(X, loadings, mean, noise_variance)
    weights = args.sample_weight
    if weights is None:
        weights = np.ones(args.n_samples)
    factors = np.hstack([rows.means, np.ones((args.n_samples, 1))])
    second = np.empty((args.n_samples, q + 1, q + 1))
    second[:, :q, :q] = rows.covariances + rows.means[:, :, None] * rows.means[:, None]
    second[:, :q, q] = second[:, q, :q] = rows.means
    second[:, q, q] = 1.0
    packed = pack(second) * weights[:, np.newaxis]
    residuals = rows.residuals
    squares = residuals.multiply(residuals) if sp.issparse(residuals) else residuals**2
    per_feature[:, : q + 1] = np.asarray(residuals.T @ (factors * weights[:, None]))
    per_feature[:, -1] = np.asarray(squares.T @ weights).reshape(-1)
    observed = rows.observed
    if sp.issparse(observed):
        per_feature[:, q + 1 : -1] = np.asarray(observed.T @ packed)
        shared[:] = 0.0
    else:
        complement = 2 * rows.n_observed >= d
        adding = ~complement
        shared[:] = packed[complement].sum(axis=0)
        per_feature[:, q + 1 : -1] = (
            observed[adding].T.astype(float) @ packed[adding]
            - (~observed[complement]).T.astype(float) @ packed[complement]
        )
    kept = weights != 0
    return float(weights[kept] @ rows.log_prob[kept])


def score(X, loadings, mean, noise_variance, n_threads, log_prob, factors):
    """Per-row log-density of the observed entries and posterior factor means.

    Parameters
    ----------
    X, loadings, mean, noise_variance, n_threads
        As in :func:`accumulate`.
    log_prob : ndarray of shape (n_samples,), float64, OUT, or None
        log p(x_O) of each row (0 for a row observing nothing).
    factors : ndarray of shape (n_samples, q), float64, OUT, or None
        E[z | x_O] of each row (0 for a row observing nothing).
    """
    check_score(X, loadings, mean, noise_variance, n_threads, log_prob, factors)
    rows = row_posteriors(X, loadings, mean, noise_variance)
    if log_prob is not None:
        log_prob[:] = rows.log_prob
    if factors is not None:
        factors[:] = rows.means
