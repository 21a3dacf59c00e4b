"""The Gaussian family: its sufficient statistics, the M-step, precision factors,
log-determinants, and the statistics of an initial assignment.

Everything here is O(K d^3) or one chunked pass for initialisation; the per-iteration
pass over the data lives in the kernels (``fastem._kernels._gaussian``).
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from .._engine.stats import Stats

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# Rows per NumPy chunk where initialisation needs responsibilities: keeps memory
# bounded (chunk x K) whatever the number of samples.
_INIT_CHUNK_ROWS = 8192

SINGULAR_COVARIANCE_MESSAGE = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton "
    "or collapsed samples). Try to decrease the number of components, "
    "increase reg_covar, or scale the input data."
)


def second_moment_shape(n_components, n_features, covariance_type):
    """Shape of the second-moment statistic s2 for a covariance type."""
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


@dataclass
class GaussianStats(Stats):
    """Sufficient statistics of one pass over weighted data.

    Attributes
    ----------
    nk : ndarray of shape (K,)
        Responsibility mass sum_n w_n r_nk.
    s1 : ndarray of shape (K, d)
        First moments sum_n w_n r_nk (x_n - c_k).
    s2 : ndarray
        Second moments around c_k (shape from :func:`second_moment_shape`).
    shift : ndarray of shape (K, d)
        The points c_k (the frame: statistics around other points are
        :meth:`recentred` before they add).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        The layout of s2.
    log_likelihood : float
        sum_n w_n log p(x_n) under the parameters that gave r (0 for initialisations).
    """

    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    shift: np.ndarray
    covariance_type: str
    log_likelihood: float = 0.0

    _sums = ("nk", "s1", "s2")
    _frame = ("shift", "covariance_type")

    @classmethod
    def empty(cls, shift, covariance_type):
        """Uninitialised statistics around ``shift`` (K, d), for a kernel to fill."""
        n_components, n_features = shift.shape
        return cls(
            nk=np.empty(n_components),
            s1=np.empty((n_components, n_features)),
            s2=np.empty(second_moment_shape(n_components, n_features, covariance_type)),
            shift=np.array(shift, dtype=np.float64),
            covariance_type=covariance_type,
        )

    @classmethod
    def zeros(cls, shift, covariance_type):
        """Statistics of no data around ``shift``."""
        stats = cls.empty(shift, covariance_type)
        for array in (stats.nk, stats.s1, stats.s2):
            array[...] = 0.0
        return stats

    def recentred(self, shift):
        """The same statistics around another ``shift`` c' (K, d), exactly:
        S1 + N (c - c'), and the second moments are the scatter around c' (see
        :func:`scatter_around`)."""
        shift = np.array(shift, dtype=np.float64)
        s1 = self.s1 + self.nk[:, np.newaxis] * (self.shift - shift)
        return GaussianStats(
            self.nk.copy(),
            s1,
            scatter_around(self, shift, self.covariance_type),
            shift,
            self.covariance_type,
            self.log_likelihood,
        )

    def _reframed(self, like):
        return self.recentred(like.shift)


# --- M-step ---------------------------------------------------------------------


def maximize(stats, covariance_type, reg_covar, eps, prior=None):
    """Closed-form M-step: weights mass, means and covariances from statistics.

    Without a prior, follows scikit-learn's ``_estimate_gaussian_parameters`` exactly
    (nk + eps, the same reg_covar placement) but from shifted sums, so no cancellation
    occurs. With a prior, returns the posterior mode (see
    :class:`fastem.GaussianPrior`): the prior's pseudo-statistics are added to the
    data's.

    Parameters
    ----------
    stats : GaussianStats
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    reg_covar : float
        Added to the diagonal of each covariance.
    eps : float
        Added to each responsibility mass, 10 * machine epsilon of the data's dtype in
        scikit-learn, so an empty component stays finite (maximum likelihood only).
    prior : ResolvedPrior or None
        None: maximum likelihood.

    Returns
    -------
    nk : ndarray of shape (K,)
        Regularised masses (unnormalised weights).
    means : ndarray of shape (K, d)
    covariances : ndarray
        full (K, d, d), tied (d, d), diag (K, d), spherical (K,); float64.
    """
    mass = stats.nk
    n_features = stats.shift.shape[1]
    if prior is not None:
        kappa = prior.mean_precision
        means = (
            stats.shift
            + (stats.s1 + kappa * (prior.mean - stats.shift))
            / (mass + kappa)[:, np.newaxis]
        )
        scatter = scatter_around(stats, means, covariance_type) + prior.pseudo_scatter(
            means
        )
        denominator = prior.covariance_denominator(mass)
        if covariance_type == "full":
            covariances = scatter / denominator[:, np.newaxis, np.newaxis]
        elif covariance_type == "diag":
            covariances = scatter / denominator[:, np.newaxis]
        else:
            covariances = scatter / denominator
        _add_to_diagonal(covariances, reg_covar, covariance_type)
        return mass + (prior.weight_concentration - 1.0), means, covariances
    nk = mass + eps
    means = (stats.s1 + stats.shift * mass[:, np.newaxis]) / nk[:, np.newaxis]
    scatter = scatter_around(stats, means, covariance_type)
    if covariance_type == "full":
        covariances = scatter / nk[:, np.newaxis, np.newaxis]
    elif covariance_type == "tied":
        covariances = scatter / nk.sum()
    elif covariance_type == "diag":
        covariances = scatter / nk[:, np.newaxis]
    else:
        covariances = scatter / nk / n_features
    _add_to_diagonal(covariances, reg_covar, covariance_type)
    return nk, means, covariances


def scatter_around(stats, means, covariance_type):
    """sum_n r (x - m)(x - m)^T around the new means m, in the layout of the type.

    Equal to S2 - S1 delta^T - delta S1^T + N delta delta^T with delta = m - c: exact
    for any shift c. tied sums over components; spherical gives the trace.
    """
    mass = stats.nk
    delta = means - stats.shift
    if covariance_type in ("full", "tied"):
        cross = np.einsum("ki,kj->kij", stats.s1, delta)
        centred = (
            -cross
            - cross.transpose(0, 2, 1)
            + mass[:, np.newaxis, np.newaxis] * np.einsum("ki,kj->kij", delta, delta)
        )
        if covariance_type == "full":
            return stats.s2 + centred
        return stats.s2 + centred.sum(axis=0)
    if covariance_type == "diag":
        return stats.s2 - 2.0 * stats.s1 * delta + mass[:, np.newaxis] * delta**2
    return (
        stats.s2
        - 2.0 * np.sum(stats.s1 * delta, axis=1)
        + mass * np.sum(delta**2, axis=1)
    )


def _add_to_diagonal(covariances, value, covariance_type):
    """covariances += value I, in place, in the layout of the type."""
    if covariance_type == "full":
        n_features = covariances.shape[-1]
        covariances[:, np.arange(n_features), np.arange(n_features)] += value
    elif covariance_type == "tied":
        covariances.flat[:: covariances.shape[0] + 1] += value
    else:
        covariances += value


def degenerate_components(mass, means, covariances, covariance_type, eps, total):
    """Which components hold no data or have collapsed onto a point or a subspace.

    A component is degenerate when its responsibility mass is below ``eps * total``,
    or a variance of its covariance (an eigenvalue, for full) is not above
    ``(eps * max_j |mean_kj|)**2``: narrower than the resolution of the coordinates
    where it sits, which is where a collapse onto duplicate rows ends (the new
    mean is off the rows by rounding, leaving a variance of ~(eps |mean|)^2).

    Parameters
    ----------
    mass : ndarray of shape (K,)
        The data's responsibility mass of each component.
    means : ndarray of shape (K, d)
    covariances : ndarray
        In the layout of ``covariance_type``. A tied covariance is shared, so only
        the masses decide for 'tied'.
    eps : float
        Relative resolution, 10 machine epsilons of the data's dtype.
    total : float
        The data's total weight.

    Returns
    -------
    ndarray of shape (K,), bool
    """
    degenerate = ~(mass >= eps * total)
    if covariance_type == "tied":
        return degenerate
    resolution = (eps * np.max(np.abs(means), axis=1)) ** 2
    if covariance_type == "full":
        # The smallest eigenvalue of each finite covariance, in one batched call
        # (NaN for the others, which are degenerate).
        finite = np.all(np.isfinite(covariances), axis=(1, 2))
        variances = np.full(len(covariances), np.nan)
        if finite.any():
            variances[finite] = np.linalg.eigvalsh(covariances[finite])[:, 0]
    elif covariance_type == "diag":
        variances = np.min(covariances, axis=1)
    else:
        variances = covariances
    return degenerate | ~(variances > resolution)


# --- precision factors ------------------------------------------------------


def precision_cholesky(covariances, covariance_type):
    """Upper-triangular U with U U^T = inverse covariance (scikit-learn's convention).

    Raises
    ------
    ValueError
        If a covariance is not positive definite; the message tells the user to raise
        ``reg_covar``.
    """
    if not np.all(np.isfinite(covariances)):
        raise ValueError(SINGULAR_COVARIANCE_MESSAGE)
    if covariance_type in ("full", "tied"):
        stacked = covariances if covariance_type == "full" else covariances[np.newaxis]
        try:
            # NumPy's batched LAPACK: one call for all components. A Python loop of
            # SciPy calls cost ~4 ms an iteration at K = 32 (4% of a fit at N = 1e6).
            cov_chol = np.linalg.cholesky(stacked)
        except np.linalg.LinAlgError:
            raise ValueError(SINGULAR_COVARIANCE_MESSAGE) from None
        factors = np.swapaxes(lower_triangular_inverse(cov_chol), -1, -2)
        return factors if covariance_type == "full" else factors[0]
    if np.any(covariances <= 0.0):
        raise ValueError(SINGULAR_COVARIANCE_MESSAGE)
    return 1.0 / np.sqrt(covariances)


def lower_triangular_inverse(lower):
    """Inverses of a stack of lower-triangular matrices (K, d, d), by forward
    substitution over the rows, each step batched over the stack."""
    n_features = lower.shape[-1]
    inverse = np.zeros_like(lower)
    for i in range(n_features):
        row = -(lower[:, i : i + 1, :i] @ inverse[:, :i, :])[:, 0, :]
        row[:, i] += 1.0
        inverse[:, i, :] = row / lower[:, i, i : i + 1]
    return inverse


def precision_cholesky_from_precisions(precisions, covariance_type):
    """Upper-triangular factor of given precisions (scikit-learn's flip trick)."""
    if covariance_type == "full":
        return np.stack([_upper_cholesky(p) for p in precisions])
    if covariance_type == "tied":
        return _upper_cholesky(precisions)
    return np.sqrt(precisions)


def _upper_cholesky(matrix):
    flipped = matrix[::-1, ::-1]
    return linalg.cholesky(flipped, lower=True)[::-1, ::-1]


def upper_precision_cholesky(precisions_chol, covariance_type):
    """The factors as the kernels read them: upper triangular, C-contiguous float64.

    A factor with entries below the diagonal (any F with F F^T = precision, such as
    the lower factors older scikit-learn stored) is refactored rather than misread.
    """
    factors = np.ascontiguousarray(precisions_chol, dtype=np.float64)
    if covariance_type in ("full", "tied") and np.any(np.tril(factors, -1)):
        precisions = precisions_from_cholesky(factors, covariance_type)
        factors = np.ascontiguousarray(
            precision_cholesky_from_precisions(precisions, covariance_type)
        )
    return factors


def precisions_from_cholesky(precisions_chol, covariance_type):
    """Precision matrices U U^T (or squares for diag / spherical)."""
    if covariance_type == "full":
        return np.einsum("kij,klj->kil", precisions_chol, precisions_chol)
    if covariance_type == "tied":
        return precisions_chol @ precisions_chol.T
    return precisions_chol**2


def covariances_from_cholesky(precisions_chol, covariance_type):
    """The covariances (U U^T)^{-1} = U^{-T} U^{-1} of upper precision factors."""
    if covariance_type in ("full", "tied"):
        full = covariance_type == "full"
        stacked = precisions_chol if full else precisions_chol[np.newaxis]
        inverse = lower_triangular_inverse(np.swapaxes(stacked, -1, -2))  # U^{-T}
        covariances = inverse @ np.swapaxes(inverse, -1, -2)
        return covariances if full else covariances[0]
    return 1.0 / precisions_chol**2


def covariances_from_precisions(precisions, covariance_type):
    """Inverse of the precisions, for a model given only ``precisions_init``."""
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(precisions)
    return 1.0 / precisions


def inverse_mismatch(covariances, precisions, covariance_type):
    """How far each component's covariance times its precision is from the identity.

    ||C P - I|| / (||C|| ||P||) (Frobenius norms) for full and tied: rounding C and
    P to a dtype of machine epsilon eps moves it by at most about 2 eps, whatever
    their condition number; |c p - 1| per variance for diag and spherical.

    Returns
    -------
    mismatch : ndarray of shape (n_components,), (n_components, n_features) or ()
    """
    if covariance_type in ("full", "tied"):
        identity = np.eye(covariances.shape[-1])
        residual = np.linalg.norm(covariances @ precisions - identity, axis=(-2, -1))
        scale = np.linalg.norm(covariances, axis=(-2, -1)) * np.linalg.norm(
            precisions, axis=(-2, -1)
        )
        return residual / scale
    return np.abs(covariances * precisions - 1.0)


def log_det_cholesky(precisions_chol, covariance_type, n_features):
    """log |U_k| per component (a scalar for tied)."""
    if covariance_type == "full":
        return np.sum(np.log(np.diagonal(precisions_chol, axis1=1, axis2=2)), axis=1)
    if covariance_type == "tied":
        return np.sum(np.log(np.diag(precisions_chol)))
    if covariance_type == "diag":
        return np.sum(np.log(precisions_chol), axis=1)
    return n_features * np.log(precisions_chol)


def log_norm(weights, precisions_chol, covariance_type, n_features):
    """log(weight_k) + log|U_k| - d/2 log(2 pi): the kernels' per-component constant."""
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    log_det = log_det_cholesky(precisions_chol, covariance_type, n_features)
    constant = log_weights + log_det - 0.5 * n_features * math.log(2.0 * math.pi)
    return np.ascontiguousarray(np.broadcast_to(constant, weights.shape), np.float64)


def n_parameters(n_components, n_features, covariance_type):
    """Number of free parameters of the mixture (for BIC / AIC)."""
    cov_params = {
        "full": n_components * n_features * (n_features + 1) / 2.0,
        "diag": n_components * n_features,
        "tied": n_features * (n_features + 1) / 2.0,
        "spherical": n_components,
    }[covariance_type]
    return int(cov_params + n_features * n_components + n_components - 1)


# --- per-component densities and statistics given responsibilities ----------


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


# --- statistics of an initial assignment ------------------------------------


def stats_from_labels(X, labels, n_components, covariance_type, sample_weight=None):
    """Statistics of a hard assignment; rows labelled -1 belong to no component.

    Each component's moments are taken around its own (weighted) mean, so they are
    exact. ``sample_weight`` (n_samples,) weighs the rows; None means unit weights.

    For 'tied', rows of no component still add their uncentred x x^T to s2: scikit-learn
    computes the tied covariance as (X^T X - sum_k N_k m_k m_k^T) / sum_k N_k over all
    rows, so its 'k-means++' and 'random_from_data' seeds (one row per component) start
    from that matrix, and a drop-in must start from the same one.
    """
    n_features = X.shape[1]
    stats = GaussianStats.zeros(np.zeros((n_components, n_features)), covariance_type)
    s2 = np.empty(second_moment_shape(1, n_features, covariance_type))
    for k in range(n_components):
        in_k = labels == k
        rows = X[in_k]
        weight = None if sample_weight is None else sample_weight[in_k]
        if weight is None and len(rows):
            stats.shift[k] = np.mean(rows, axis=0, dtype=np.float64)
        elif weight is not None and weight.sum() > 0:
            stats.shift[k] = weight @ rows.astype(np.float64) / weight.sum()
        sufficient_stats(
            rows,
            weight,
            np.ones((len(rows), 1)),
            stats.shift[k : k + 1],
            covariance_type,
            stats.nk[k : k + 1],
            stats.s1[k : k + 1],
            s2,
        )
        if covariance_type == "tied":
            stats.s2 += s2
        else:
            stats.s2[k] = s2[0]
    if covariance_type == "tied":
        for start in range(0, X.shape[0], _INIT_CHUNK_ROWS):
            chunk = slice(start, start + _INIT_CHUNK_ROWS)
            unassigned = labels[chunk] < 0
            rows = X[chunk][unassigned].astype(np.float64)
            if sample_weight is None:
                stats.s2 += rows.T @ rows
            else:
                weight = sample_weight[chunk][unassigned]
                stats.s2 += (rows * weight[:, np.newaxis]).T @ rows
    return stats


def stats_from_resp_chunks(
    X, resp_chunks, n_components, covariance_type, sample_weight=None
):
    """Statistics of responsibilities given chunk by chunk (scikit-learn's 'random'
    initialisation), without an n_samples x K array.

    Moments are taken around the data's mean, where every component of such a start
    sits. Each row's responsibilities are weighted by ``sample_weight`` (None: unit
    weights).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    resp_chunks : iterable of (slice, ndarray of shape (rows, K))
        The responsibilities of the rows of each slice, the slices in order.
    n_components : int
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    sample_weight : ndarray of shape (n_samples,) or None
    """
    shift = np.broadcast_to(
        np.mean(X, axis=0, dtype=np.float64), (n_components, X.shape[1])
    )
    total = GaussianStats.zeros(shift, covariance_type)
    chunk = GaussianStats.empty(shift, covariance_type)
    for rows, resp in resp_chunks:
        weight = None if sample_weight is None else sample_weight[rows]
        sufficient_stats(
            X[rows],
            weight,
            resp,
            chunk.shift,
            covariance_type,
            chunk.nk,
            chunk.s1,
            chunk.s2,
        )
        total += chunk
    return total


# --- data at extreme scales -------------------------------------------------

# Data whose largest magnitude lies beyond 2**+-_RESCALE_EXPONENT is fitted on a copy
# scaled by an exact power of two (see :func:`scale_exponent`).
_RESCALE_EXPONENT = 100


def scale_exponent(largest, dtype):
    """e such that X * 2**-e has its largest magnitude in [0.5, 1), or 0, for data X
    of ``dtype`` whose largest magnitude is ``largest`` (see the sources'
    ``largest_magnitude``).

    Returns 0 for data whose largest magnitude lies within 2**+-100: it is fitted as it
    is, exactly as scikit-learn does. Beyond, squared sums over many rows overflow
    (|x| ~ 1e150) or reg_covar swamps the data's variance (|x| ~ 1e-150), so EM runs on
    X * 2**-e (exact) and the parameters are scaled back.

    Raises
    ------
    ValueError
        If the covariances or precisions of such data cannot be represented in X's
        dtype (|x| beyond about 2**+-508 in float64, 2**+-60 in float32).
    """
    if largest == 0.0:
        return 0
    exponent = math.frexp(largest)[1]
    limit = 508 if dtype == np.float64 else 60
    if abs(exponent) > limit:
        raise ValueError(
            f"The largest magnitude in X is {largest:.3g}: the covariances and "
            f"precisions of data at this scale cannot be represented in {dtype}. "
            + ("Convert X to float64." if dtype == np.float32 else "Rescale X.")
        )
    return exponent if abs(exponent) > _RESCALE_EXPONENT else 0
