"""Conjugate priors for MAP estimation of Gaussian mixtures.

:class:`GaussianPrior` is what the user writes (hyperparameters, ``None`` meaning the
data-dependent default); :class:`ResolvedPrior` is the same prior made numeric for one
fit: the pseudo-statistics the M-step adds and the log prior density the lower bound
adds.
"""

import math
from dataclasses import dataclass, fields

import numpy as np
from scipy.special import gammaln, multigammaln

from . import gaussian as gm


@dataclass(frozen=True, eq=False)
class GaussianPrior:
    """Conjugate prior of a Gaussian mixture, for maximum a posteriori (MAP) EM.

    Pass it (or ``"default"``, or a dict of these fields) as ``prior=`` to
    :class:`fastem.GaussianMixture`. EM then maximises the log posterior
    ``log p(X | theta) + log p(theta)``: each M-step returns the posterior mode given
    the responsibilities, which keeps covariances positive definite even for a
    component holding one point, duplicates, or fewer points than features.

    The prior, for K components in d dimensions (Fraley & Raftery 2007, "Bayesian
    regularization for normal mixture estimation and model-based clustering", J.
    Classification 24:155-181; mclust's ``priorControl()`` / ``defaultPrior``):

    - weights ~ Dirichlet(alpha, ..., alpha);
    - full: Sigma_k ~ inverse-Wishart(nu, Lambda), density proportional to
      ``|Sigma|^(-(nu + d + 1)/2) exp(-tr(Lambda Sigma^-1)/2)``, and
      mu_k | Sigma_k ~ Normal(mu_0, Sigma_k / kappa);
    - tied: one Sigma ~ inverse-Wishart(nu, Lambda) shared by all components,
      mu_k | Sigma ~ Normal(mu_0, Sigma / kappa) for each k;
    - diag: each variance sigma2_kj ~ inverse-gamma(nu/2, lambda_j/2), density
      proportional to ``sigma2^(-(nu/2 + 1)) exp(-lambda_j/(2 sigma2))``, and
      mu_kj | sigma2_kj ~ Normal(mu_0j, sigma2_kj / kappa);
    - spherical: sigma2_k ~ inverse-gamma(nu/2, lambda/2),
      mu_k | sigma2_k ~ Normal(mu_0, sigma2_k I / kappa).

    With W_k = sum_n r_nk (x_n - m_k)(x_n - m_k)^T the scatter around the new mean,
    e_k = m_k - mu_0 and N_k = sum_n r_nk, the M-step's posterior mode is
    m_k = (N_k xbar_k + kappa mu_0) / (N_k + kappa), weights proportional to
    N_k + alpha - 1 and

    - full: Sigma_k = (Lambda + W_k + kappa e_k e_k^T) / (nu + N_k + d + 2);
    - tied: Sigma = (Lambda + sum_k W_k + kappa e_k e_k^T) / (nu + N + K + d + 1);
    - diag: sigma2_kj = (lambda_j + W_kjj + kappa e_kj^2) / (nu + N_k + 3);
    - spherical: sigma2_k = (lambda + tr W_k + kappa e_k^T e_k)
      / (nu + (N_k + 1) d + 2).

    ``reg_covar`` is still added to the diagonal of the mode (set it to 0 for the exact
    posterior mode; the prior alone keeps covariances positive definite).

    Parameters
    ----------
    weight_concentration : float, default=1.0
        Dirichlet concentration alpha >= 1 (1: flat on the simplex, as in mclust).
    mean_prior : array-like of shape (n_features,), default=None
        mu_0; None: the mean of the training data (weighted by ``sample_weight``,
        with missing values replaced by their column's mean).
    mean_precision : float, default=0.01
        kappa > 0, the shrinkage of the means towards mu_0 (mclust's ``shrinkage``),
        in units of data points.
    degrees_of_freedom : float, default=None
        nu; None: n_features + 2 (mclust's ``dof``). The prior is proper for
        nu > n_features - 1 (full, tied) or nu > 0 (diag, spherical). Smaller values,
        down to (excluded) the flat limits -(d + 2) (full, spherical), -(d + K + 1)
        (tied) and -3 (diag), give improper priors whose mode formulas above still
        hold; with kappa -> 0, Lambda -> 0 and alpha = 1 they tend to maximum
        likelihood.
    covariance_prior : float or array-like, default=None
        The scale: Lambda (n_features, n_features) for full and tied, lambda
        (n_features,) for diag, a float lambda for spherical. None: mclust's
        default, the data's covariance (``ddof=1``, as R's ``var``; weighted, the
        weighted covariance times n / (n - 1) for n rows) divided by
        K^(2/d) for full and tied, and its mean variance divided by K^(2/d) for
        spherical and for every coordinate of diag. Must be positive semi-definite
        (non-negative).

    Examples
    --------
    Three distinct rows, each repeated: maximum likelihood with ``reg_covar=0``
    collapses each component's covariance to zero (a ``ValueError``); the prior
    keeps them positive definite.

    >>> import numpy as np
    >>> from fastem import GaussianMixture, GaussianPrior
    >>> X = np.repeat([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], 10, axis=0)
    >>> prior = GaussianPrior(mean_precision=0.1, degrees_of_freedom=4)
    >>> model = GaussianMixture(3, prior=prior, reg_covar=0, random_state=0).fit(X)
    >>> bool(np.all(np.linalg.eigvalsh(model.covariances_) > 0))
    True
    >>> model = GaussianMixture(3, prior="default", reg_covar=0).fit(X)  # mclust's
    """

    weight_concentration: float = 1.0
    mean_prior: object = None
    mean_precision: float = 0.01
    degrees_of_freedom: float = None
    covariance_prior: object = None

    def __eq__(self, other):
        """Equal hyperparameters (arrays compared element by element)."""
        if not isinstance(other, GaussianPrior):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, field.name), getattr(other, field.name))
            for field in fields(self)
        )

    __hash__ = None

    def resolve(
        self, n_features, n_components, covariance_type, data_moments, scale_exponent=0
    ):
        """The numeric prior for fitting data already scaled by 2**-scale_exponent.

        Parameters
        ----------
        n_features : int
            The number of features of the data.
        n_components : int
            The number of mixture components.
        covariance_type : {'full', 'tied', 'diag', 'spherical'}
        data_moments : callable
            Returns the mean (n_features,) and covariance (n_features, n_features) of
            the data EM runs on; called only when a default needs them (it may read
            all the data).
        scale_exponent : int, default=0
            The data is the user's times 2**-scale_exponent; user-given mean_prior and
            covariance_prior are in the user's units and are scaled the same way.

        Returns
        -------
        ResolvedPrior
            The hyperparameters as numbers and arrays, defaults filled in.

        Raises
        ------
        ValueError
            For a hyperparameter out of its range (see the class's Parameters).
        """
        alpha = _finite_float(self.weight_concentration, "weight_concentration")
        if alpha < 1.0:
            raise ValueError(
                f"weight_concentration must be >= 1 (got {alpha}): below 1 the "
                "Dirichlet density has no mode inside the simplex"
            )
        kappa = _finite_float(self.mean_precision, "mean_precision")
        if kappa <= 0.0:
            raise ValueError(f"mean_precision must be > 0 (got {kappa})")
        need_moments = self.mean_prior is None or self.covariance_prior is None
        if need_moments:
            data_mean, data_covariance = data_moments()
        if self.mean_prior is None:
            mean = data_mean
        else:
            mean = _finite_array(self.mean_prior, (n_features,), "mean_prior")
            mean = np.ldexp(mean, -scale_exponent)
        if self.degrees_of_freedom is None:
            nu = n_features + 2.0
        else:
            nu = _finite_float(self.degrees_of_freedom, "degrees_of_freedom")
        flat = flat_degrees_of_freedom(covariance_type, n_features, n_components)
        if nu <= flat:
            raise ValueError(
                f"degrees_of_freedom must be > {flat:g} for covariance_type="
                f"'{covariance_type}' with {n_features} features (got {nu})"
            )
        if self.covariance_prior is None:
            scale = _default_scale(data_covariance, n_components, covariance_type)
        else:
            shape = _scale_shape(n_features, covariance_type)
            scale = _finite_array(self.covariance_prior, shape, "covariance_prior")
            scale = np.ldexp(scale, -2 * scale_exponent)
            _check_positive_semidefinite(scale, covariance_type)
        return ResolvedPrior(
            covariance_type, alpha, mean, kappa, nu, scale, n_components
        )


def as_gaussian_prior(prior):
    """The GaussianPrior that ``prior=`` stands for, or None for maximum likelihood.

    Parameters
    ----------
    prior : None, 'default', GaussianPrior or dict
    """
    if prior is None or isinstance(prior, GaussianPrior):
        return prior
    if isinstance(prior, str):  # the parameter constraints allow only "default"
        return GaussianPrior()
    unknown = set(prior) - {field.name for field in fields(GaussianPrior)}
    if unknown:
        raise ValueError(
            f"Unknown GaussianPrior fields in prior: {sorted(unknown)}; expected "
            f"{[field.name for field in fields(GaussianPrior)]}"
        )
    return GaussianPrior(**prior)


def flat_degrees_of_freedom(covariance_type, n_features, n_components):
    """The flat limit of nu: degrees_of_freedom must lie above it (see
    :class:`GaussianPrior`), and near it, with the other hyperparameters vanishing,
    the posterior mode tends to maximum likelihood."""
    return {
        "full": -(n_features + 2.0),
        "tied": -(n_features + n_components + 1.0),
        "diag": -3.0,
        "spherical": -(n_features + 2.0),
    }[covariance_type]


def _scale_shape(n_features, covariance_type):
    """Shape of covariance_prior: one covariance in the layout of the type."""
    return {
        "full": (n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_features,),
        "spherical": (),
    }[covariance_type]


def _finite_float(value, name):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number}")
    return number


def _finite_array(value, shape, name):
    array = np.array(value, dtype=np.float64)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite")
    return array


def _check_positive_semidefinite(scale, covariance_type):
    if covariance_type in ("full", "tied"):
        if not np.allclose(scale, scale.T, rtol=1e-12, atol=0.0):
            raise ValueError("covariance_prior must be symmetric")
        eigenvalues = np.linalg.eigvalsh(scale)
        if eigenvalues[0] < -1e-12 * max(eigenvalues[-1], 0.0):
            raise ValueError("covariance_prior must be positive semi-definite")
    elif np.any(scale < 0.0):
        raise ValueError("covariance_prior must be non-negative")


def _default_scale(data_covariance, n_components, covariance_type):
    """mclust's defaultPrior scale: var(data) / K^(2/d), shaped for the type."""
    n_features = data_covariance.shape[0]
    factor = n_components ** (-2.0 / n_features)
    if covariance_type in ("full", "tied"):
        return data_covariance * factor
    mean_variance = np.trace(data_covariance) / n_features * factor
    if covariance_type == "diag":
        return np.full(n_features, mean_variance)
    return mean_variance


@dataclass(frozen=True)
class ResolvedPrior:
    """A conjugate prior with numeric hyperparameters (see :class:`GaussianPrior`)."""

    covariance_type: str
    weight_concentration: float
    mean: np.ndarray
    mean_precision: float
    degrees_of_freedom: float
    scale: np.ndarray
    n_components: int

    @property
    def is_proper(self):
        """Whether the density integrates to one (then its normaliser is included)."""
        if self.covariance_type in ("full", "tied"):
            sign, log_det = np.linalg.slogdet(self.scale)
            return bool(
                self.degrees_of_freedom > self.scale.shape[0] - 1
                and sign > 0.0
                and np.isfinite(log_det)
            )
        return self.degrees_of_freedom > 0.0 and bool(np.all(self.scale > 0.0))

    # --- M-step pieces ------------------------------------------------------------

    def pseudo_scatter(self, means):
        """What the prior adds to each scatter W_k: Lambda + kappa e_k e_k^T."""
        deviation = means - self.mean
        kappa = self.mean_precision
        if self.covariance_type == "full":
            return self.scale + kappa * np.einsum("ki,kj->kij", deviation, deviation)
        if self.covariance_type == "tied":
            return self.scale + kappa * deviation.T @ deviation
        if self.covariance_type == "diag":
            return self.scale + kappa * deviation**2
        return self.scale + kappa * np.sum(deviation**2, axis=1)

    def covariance_denominator(self, mass):
        """The posterior mode's divisor of each (pseudo-augmented) scatter."""
        n_features = self.mean.shape[0]
        nu = self.degrees_of_freedom
        if self.covariance_type == "full":
            return nu + mass + n_features + 2.0
        if self.covariance_type == "tied":
            return nu + mass.sum() + self.n_components + n_features + 1.0
        if self.covariance_type == "diag":
            return nu + mass + 3.0
        return nu + (mass + 1.0) * n_features + 2.0

    # --- log density ----------------------------------------------------------------

    def log_density(self, weights, means, precisions_chol):
        """log p(weights, means, covariances), covariances given by their factors.

        The normalising constant is included when the prior is proper, left out
        otherwise (an improper density has none).

        Parameters
        ----------
        weights : ndarray of shape (K,)
        means : ndarray of shape (K, d)
        precisions_chol : ndarray
            Upper factors U with U U^T = Sigma^-1 (scikit-learn's layout).

        Returns
        -------
        float
        """
        n_components, n_features = means.shape
        alpha, kappa = self.weight_concentration, self.mean_precision
        nu, scale = self.degrees_of_freedom, self.scale
        total = 0.0
        if alpha != 1.0:
            total += (alpha - 1.0) * np.sum(np.log(weights))
        log_det_precision = 2.0 * gm.log_det_cholesky(
            precisions_chol, self.covariance_type, n_features
        )
        deviation = means - self.mean
        if self.covariance_type == "full":
            whitened = np.einsum("ki,kij->kj", deviation, precisions_chol)
            trace = np.einsum("ij,kjl,kil->", scale, precisions_chol, precisions_chol)
            total += (
                0.5 * (nu + n_features + 2.0) * np.sum(log_det_precision)
                - 0.5 * kappa * np.sum(whitened**2)
                - 0.5 * trace
            )
        elif self.covariance_type == "tied":
            whitened = deviation @ precisions_chol
            trace = np.sum(scale @ precisions_chol * precisions_chol)
            total += (
                0.5 * (nu + n_features + 1.0 + n_components) * log_det_precision
                - 0.5 * kappa * np.sum(whitened**2)
                - 0.5 * trace
            )
        elif self.covariance_type == "diag":
            precisions = precisions_chol**2
            total += np.sum(
                0.5 * (nu + 3.0) * np.log(precisions)
                - 0.5 * (scale + kappa * deviation**2) * precisions
            )
        else:
            precisions = precisions_chol**2
            total += np.sum(
                0.5 * (nu + 2.0 + n_features) * np.log(precisions)
                - 0.5 * (scale + kappa * np.sum(deviation**2, axis=1)) * precisions
            )
        if self.is_proper:
            total += self._log_normalizer(n_components, n_features)
        return float(total)

    def _log_normalizer(self, n_components, n_features):
        """log of the constant that makes the proper density integrate to one."""
        alpha, kappa = self.weight_concentration, self.mean_precision
        nu, scale = self.degrees_of_freedom, self.scale
        log_2pi, log_2 = math.log(2.0 * math.pi), math.log(2.0)
        dirichlet = gammaln(n_components * alpha) - n_components * gammaln(alpha)
        # One Normal(mu_0, Sigma / kappa) per component, without its |Sigma| term.
        normal = n_components * 0.5 * n_features * (math.log(kappa) - log_2pi)
        if self.covariance_type in ("full", "tied"):
            inverse_wishart = (
                0.5 * nu * np.linalg.slogdet(scale)[1]
                - 0.5 * nu * n_features * log_2
                - multigammaln(0.5 * nu, n_features)
            )
            copies = n_components if self.covariance_type == "full" else 1
            return dirichlet + normal + copies * inverse_wishart
        inverse_gamma = np.sum(0.5 * nu * np.log(0.5 * scale) - gammaln(0.5 * nu))
        return dirichlet + normal + n_components * inverse_gamma
