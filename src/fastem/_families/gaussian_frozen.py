"""A Gaussian mixture's parameters frozen for the kernels, and its marginals for rows
with missing values.

:class:`FrozenGaussianMixture` is what the engine's sources run over the rows: the
fused E-step (``fastem._kernels._gaussian``) and scoring. Rows with NaN are handled
one missingness pattern at a time (``fastem._engine.patterns``). For a pattern with
observed columns O and missing columns M, component k's marginal on O is
N(mu_O, Sigma_OO): the unchanged kernels run on the gathered observed block with
those marginal parameters, and give the responsibilities, the observed-data
log-likelihood and the statistics N_k, S1^O_k, S2^O_k around mu_O. Since

    E[x | x_O, k] - mu_k = E_k (x_O - mu_O),   E_k = [I on O; B_k^T on M],
    B_k = Sigma_OO^{-1} Sigma_OM,   Cov[x_M | x_O, k] = C_k = Sigma_MM - Sigma_MO B_k,

the pattern's statistics in all d coordinates, around mu_k, are

    S1_k = E_k S1^O_k,   S2_k = E_k S2^O_k E_k^T + N_k C_k (on the M x M block),

so the M-step is unchanged. The extra work is O(patterns x K x d^3), independent of
the number of rows; the kernels stay the speed. For diag and spherical covariances
B_k = 0 and C_k is the diagonal of the missing variances.
"""

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import logsumexp

from .._engine.model import FrozenModel
from .._engine.threads import limit_blas_threads
from .._kernels import get_backend
from . import gaussian as gm
from .gaussian import (
    SINGULAR_COVARIANCE_MESSAGE,
    GaussianStats,
    covariances_from_cholesky,
    log_det_cholesky,
    precision_cholesky,
)


@dataclass(frozen=True, eq=False)
class FrozenGaussianMixture(FrozenModel):
    """A Gaussian mixture's parameters as the kernels read them, for one pass.

    Attributes
    ----------
    means : ndarray of shape (K, d), float64, C-contiguous
        The means, also the shifts the statistics are taken around.
    precisions_chol : ndarray, float64, C-contiguous
        Upper-triangular precision factors: full (K, d, d), tied (d, d), diag (K, d),
        spherical (K,).
    log_norm : ndarray of shape (K,), float64
        log(weight_k) + log|U_k| - d/2 log(2 pi) (see ``gaussian.log_norm``).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    """

    means: np.ndarray
    precisions_chol: np.ndarray
    log_norm: np.ndarray
    covariance_type: str

    @classmethod
    def from_parameters(cls, weights, means, precisions_chol, covariance_type):
        """The kernels' form of weights, means and upper precision factors."""
        means = np.ascontiguousarray(means, dtype=np.float64)
        return cls(
            means,
            precisions_chol,
            gm.log_norm(weights, precisions_chol, covariance_type, means.shape[1]),
            covariance_type,
        )

    @property
    def n_outputs(self):
        return self.means.shape[0]

    @property
    def work_per_row(self):
        return self.means.shape[0]

    def zero_stats(self):
        return GaussianStats.zeros(self.means, self.covariance_type)

    def accumulate(self, X, sample_weight, n_threads):
        stats = GaussianStats.empty(self.means, self.covariance_type)
        stats.log_likelihood = get_backend().gaussian.accumulate(
            X,
            sample_weight,
            stats.shift,
            self.precisions_chol,
            self.log_norm,
            self.covariance_type,
            n_threads,
            stats.nk,
            stats.s1,
            stats.s2,
        )
        return stats

    def score(self, X, n_threads, log_prob, resp, labels):
        get_backend().gaussian.score(
            X,
            self.means,
            self.precisions_chol,
            self.log_norm,
            self.covariance_type,
            n_threads,
            log_prob,
            resp,
            labels,
        )

    def component_log_prob(self, X, n_threads=1):
        out = np.empty((X.shape[0], self.n_outputs))
        get_backend().gaussian.component_log_prob(
            X,
            self.means,
            self.precisions_chol,
            self.log_norm,
            self.covariance_type,
            n_threads,
            out,
        )
        return out

    def stats_given(self, X, resp, sample_weight, n_threads=1):
        stats = GaussianStats.empty(self.means, self.covariance_type)
        get_backend().gaussian.stats_given(
            X,
            sample_weight,
            np.ascontiguousarray(resp, dtype=np.float64),
            stats.shift,
            self.covariance_type,
            n_threads,
            stats.nk,
            stats.s1,
            stats.s2,
        )
        return stats

    def kernel_context(self):
        """BLAS on one thread where the kernels call it from their OpenMP threads
        (else BLAS threads would nest in them); nothing elsewhere, which spares small
        problems the limit's cost (tens of microseconds)."""
        min_features = getattr(get_backend().gaussian, "BLAS_MIN_FEATURES", None)
        if (
            min_features is None
            or self.covariance_type not in ("full", "tied")
            or self.means.shape[1] < min_features
        ):
            return super().kernel_context()
        return limit_blas_threads()

    @cached_property
    def covariances(self):
        """The covariances the precision factors stand for (for marginals)."""
        return covariances_from_cholesky(self.precisions_chol, self.covariance_type)

    def marginal(self, observed, missing):
        return GaussianMarginal.of(self, observed, missing)


@dataclass(frozen=True, eq=False)
class GaussianMarginal(FrozenGaussianMixture):
    """The mixture's marginal on observed columns O, and the conditionals of the
    missing ones M given them (module docstring), for the rows of one pattern.

    Attributes
    ----------
    means, precisions_chol, log_norm, covariance_type
        The marginal in the kernels' form (on the o observed columns).
    full : FrozenGaussianMixture
        The mixture on all columns.
    observed, missing : ndarray of intp
    regression : ndarray of shape (K', o, m) or None
        B_k = Sigma_OO^{-1} Sigma_OM (K' = 1 for tied); None for diag / spherical,
        whose conditional means are the means.
    conditional : ndarray
        Cov[x_M | x_O, k]: (K', m, m) for full / tied, the variances (K, m) for diag
        and spherical.
    """

    full: FrozenGaussianMixture
    observed: np.ndarray
    missing: np.ndarray
    regression: np.ndarray | None
    conditional: np.ndarray

    @classmethod
    def of(cls, model, observed, missing):
        """The marginal of ``model`` on ``observed`` and the conditional of the rest."""
        covariance_type = model.covariance_type
        means, precisions_chol, covariances = (
            model.means,
            model.precisions_chol,
            model.covariances,
        )
        n_features, n_observed = means.shape[1], len(observed)
        regression = None
        if covariance_type in ("full", "tied"):
            stacked = covariances if covariance_type == "full" else covariances[None]
            sigma_oo = stacked[:, observed][:, :, observed]
            sigma_om = stacked[:, observed][:, :, missing]
            factors = precision_cholesky(sigma_oo, "full")  # Sigma_OO^{-1} = U U^T
            regression = factors @ (np.swapaxes(factors, -1, -2) @ sigma_om)
            conditional = (
                stacked[:, missing][:, :, missing]
                - np.swapaxes(sigma_om, -1, -2) @ regression
            )
            factors = np.ascontiguousarray(
                factors if covariance_type == "full" else factors[0]
            )
        elif covariance_type == "diag":
            factors = np.ascontiguousarray(precisions_chol[:, observed])
            conditional = covariances[:, missing]
        else:
            factors = precisions_chol
            conditional = np.repeat(covariances[:, None], len(missing), axis=1)
        # log_norm = log w + log|U| - d/2 log(2 pi): swap in the marginal's terms.
        marginal_log_norm = (
            model.log_norm
            - log_det_cholesky(precisions_chol, covariance_type, n_features)
            + log_det_cholesky(factors, covariance_type, n_observed)
            + 0.5 * (n_features - n_observed) * math.log(2.0 * math.pi)
        )
        return cls(
            np.ascontiguousarray(means[:, observed]),
            factors,
            np.ascontiguousarray(marginal_log_norm, dtype=np.float64),
            covariance_type,
            model,
            observed,
            missing,
            regression,
            conditional,
        )

    def component_log_prob(self, X, n_threads=1):
        if len(self.observed):
            return super().component_log_prob(X, n_threads)
        # Nothing observed: p(x_O | k) = 1 and log_norm is log w_k.
        return np.tile(self.log_norm, (X.shape[0], 1))

    def score(self, X, n_threads, log_prob, resp, labels):
        if len(self.observed):
            super().score(X, n_threads, log_prob, resp, labels)
            return
        # Nothing observed: p(x_O) = 1 and the responsibilities are the weights
        # (log_norm is then log w_k); the label is the heaviest component.
        if log_prob is not None:
            log_prob[:] = 0.0
        if resp is not None:
            resp[:] = np.exp(self.log_norm - logsumexp(self.log_norm))
        if labels is not None:
            labels[:] = np.argmax(self.log_norm)

    def lift(self, observed_stats):
        """Statistics of all columns around the full means, from the kernels'
        statistics of the observed columns around the observed means.

        Parameters
        ----------
        observed_stats : GaussianStats
            Around ``self.means``.

        Returns
        -------
        GaussianStats
            Around ``self.full.means``.
        """
        total = self.full.zero_stats()
        observed, missing = self.observed, self.missing
        nk = observed_stats.nk
        total.nk += nk
        total.log_likelihood += observed_stats.log_likelihood
        covariance_type = self.covariance_type
        if covariance_type in ("full", "tied"):
            n_features = total.s1.shape[1]
            embed = np.zeros((len(self.regression), n_features, len(observed)))
            embed[:, observed, np.arange(len(observed))] = 1.0
            embed[:, missing, :] = np.swapaxes(self.regression, -1, -2)
            mis = np.ix_(missing, missing)
            if covariance_type == "full":
                total.s1 += np.einsum("kdo,ko->kd", embed, observed_stats.s1)
                total.s2 += embed @ observed_stats.s2 @ np.swapaxes(embed, -1, -2)
                total.s2[(slice(None), *mis)] += nk[:, None, None] * self.conditional
            else:
                total.s1 += observed_stats.s1 @ embed[0].T
                total.s2 += embed[0] @ observed_stats.s2 @ embed[0].T
                total.s2[mis] += nk.sum() * self.conditional[0]
        elif covariance_type == "diag":
            total.s1[:, observed] += observed_stats.s1
            total.s2[:, observed] += observed_stats.s2
            total.s2[:, missing] += nk[:, None] * self.conditional
        else:
            total.s1[:, observed] += observed_stats.s1
            total.s2 += observed_stats.s2 + nk * self.conditional.sum(axis=1)
        return total

    def impute(self, X_observed, resp, random_state=None):
        """Values for the missing columns of rows whose observed columns are
        ``X_observed``.

        Parameters
        ----------
        X_observed : ndarray of shape (n_rows, o)
        resp : ndarray of shape (n_rows, K)
            The rows' responsibilities under this marginal.
        random_state : numpy.random.RandomState or None
            None: E[x_M | x_O] = sum_k p(k | x_O) E[x_M | x_O, k]. Otherwise one draw
            from p(x_M | x_O): a component from ``resp``, then its conditional normal.

        Returns
        -------
        ndarray of shape (n_rows, m), float64
        """
        # E[x_M | x_O, k] = mu_kM + B_k^T (x_O - mu_kO), (rows, K, m)
        missing_means = self.full.means[:, self.missing]
        n_components = missing_means.shape[0]
        conditional_means = np.broadcast_to(
            missing_means, (len(X_observed), *missing_means.shape)
        )
        if self.regression is not None:
            regression = np.broadcast_to(
                self.regression, (n_components, *self.regression.shape[1:])
            )
            centred = X_observed[:, None, :] - self.means[None]
            conditional_means = conditional_means + np.einsum(
                "nko,kom->nkm", centred, regression
            )
        if random_state is None:
            return np.einsum("nk,nkm->nm", resp, conditional_means)
        return self._draw(conditional_means, resp, random_state)

    def _draw(self, conditional_means, resp, random_state):
        """One draw of x_M per row: a component from ``resp``, then its conditional."""
        n_rows, n_components, n_missing = conditional_means.shape
        cumulative = np.cumsum(resp, axis=1)
        draws = random_state.uniform(size=n_rows) * cumulative[:, -1]
        components = np.minimum(
            (cumulative < draws[:, None]).sum(axis=1), n_components - 1
        )
        noise = random_state.standard_normal(size=(n_rows, n_missing))
        values = conditional_means[np.arange(n_rows), components]
        if self.covariance_type in ("full", "tied"):
            try:
                factors = np.linalg.cholesky(self.conditional)  # (K', m, m), lower
            except np.linalg.LinAlgError:
                raise ValueError(SINGULAR_COVARIANCE_MESSAGE) from None
            if self.covariance_type == "tied":
                return values + noise @ factors[0].T
            return values + np.einsum("nij,nj->ni", factors[components], noise)
        return values + noise * np.sqrt(self.conditional[components])
