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

The E-step's pass takes all patterns at once (:meth:`FrozenGaussianMixture.
accumulate_patterns`): each pattern's marginal padded back to d columns
(:class:`PaddedMarginals`) gives every pattern the same shapes, so the
factorisations and the lifting are stacked NumPy operations over (pattern,
component), and one kernel call (``_gaussian.accumulate_patterns``) reads each
pattern's rows of X through an index array. Scores and imputation keep one
:class:`GaussianMarginal` per pattern.
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
    second_moment_shape,
)

# The bytes of padded marginals built at once (``patterns_per_batch``): 10% NaN at
# d = 16, K = 16 has about 6,000 patterns, 800 MB of them.
PADDED_BYTES = 64 * 2**20


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

    @property
    def patterns_per_batch(self):
        """Patterns whose padded marginals (four d x d arrays per component) fit in
        PADDED_BYTES: their memory stays bounded however many patterns X has."""
        n_components, n_features = self.means.shape
        return max(1, PADDED_BYTES // (32 * n_components * n_features**2))

    def marginals(self, patterns):
        """Each pattern's marginal, those with something missing and something
        observed cut from :class:`PaddedMarginals` built together."""
        partial = [
            index
            for index, pattern in enumerate(patterns)
            if len(pattern.missing) and len(pattern.observed)
        ]
        marginals = [
            self if len(pattern.missing) == 0 else None for pattern in patterns
        ]
        batch = self.patterns_per_batch
        for first in range(0, len(partial), batch):
            indices = partial[first : first + batch]
            missing = np.zeros((len(indices), self.means.shape[1]), dtype=bool)
            for row, index in enumerate(indices):
                missing[row, patterns[index].missing] = True
            padded = PaddedMarginals.of(self, missing)
            for row, index in enumerate(indices):
                marginals[index] = GaussianMarginal.cut(
                    self, padded, row, patterns[index].observed, patterns[index].missing
                )
        return [
            self.marginal(pattern.observed, pattern.missing)
            if marginal is None
            else marginal
            for pattern, marginal in zip(patterns, marginals)
        ]

    def score_patterns(self, X, grouping, n_threads, log_prob, resp, labels):
        """All patterns' scores in one kernel call (one per ``patterns_per_batch``
        patterns), under their padded marginals."""
        means = np.ascontiguousarray(self.means, dtype=np.float64)
        for batch in grouping.batches(self.patterns_per_batch):
            marginals = PaddedMarginals.of(self, batch.missing)
            get_backend().gaussian.score_patterns(
                X,
                batch.rows,
                batch.bounds,
                means,
                marginals.precisions_chol,
                marginals.log_norm,
                marginals.kernel_type,
                n_threads,
                log_prob,
                resp,
                labels,
            )

    def accumulate_patterns(self, X, sample_weight, grouping, n_threads):
        """All patterns' statistics in one kernel call (one per
        ``patterns_per_batch`` patterns): their marginals padded to all columns
        (:class:`PaddedMarginals`), lifted together."""
        means = np.ascontiguousarray(self.means, dtype=np.float64)  # the shifts
        total = self.zero_stats()
        for batch in grouping.batches(self.patterns_per_batch):
            marginals = PaddedMarginals.of(self, batch.missing)
            n_patterns, (n_components, n_features) = len(batch.missing), means.shape
            nk = np.empty((n_patterns, n_components))
            s1 = np.empty((n_patterns, n_components, n_features))
            s2 = np.empty(
                (
                    n_patterns,
                    *second_moment_shape(
                        n_components, n_features, marginals.kernel_type
                    ),
                )
            )
            log_likelihood = np.empty(n_patterns)
            get_backend().gaussian.accumulate_patterns(
                X,
                sample_weight,
                batch.rows,
                batch.bounds,
                means,
                marginals.precisions_chol,
                marginals.log_norm,
                marginals.kernel_type,
                n_threads,
                nk,
                s1,
                s2,
                log_likelihood,
            )
            total += marginals.lift(nk, s1, s2, log_likelihood, means)
        return total


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

    @classmethod
    def cut(cls, model, padded, index, observed, missing):
        """The marginal of pattern ``index`` of ``padded`` (:class:`PaddedMarginals`
        of ``model``), whose observed and missing columns are given: its blocks of
        the padded arrays, the maths done."""
        covariance_type = model.covariance_type
        if covariance_type in ("full", "tied"):
            factors = padded.precisions_chol[index][..., observed[:, None], observed]
            regression = np.swapaxes(
                padded.embed[index][:, missing[:, None], observed], -1, -2
            )
            conditional = padded.conditional[index][:, missing[:, None], missing]
        else:
            factors = (
                padded.precisions_chol[index][:, observed]
                if covariance_type == "diag"
                else model.precisions_chol
            )
            regression = None
            conditional = padded.conditional[index][:, missing]
        return cls(
            np.ascontiguousarray(model.means[:, observed]),
            np.ascontiguousarray(factors),
            padded.log_norm[index],
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


@dataclass(frozen=True, eq=False)
class PaddedMarginals:
    """The mixture's marginals on the observed columns of P missingness patterns at
    once, each padded back to all d columns, so that every pattern has the shapes of
    the full mixture and the factorisations and the lifting run as stacked arrays.

    For pattern p with observed columns O, the padded covariance of component k is
    Sigma_OO on O x O and the identity on the missing block (nothing couples them),
    so its Cholesky factor and its inverse are the marginal's on O x O and the
    identity elsewhere, exactly (the zeros cost no rounding); zeroing the identity
    leaves the padded factor U~, zero on the missing rows: a row's log-density under
    it ignores the missing values. The lift E~ = [I on O; B^T on M, 0 on M columns]
    and C~ (the conditional covariance on M x M, zero elsewhere) act on statistics of
    all d columns whose missing entries they ignore.

    Attributes
    ----------
    precisions_chol : ndarray
        Padded factors in the kernel's layout: full (P, K, d, d), tied (P, d, d),
        diag (P, K, d) (spherical ones are diagonal once padded).
    log_norm : ndarray of shape (P, K)
        log w_k + log|U~_pk| - o_p/2 log(2 pi).
    kernel_type : {'full', 'tied', 'diag'}
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        The mixture's.
    observed : ndarray of shape (P, d), float64
        1.0 on each pattern's observed columns, 0.0 on its missing ones.
    embed : ndarray of shape (P, K', d, d) or None
        E~ (K' = 1 for tied); None for diag and spherical (the identity on O).
    conditional : ndarray
        C~ (P, K', d, d) for full and tied; the missing variances (P, K, d), zero on
        O, for diag and spherical.
    """

    precisions_chol: np.ndarray
    log_norm: np.ndarray
    kernel_type: str
    covariance_type: str
    observed: np.ndarray
    embed: np.ndarray | None
    conditional: np.ndarray

    @classmethod
    def of(cls, model, missing):
        """The padded marginals of ``model`` for the patterns ``missing`` (P, d),
        bool, each with at least one observed column."""
        covariance_type = model.covariance_type
        precisions_chol, covariances = model.precisions_chol, model.covariances
        n_patterns, n_features = missing.shape
        observed = (~missing).astype(np.float64)
        lost = missing.astype(np.float64)
        embed = None
        if covariance_type in ("full", "tied"):
            stacked = covariances if covariance_type == "full" else covariances[None]
            if not np.all(np.isfinite(stacked)):
                raise ValueError(SINGULAR_COVARIANCE_MESSAGE)
            shape = (n_patterns, *stacked.shape)
            factors, embed, conditional = (np.empty(shape) for _ in range(3))
            log_det = np.empty(shape[:2])
            positive = get_backend().gaussian.padded_marginals(
                np.ascontiguousarray(stacked, dtype=np.float64),
                np.ascontiguousarray(missing).view(np.uint8),
                factors,
                log_det,
                embed,
                conditional,
            )
            if not positive:
                raise ValueError(SINGULAR_COVARIANCE_MESSAGE)
            kernel_factors = factors if covariance_type == "full" else factors[:, 0]
            kernel_type = covariance_type
        else:
            variances = (
                covariances if covariance_type == "diag" else covariances[:, None]
            )
            unit = (
                precisions_chol
                if covariance_type == "diag"
                else precisions_chol[:, None]
            )
            kernel_factors = unit[None] * observed[:, None, :]
            log_det = np.log(unit)[None] * observed[:, None, :]
            log_det = np.sum(np.broadcast_to(log_det, kernel_factors.shape), axis=-1)
            conditional = variances[None] * lost[:, None, :]
            conditional = np.broadcast_to(conditional, kernel_factors.shape)
            kernel_type = "diag"
        n_observed = observed.sum(axis=1)
        log_norm = (
            model.log_norm
            - log_det_cholesky(precisions_chol, covariance_type, n_features)
            + log_det
            + (0.5 * math.log(2.0 * math.pi)) * (n_features - n_observed)[:, None]
        )
        return cls(
            np.ascontiguousarray(kernel_factors),
            np.ascontiguousarray(
                np.broadcast_to(log_norm, (n_patterns, model.n_outputs))
            ),
            kernel_type,
            covariance_type,
            observed,
            embed,
            conditional,
        )

    def lift(self, nk, s1, s2, log_likelihood, means):
        """The patterns' statistics of all columns, summed, from the kernel's
        per-pattern statistics (their missing entries ignored).

        Parameters
        ----------
        nk : ndarray of shape (P, K)
        s1 : ndarray of shape (P, K, d)
        s2 : ndarray of shape (P, *second moments of ``kernel_type``)
        log_likelihood : ndarray of shape (P,)
        means : ndarray of shape (K, d)
            The mixture's means, around which the kernel took the statistics.

        Returns
        -------
        GaussianStats
            Around the mixture's means.
        """
        covariance_type = self.covariance_type
        if covariance_type == "full":
            lifted_s1 = np.einsum("pkij,pkj->ki", self.embed, s1)
            lifted_s2 = np.sum(
                self.embed @ s2 @ np.swapaxes(self.embed, -1, -2), axis=0
            ) + np.einsum("pk,pkij->kij", nk, self.conditional)
        elif covariance_type == "tied":
            embed = self.embed[:, 0]
            lifted_s1 = np.einsum("pij,pkj->ki", embed, s1)
            lifted_s2 = np.sum(embed @ s2 @ np.swapaxes(embed, -1, -2), axis=0)
            lifted_s2 += np.einsum("p,pij->ij", nk.sum(axis=1), self.conditional[:, 0])
        else:
            observed = self.observed[:, None, :]
            lifted_s1 = np.sum(s1 * observed, axis=0)
            lifted_s2 = np.sum(s2 * observed, axis=0) + np.einsum(
                "pk,pkd->kd", nk, self.conditional
            )
            if covariance_type == "spherical":
                lifted_s2 = lifted_s2.sum(axis=1)
        return GaussianStats(
            nk=nk.sum(axis=0),
            s1=lifted_s1,
            s2=lifted_s2,
            shift=np.array(means, dtype=np.float64),
            covariance_type=covariance_type,
            log_likelihood=float(np.sum(log_likelihood)),
        )
