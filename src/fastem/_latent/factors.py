"""Continuous factors: probabilistic PCA and factor analysis, fitted by EM on the
observed entries of each row.

The model of a row x of d features is x = W z + mu + e, with q factors
z ~ N(0, I_q) and noise e ~ N(0, Psi), Psi = diag(psi) (factor analysis) or
sigma^2 I (probabilistic PCA). Rows may miss any entries (NaN in dense rows,
entries not stored in CSR rows): row i observes the set O_i, and everything is
conditioned on x_O alone.

E-step, row by row: M_i = I + W_O^T Psi_O^-1 W_O (q x q), its Cholesky factor,
the posterior z_i | x_O ~ N(m_i, M_i^-1) with m_i = M_i^-1 W_O^T Psi_O^-1 (x_O - mu_O),
and the log-density of x_O,

    log p(x_O) = -1/2 [o log 2 pi + log |Psi_O| + log |M_i|
                       + r^T Psi_O^-1 r - b^T m_i],    r = x_O - mu_O,  b = M_i m_i

(the matrix determinant lemma and Woodbury's identity on W_O W_O^T + Psi_O).

M-step, feature by feature: with z~ = (z, 1), the loadings and the mean of feature j
together, theta_j = (w_j, delta_j), solve (B_j + lambda_j D) theta_j = a_j, where
over the rows i that observe j, a_j = sum w_i r_ij E[z~_i], B_j = sum w_i E[z~_i
z~_i^T], residuals r_ij taken around the current mean (the statistics' ``shift``,
so data far from the origin stays exact), D = diag(1, ..., 1, 0) and lambda_j =
alpha psi_j the Gaussian prior W_jk ~ N(0, 1 / alpha) (a ridge on W, none on mu).
Then psi_j = (sum w_i r_ij^2 - 2 theta_j^T a_j + theta_j^T B_j theta_j) / n_j, or
sigma^2 the same sums over every feature divided by sum_j n_j. With a prior this is
an ECM step (theta given the old noise, then the noise given theta): each step
raises the log posterior, as an EM step the log-likelihood.

Statistics are O(d q^2) whatever the number of rows and add over rows, chunks,
threads and machines. The kernels (``_kernels/_lowrank.pyx``, twin
``_kernels/_reference/lowrank.py``) make them in one pass, O(nnz q^2 + n q^3).
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import linalg
from sklearn.utils.extmath import randomized_svd

from .._engine.model import FrozenModel
from .._engine.stats import Stats
from .._kernels import get_backend
from .._kernels._lowrank_checks import packed_length, record_length

LOG_2PI = float(np.log(2.0 * np.pi))

# Noise variances are kept at or above this fraction of the mean variance of the
# observed entries of a feature: a feature a few rows observe could otherwise be fit
# exactly, its variance and the likelihood running to 0 and infinity.
NOISE_FLOOR = 1e-6

# Rows per chunk of the NumPy maths that hold (rows, q, q) arrays.
POSTERIOR_CHUNK_ROWS = 4096


# --- packed symmetric matrices -----------------------------------------------------


def packed_indices(n_components):
    """Row and column indices of the packed upper triangle of a (q + 1) x (q + 1)
    matrix, row by row: entry (a, b), a <= b, is at a (2 (q + 1) - a + 1) / 2 + b - a.
    """
    return np.triu_indices(n_components + 1)


def unpack(packed, n_components):
    """(..., P) packed upper triangles -> (..., q + 1, q + 1) symmetric matrices."""
    rows, cols = packed_indices(n_components)
    size = n_components + 1
    full = np.empty(packed.shape[:-1] + (size, size))
    full[..., rows, cols] = packed
    full[..., cols, rows] = packed
    return full


def pack(full):
    """(..., q + 1, q + 1) symmetric matrices -> (..., P) packed upper triangles."""
    rows, cols = packed_indices(full.shape[-1] - 1)
    return full[..., rows, cols]


# --- statistics ----------------------------------------------------------------------


@dataclass
class LowRankStats(Stats):
    """The M-step's sums of a factor model, per feature, in the frame of ``shift``.

    For feature j, over the rows i that observe it, with weights w_i, residuals
    r_ij = x_ij - shift_j and z~_i = (z_i, 1):

    - ``per_feature[j, :q + 1]`` = sum w_i r_ij E[z~_i];
    - ``per_feature[j, q + 1:-1]`` + ``shared`` = sum w_i E[z~_i z~_i^T] (packed
      upper triangle, P = (q + 1)(q + 2) / 2 entries; its last one is n_j = sum
      w_i). How the sum is split is the kernel's choice: a dense row that observes
      at least half the features adds its E[z~ z~^T] to ``shared`` once and takes it
      off the features it misses; any other row adds it to the features it observes;
    - ``per_feature[j, -1]`` = sum w_i r_ij^2.

    Attributes
    ----------
    shift : ndarray of shape (n_features,)
        The mean the residuals are taken around (the frame: statistics add only
        within one).
    per_feature : ndarray of shape (n_features, q + 1 + P + 1)
    shared : ndarray of shape (P,)
    log_likelihood : float
    """

    shift: np.ndarray
    per_feature: np.ndarray
    shared: np.ndarray
    log_likelihood: float = 0.0

    _sums = ("per_feature", "shared")
    _frame = ("shift",)

    @classmethod
    def zeros(cls, shift, n_components):
        d = shift.shape[0]
        return cls(
            shift,
            np.zeros((d, record_length(n_components))),
            np.zeros(packed_length(n_components)),
        )

    @property
    def n_components(self):
        """q, from P = (q + 1)(q + 2) / 2 entries of ``shared``."""
        return int(round((np.sqrt(8 * self.shared.shape[0] + 1) - 3) / 2))

    def moments(self):
        """(a, B, xx): a (d, q + 1) = sum w r E[z~], B (d, q + 1, q + 1) = sum w
        E[z~ z~^T] and xx (d,) = sum w r^2, each over the rows observing j."""
        q = self.n_components
        P = packed_length(q)
        a = self.per_feature[:, : q + 1]
        B = unpack(self.per_feature[:, q + 1 : q + 1 + P] + self.shared, q)
        return a, B, self.per_feature[:, -1]


# --- the model frozen for a pass -----------------------------------------------------


@dataclass(frozen=True, eq=False)
class FrozenLowRank(FrozenModel):
    """A factor model as the kernels read it, for one pass.

    It has no discrete component: ``score`` gives, in place of responsibilities,
    the posterior means E[z | x_O] of the factors (``n_outputs`` = q columns), and
    no labels.

    Attributes
    ----------
    loadings : ndarray of shape (n_features, q), float64, C-contiguous
        W (``components_`` transposed).
    mean : ndarray of shape (n_features,), float64
    noise_variance : ndarray of shape (n_features,), float64
        psi_j (sigma^2 in every entry for probabilistic PCA).
    """

    loadings: np.ndarray
    mean: np.ndarray
    noise_variance: np.ndarray

    @classmethod
    def of(cls, loadings, mean, noise_variance):
        """The kernels' layout of W (d, q), mu (d,) and psi (d,)."""
        return cls(
            np.ascontiguousarray(loadings, dtype=np.float64),
            np.ascontiguousarray(mean, dtype=np.float64),
            np.ascontiguousarray(noise_variance, dtype=np.float64),
        )

    @property
    def n_outputs(self):
        return self.loadings.shape[1]

    @property
    def work_per_row(self):
        # A row observing every feature: ~1.5 q^2 multiply-adds per entry, in units
        # of a (row, component) pair of a Gaussian mixture at small d (~8).
        d, q = self.loadings.shape
        return max(1, d * q * q // 8)

    def zero_stats(self):
        return LowRankStats.zeros(self.mean, self.loadings.shape[1])

    def accumulate(self, X, sample_weight, n_threads):
        stats = self.zero_stats()
        stats.log_likelihood = get_backend().lowrank.accumulate(
            X,
            sample_weight,
            self.loadings,
            self.mean,
            self.noise_variance,
            n_threads,
            stats.per_feature,
            stats.shared,
        )
        return stats

    def score(self, X, n_threads, log_prob, resp, labels):
        """log p(x_O) and E[z | x_O] (into ``resp``); a factor model has no
        labels."""
        if labels is not None:
            raise TypeError("a factor model has no discrete components to label")
        get_backend().lowrank.score(
            X,
            self.loadings,
            self.mean,
            self.noise_variance,
            n_threads,
            log_prob,
            resp,
        )


# --- the rows' posteriors in NumPy ----------------------------------------------------


def observed_residuals(X, mean):
    """The residuals x - mean at the observed entries, 0 elsewhere, and where X is
    observed.

    Parameters
    ----------
    X : ndarray of shape (n, d) (NaN missing) or scipy.sparse CSR (stored entries
        observed)
    mean : ndarray of shape (d,)

    Returns
    -------
    residuals : ndarray (n, d) float64, or CSR float64 of X's pattern
    observed : ndarray (n, d) bool, or CSR float64 of ones in X's pattern
    """
    if sp.issparse(X):
        X = sp.csr_array(X)
        stored = X.indices[X.indptr[0] : X.indptr[-1]]
        if np.any(stored < 0) or np.any(stored >= X.shape[1]):
            raise ValueError("X.indices has a column index outside [0, n_features)")
        residuals = sp.csr_array(
            (
                X.data.astype(np.float64) - mean[X.indices],
                X.indices.copy(),
                X.indptr.copy(),
            ),
            shape=X.shape,
        )
        observed = sp.csr_array(
            (np.ones(len(X.data)), X.indices.copy(), X.indptr.copy()), shape=X.shape
        )
        return residuals, observed
    values = np.asarray(X, dtype=np.float64)
    observed = ~np.isnan(values)
    return np.where(observed, values - mean, 0.0), observed


@dataclass
class RowPosteriors:
    """What the E-step knows of each row (see :func:`row_posteriors`)."""

    residuals: object  # (n, d) ndarray or CSR: x - mu where observed, else 0
    observed: object  # (n, d) bool ndarray or CSR of ones
    n_observed: np.ndarray  # (n,) o_i
    precision: np.ndarray  # (n, q, q) M_i
    means: np.ndarray  # (n, q) m_i = E[z_i | x_O]
    covariances: np.ndarray  # (n, q, q) M_i^-1
    log_prob: np.ndarray  # (n,) log p(x_O)


def row_posteriors(X, loadings, mean, noise_variance):
    """The posterior of each row's factors given its observed entries, and their
    log-density, in NumPy.

    Parameters
    ----------
    X : ndarray of shape (n, d) or CSR
        NaN (dense) or absent entries (CSR) are missing.
    loadings : ndarray of shape (d, q)
    mean, noise_variance : ndarray of shape (d,)

    Returns
    -------
    RowPosteriors
    """
    d, q = loadings.shape
    residuals, observed = observed_residuals(X, mean)
    scaled = loadings / noise_variance[:, np.newaxis]
    outer = (scaled[:, :, np.newaxis] * loadings[:, np.newaxis, :]).reshape(d, q * q)
    observed_float = observed if sp.issparse(observed) else observed.astype(float)
    precision = np.asarray(observed_float @ outer).reshape(-1, q, q) + np.eye(q)
    projected = np.asarray(residuals @ scaled)
    factor = np.linalg.cholesky(precision)
    means = np.linalg.solve(precision, projected[:, :, np.newaxis])[:, :, 0]
    covariances = np.linalg.inv(precision)
    log_det = 2.0 * np.sum(np.log(np.diagonal(factor, axis1=1, axis2=2)), axis=1)
    squares = residuals.multiply(residuals) if sp.issparse(residuals) else residuals**2
    quadratic = np.asarray(squares @ (1.0 / noise_variance)).reshape(-1)
    quadratic -= np.sum(projected * means, axis=1)
    n_observed = np.asarray(observed_float.sum(axis=1)).reshape(-1)
    log_noise = np.asarray(observed_float @ np.log(noise_variance)).reshape(-1)
    log_prob = -0.5 * (n_observed * LOG_2PI + log_noise + log_det + quadratic)
    return RowPosteriors(
        residuals,
        observed,
        n_observed,
        precision,
        means,
        covariances,
        log_prob,
    )


def draw_factors(posteriors, random_state):
    """One draw of each row's factors from N(m_i, M_i^-1), (n, q)."""
    noise = random_state.standard_normal(posteriors.means.shape)
    # M = L L^T, so L^-T e ~ N(0, M^-1) for e ~ N(0, I).
    factor = np.linalg.cholesky(posteriors.precision)
    shifts = np.linalg.solve(np.swapaxes(factor, 1, 2), noise[:, :, np.newaxis])
    return posteriors.means + shifts[:, :, 0]


# --- M-step, prior, parameters -------------------------------------------------------


def maximize(stats, previous, alpha, isotropic, floor):
    """Loadings, mean and noise variances from the statistics.

    Parameters
    ----------
    stats : LowRankStats
    previous : (loadings (d, q), mean (d,), noise_variance (d,))
        The parameters the statistics were taken at: the ridge of the prior
        weighs against their noise (ECM), and a feature no row observes keeps
        them.
    alpha : float
        Precision of the Gaussian prior on each loading (0: maximum likelihood).
    isotropic : bool
        One noise variance for every feature (probabilistic PCA).
    floor : ndarray of shape (d,) or float
        The least noise variance.

    Returns
    -------
    loadings : ndarray of shape (d, q)
    mean, noise_variance : ndarray of shape (d,)
    """
    old_loadings, old_mean, old_noise = previous
    d, q = old_loadings.shape
    a, B, xx = stats.moments()
    n_obs = B[:, q, q]
    seen = n_obs > 0.0
    system = B.copy()
    if alpha > 0.0:
        ridge = alpha * old_noise
        system[:, np.arange(q), np.arange(q)] += ridge[:, np.newaxis]
    system[~seen] = np.eye(q + 1)
    theta = np.linalg.solve(system, np.where(seen[:, np.newaxis], a, 0.0)[..., None])
    theta = theta[..., 0]
    residual = (
        xx
        - 2.0 * np.sum(theta * a, axis=1)
        + np.einsum("di,dij,dj->d", theta, B, theta)
    )
    residual = np.maximum(residual, 0.0)
    loadings = np.where(seen[:, np.newaxis], theta[:, :q], old_loadings)
    mean = np.where(seen, stats.shift + theta[:, q], old_mean)
    if isotropic:
        total = float(np.sum(n_obs[seen]))
        variance = float(np.sum(residual[seen])) / total if total > 0 else old_noise[0]
        noise = np.full(d, max(variance, float(np.max(floor))))
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            noise = np.where(seen, residual / np.where(seen, n_obs, 1.0), old_noise)
        noise = np.maximum(noise, floor)
    return loadings, mean, noise


def log_prior(loadings, alpha):
    """log density of the prior W_jk ~ N(0, 1 / alpha) (0 without a prior)."""
    if alpha == 0:
        return 0.0
    return float(
        -0.5 * alpha * np.sum(loadings * loadings)
        + 0.5 * loadings.size * np.log(alpha / (2.0 * np.pi))
    )


def n_parameters(n_features, n_components, isotropic):
    """Free parameters: the loadings up to a rotation, the mean and the noise."""
    loadings = n_features * n_components - n_components * (n_components - 1) // 2
    return loadings + n_features + (1 if isotropic else n_features)


# --- initial parameters ---------------------------------------------------------------


def column_moments(X, sample_weight):
    """Weighted count, mean and variance of each feature's observed entries.

    Returns
    -------
    counts, means, variances : ndarray of shape (d,)
        A feature no row observes gets count 0, the mean and the mean variance of
        every observed entry.
    """
    n, d = X.shape
    weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight)
    if sp.issparse(X):
        X = sp.csr_array(X)
        row_weight = np.repeat(weight, np.diff(X.indptr))
        values = X.data.astype(np.float64)
        counts = np.bincount(X.indices, row_weight, minlength=d)
        sums = np.bincount(X.indices, row_weight * values, minlength=d)
    else:
        observed = ~np.isnan(X)
        values = np.where(observed, X, 0.0).astype(np.float64)
        counts = weight @ observed
        sums = weight @ values
    seen = counts > 0
    overall = sums.sum() / max(counts.sum(), np.finfo(float).tiny)
    means = np.where(seen, sums / np.where(seen, counts, 1.0), overall)
    residuals, _ = observed_residuals(X, means)
    squares = residuals.multiply(residuals) if sp.issparse(residuals) else residuals**2
    square_sums = np.asarray(weight @ squares).reshape(-1)
    variances = np.where(seen, square_sums / np.where(seen, counts, 1.0), 0.0)
    mean_variance = float(np.sum(variances[seen]) / max(np.count_nonzero(seen), 1))
    variances = np.where(seen, variances, mean_variance)
    return counts, means, variances


def initial_parameters(
    X,
    sample_weight,
    n_components,
    *,
    isotropic,
    random_state,
    svd_method="randomized",
    iterated_power=3,
):
    """A start from the principal components of the observed entries.

    The residuals of the observed entries around their features' means, missing
    ones as 0 (sparse rows stay sparse), are decomposed by a truncated SVD; the
    eigenvalues of the covariance are estimated as the squared singular values over
    the observed weight, the noise variance as the mean of the rest of the total
    variance (Tipping & Bishop's maximum-likelihood solution on complete data) and
    the loadings as the eigenvectors scaled by sqrt(eigenvalue - noise).

    Parameters
    ----------
    X : ndarray (NaN missing) or CSR of shape (n, d)
    sample_weight : ndarray of shape (n,) or None
    n_components : int
    isotropic : bool
    random_state : numpy.random.RandomState
    svd_method : {'randomized', 'lapack'}
    iterated_power : int
        Power iterations of the randomized SVD.

    Returns
    -------
    loadings : ndarray (d, q)
    mean, noise_variance : ndarray (d,)
    scale : float
        The mean variance of the features' observed entries (the scale of the noise
        floor).
    """
    n, d = X.shape
    q = n_components
    counts, means, variances = column_moments(X, sample_weight)
    scale = float(np.mean(variances)) if d else 1.0
    if not scale > 0.0:
        scale = 1.0
    residuals, _ = observed_residuals(X, means)
    if sample_weight is not None:
        root = np.sqrt(np.asarray(sample_weight, dtype=np.float64))
        residuals = (
            sp.csr_array(sp.diags_array(root) @ residuals)
            if sp.issparse(residuals)
            else residuals * root[:, np.newaxis]
        )
    if svd_method == "lapack":
        dense = residuals.toarray() if sp.issparse(residuals) else residuals
        _, singular, vt = linalg.svd(dense, full_matrices=False)
        singular, vt = singular[:q], vt[:q]
    else:
        _, singular, vt = randomized_svd(
            residuals, q, n_iter=iterated_power, random_state=random_state
        )
    # Signs fixed by the loadings alone (the largest of each factor positive), not by
    # the rows: weighted rows and repeated rows start alike.
    largest = np.argmax(np.abs(vt), axis=1)
    vt = vt * np.where(vt[np.arange(len(vt)), largest] < 0, -1.0, 1.0)[:, np.newaxis]
    total_weight = float(np.sum(sample_weight)) if sample_weight is not None else n
    fraction = float(np.sum(counts)) / max(total_weight * d, np.finfo(float).tiny)
    eigenvalues = singular**2 / max(total_weight * fraction, np.finfo(float).tiny)
    floor = NOISE_FLOOR * scale
    rest = (float(np.sum(variances)) - float(np.sum(eigenvalues))) / max(d - q, 1)
    sigma2 = max(rest, floor, 1e-3 * scale)
    strength = np.sqrt(np.maximum(eigenvalues - sigma2, 1e-3 * sigma2))
    loadings = np.zeros((d, q))
    loadings[:, : len(strength)] = vt.T * strength
    if isotropic:
        noise = np.full(d, sigma2)
    else:
        communality = np.sum(loadings**2, axis=1)
        noise = np.maximum(variances - communality, np.maximum(0.1 * variances, floor))
    loadings[counts <= 0] = 0.0
    return loadings, means, noise, scale
