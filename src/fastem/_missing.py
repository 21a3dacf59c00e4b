"""Missing values (NaN) handled by EM itself, one missingness pattern at a time.

A NaN means "missing at random": a row's likelihood is the marginal density of its
observed coordinates, and EM treats the missing ones as latent (Ghahramani & Jordan
1994). Rows are grouped by their pattern of NaN once per data set. For a pattern with
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

import numpy as np

from ._gaussian_math import (
    SINGULAR_COVARIANCE_MESSAGE,
    GaussianStats,
    covariances_from_cholesky,
    log_det_cholesky,
    precision_cholesky,
)
from ._kernels import get_backend
from ._seeding import kmeans_plusplus
from ._sources import ArraySource, _kernel_blas_limit, kernel_score, score_outputs
from ._threads import threads_for

# Rows of one pattern gathered per kernel call: bounds the copy (rows x observed
# columns) whatever the number of samples.
GATHER_ROWS = 65536

RESP_ONLY = {"log_prob": False, "resp": True, "labels": False}


def check_missing(X, fitting=True):
    """Reject what a NaN cannot stand for: infinities, all-NaN rows and, in data to
    fit, all-NaN columns.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    fitting : bool, default=True
        Whether X is to be fitted (a fitted model scores and imputes rows whatever
        columns the other rows observe).

    Returns
    -------
    missing : ndarray of shape (n_samples, n_features), bool, or None
        ``np.isnan(X)``, or None when X has no NaN.

    Raises
    ------
    ValueError
        If X holds +/-inf, a row that is entirely NaN, or (when fitting) a column
        that is entirely NaN.
    """
    if np.isfinite(np.sum(X)):  # no NaN and no infinity: one pass, no (n, d) mask
        return None
    if np.any(np.isinf(X)):
        raise ValueError("Input X contains infinity; only NaN marks a missing value.")
    missing = np.isnan(X)
    if not missing.any():
        return None
    empty_rows = np.flatnonzero(missing.all(axis=1))
    if len(empty_rows):
        raise ValueError(
            f"Row {empty_rows[0]} of X is entirely NaN ({len(empty_rows)} such rows); "
            "a row needs at least one observed value."
        )
    empty_columns = np.flatnonzero(missing.all(axis=0)) if fitting else []
    if len(empty_columns):
        raise ValueError(
            f"Column {empty_columns[0]} of X is entirely NaN; nothing can be "
            "estimated for it."
        )
    return missing


@dataclass(frozen=True)
class Pattern:
    """The rows sharing one set of observed columns."""

    rows: np.ndarray  # (n_rows,) intp, increasing
    observed: np.ndarray  # (o,) intp, increasing
    missing: np.ndarray  # (d - o,) intp, increasing


def group_patterns(missing):
    """The rows of each missingness pattern (complete rows are one pattern too).

    Parameters
    ----------
    missing : ndarray of shape (n_samples, n_features), bool

    Returns
    -------
    patterns : list of Pattern
    """
    packed = np.packbits(missing, axis=1)
    n_bytes = packed.shape[1]
    if n_bytes <= 8:  # one integer key per row: sorting them is fast
        padded = np.zeros((len(packed), 8), dtype=np.uint8)
        padded[:, :n_bytes] = packed
        keys = padded.view(np.uint64).reshape(-1)
    else:
        keys = np.ascontiguousarray(packed).view(np.dtype((np.void, n_bytes)))
        keys = keys.reshape(-1)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    order = np.argsort(inverse.reshape(-1), kind="stable")
    bounds = np.cumsum(counts)[:-1]
    masks = missing[order[np.r_[0, bounds]]]
    return [
        Pattern(rows, np.flatnonzero(~mask), np.flatnonzero(mask))
        for rows, mask in zip(np.split(order, bounds), masks)
    ]


@dataclass
class Marginal:
    """One pattern's marginal and conditional Gaussians of every component.

    Attributes
    ----------
    means, precisions_chol, log_norm
        The kernels' parameters of the marginals on the observed columns.
    regression : ndarray of shape (K', o, m) or None
        B_k = Sigma_OO^{-1} Sigma_OM (K' = 1 for tied); None for diag / spherical,
        whose conditional means are the means.
    conditional : ndarray
        Cov[x_M | x_O, k]: (K', m, m) for full / tied, the variances (K, m) for diag
        and spherical.
    """

    means: np.ndarray
    precisions_chol: np.ndarray
    log_norm: np.ndarray
    regression: np.ndarray | None
    conditional: np.ndarray


def marginal(pattern, means, precisions_chol, log_norm, covariances, covariance_type):
    """The marginal on ``pattern.observed`` and the conditional of the rest.

    Parameters
    ----------
    pattern : Pattern
    means, precisions_chol, log_norm : ndarray, float64
        The full model in the kernels' form.
    covariances : ndarray
        ``covariances_from_cholesky(precisions_chol, covariance_type)``.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    Marginal
    """
    observed, missing = pattern.observed, pattern.missing
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
        log_norm
        - log_det_cholesky(precisions_chol, covariance_type, n_features)
        + log_det_cholesky(factors, covariance_type, n_observed)
        + 0.5 * (n_features - n_observed) * math.log(2.0 * math.pi)
    )
    return Marginal(
        np.ascontiguousarray(means[:, observed]),
        factors,
        np.ascontiguousarray(marginal_log_norm, dtype=np.float64),
        regression,
        conditional,
    )


def lift_stats(total, observed_stats, pattern, model, covariance_type):
    """Add a pattern's statistics on its observed columns to ``total`` (all columns).

    Parameters
    ----------
    total : GaussianStats, INOUT
        Statistics around the full means.
    observed_stats : GaussianStats
        The kernels' statistics of the pattern's rows around the observed means.
    pattern : Pattern
    model : Marginal
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    """
    observed, missing = pattern.observed, pattern.missing
    nk = observed_stats.nk
    total.nk += nk
    total.log_likelihood += observed_stats.log_likelihood
    if covariance_type in ("full", "tied"):
        n_features = total.s1.shape[1]
        embed = np.zeros((len(model.regression), n_features, len(observed)))
        embed[:, observed, np.arange(len(observed))] = 1.0
        embed[:, missing, :] = np.swapaxes(model.regression, -1, -2)
        mis = np.ix_(missing, missing)
        if covariance_type == "full":
            total.s1 += np.einsum("kdo,ko->kd", embed, observed_stats.s1)
            total.s2 += embed @ observed_stats.s2 @ np.swapaxes(embed, -1, -2)
            total.s2[(slice(None), *mis)] += nk[:, None, None] * model.conditional
        else:
            total.s1 += observed_stats.s1 @ embed[0].T
            total.s2 += embed[0] @ observed_stats.s2 @ embed[0].T
            total.s2[mis] += nk.sum() * model.conditional[0]
    elif covariance_type == "diag":
        total.s1[:, observed] += observed_stats.s1
        total.s2[:, observed] += observed_stats.s2
        total.s2[:, missing] += nk[:, None] * model.conditional
    else:
        total.s1[:, observed] += observed_stats.s1
        total.s2 += observed_stats.s2 + nk * model.conditional.sum(axis=1)


class MissingValueSource(ArraySource):
    """Rows of an array with NaN, passed to the kernels one missingness pattern at a
    time (in chunks of gathered rows); the same methods as ``ArraySource``.

    Patterns run one after the other, each on as many kernel threads as its rows keep
    busy, and their results are added in pattern order, so they do not depend on the
    number of threads. (Small patterns side by side on Python threads, one kernel
    thread each, were 1.2-2x slower on 2 cores: their Python work, marginals and
    lifting, waits for the GIL in turn.)

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
        Never written; checked by :func:`check_missing`.
    missing : ndarray of shape (n_samples, n_features), bool
        ``np.isnan(X)``.
    sample_weight : ndarray of shape (n_samples,), float64, or None
    """

    def __init__(self, X, missing, sample_weight=None):
        super().__init__(X, sample_weight)
        self.patterns = group_patterns(missing)

    def _map_patterns(self, work, means, precisions_chol, log_norm, covariance_type):
        """``[work(pattern, model, n_threads) for each pattern]``, in pattern order,
        with ``model`` the pattern's Marginal (the full model for complete rows)."""
        covariances = covariances_from_cholesky(precisions_chol, covariance_type)
        n_components = means.shape[0]

        def run(pattern):
            if len(pattern.missing) == 0:
                model = Marginal(means, precisions_chol, log_norm, None, None)
            else:
                model = marginal(
                    pattern,
                    means,
                    precisions_chol,
                    log_norm,
                    covariances,
                    covariance_type,
                )
            n_threads = threads_for(self.n_threads, len(pattern.rows), n_components)
            return work(pattern, model, n_threads)

        # One BLAS limit around all the patterns, not one per kernel call.
        with _kernel_blas_limit(get_backend(), covariance_type, self.X.shape[1]):
            return [run(pattern) for pattern in self.patterns]

    def _chunks(self, pattern):
        """(rows, observed block of X) in chunks of at most GATHER_ROWS rows."""
        for start in range(0, len(pattern.rows), GATHER_ROWS):
            rows = pattern.rows[start : start + GATHER_ROWS]
            block = self.X.take(rows, axis=0)
            if len(pattern.missing):
                block = block[:, pattern.observed]
            yield rows, block

    def accumulate(self, means, precisions_chol, log_norm, covariance_type):
        """One fused E-step pass: statistics around ``means`` (the missing coordinates
        replaced by their conditional expectations) and the observed-data
        log-likelihood."""
        kernels = get_backend()

        def pattern_stats(pattern, model, n_threads):
            observed_stats = GaussianStats.zeros(model.means, covariance_type)
            chunk = GaussianStats.empty(model.means, covariance_type)
            for rows, block in self._chunks(pattern):
                weight = (
                    None if self.sample_weight is None else self.sample_weight[rows]
                )
                chunk.log_likelihood = kernels.accumulate(
                    block,
                    weight,
                    chunk.shift,
                    model.precisions_chol,
                    model.log_norm,
                    covariance_type,
                    n_threads,
                    chunk.nk,
                    chunk.s1,
                    chunk.s2,
                )
                observed_stats += chunk
            if len(pattern.missing) == 0:
                return observed_stats
            lifted = GaussianStats.zeros(means, covariance_type)
            lift_stats(lifted, observed_stats, pattern, model, covariance_type)
            return lifted

        total = GaussianStats.zeros(means, covariance_type)
        for stats in self._map_patterns(
            pattern_stats, means, precisions_chol, log_norm, covariance_type
        ):
            total += stats
        return total

    def kmeans_plusplus(self, n_clusters, random_state):
        """k-means++ seeds of the mean-imputed rows (see :func:`mean_imputed`)."""
        return kmeans_plusplus(
            mean_imputed(self.X, self.sample_weight),
            n_clusters,
            sample_weight=self.sample_weight,
            random_state=random_state,
            n_threads=self.n_threads,
        )

    def _score_chunks(self, model, pattern, n_threads, covariance_type, **wanted):
        """(rows, block, :func:`kernel_score`'s outputs) for each chunk of a pattern."""
        params = (model.means, model.precisions_chol, model.log_norm, covariance_type)
        for rows, block in self._chunks(pattern):
            yield rows, block, kernel_score(block, params, n_threads, **wanted)

    def score(
        self,
        means,
        precisions_chol,
        log_norm,
        covariance_type,
        log_prob=True,
        resp=False,
        labels=False,
    ):
        """Per-row log p(x_O) (n,), responsibilities (n, K), labels (n,): each on
        request, as ``ArraySource.score``.

        Returns
        -------
        log_prob_norm, resp, labels : ndarray or None
        """
        wanted = {"log_prob": log_prob, "resp": resp, "labels": labels}
        outputs = score_outputs(self.X.shape[0], means.shape[0], **wanted)

        def score_pattern(pattern, model, n_threads):
            for rows, _, parts in self._score_chunks(
                model, pattern, n_threads, covariance_type, **wanted
            ):
                for out, part in zip(outputs, parts):
                    if out is not None:
                        out[rows] = part

        self._map_patterns(
            score_pattern, means, precisions_chol, log_norm, covariance_type
        )
        return outputs

    def impute(
        self, means, precisions_chol, log_norm, covariance_type, random_state=None
    ):
        """A copy of X with each NaN replaced by E[x_M | x_O], or by a draw.

        Parameters
        ----------
        means, precisions_chol, log_norm, covariance_type
            The fitted model in the kernels' form.
        random_state : numpy.random.RandomState or None
            None: the conditional expectation sum_k p(k | x_O) E[x_M | x_O, k].
            Otherwise a draw from p(x_M | x_O): a component from the
            responsibilities, then x_M from that component's conditional normal
            (drawn pattern after pattern, so the stream does not depend on threads).

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features), of X's dtype
        """
        imputed = np.array(self.X)

        def expectations(pattern, model, n_threads):
            """Per chunk: rows, responsibilities and (rows, K, m) E[x_M | x_O, k]."""
            if len(pattern.missing) == 0:
                return model, []
            chunks = []
            missing_means = means[:, pattern.missing]
            for rows, block, (_, resp, _) in self._score_chunks(
                model, pattern, n_threads, covariance_type, **RESP_ONLY
            ):
                # E[x_M | x_O, k] = mu_kM + B_k^T (x_O - mu_kO)
                conditional_means = np.broadcast_to(
                    missing_means, (len(rows), *missing_means.shape)
                )
                if model.regression is not None:
                    regression = np.broadcast_to(
                        model.regression, (means.shape[0], *model.regression.shape[1:])
                    )
                    centred = block[:, None, :] - model.means[None]
                    conditional_means = conditional_means + np.einsum(
                        "nko,kom->nkm", centred, regression
                    )
                chunks.append((rows, resp, conditional_means))
            return model, chunks

        for pattern, (model, chunks) in zip(
            self.patterns,
            self._map_patterns(
                expectations, means, precisions_chol, log_norm, covariance_type
            ),
        ):
            for rows, resp, conditional_means in chunks:
                if random_state is None:
                    values = np.einsum("nk,nkm->nm", resp, conditional_means)
                else:
                    values = _draw_conditional(
                        conditional_means, resp, model, covariance_type, random_state
                    )
                imputed[np.ix_(rows, pattern.missing)] = values
        return imputed


def _draw_conditional(conditional_means, resp, model, covariance_type, random_state):
    """One draw of x_M per row: a component from ``resp``, then its conditional."""
    n_rows, n_components, n_missing = conditional_means.shape
    cumulative = np.cumsum(resp, axis=1)
    draws = random_state.uniform(size=n_rows) * cumulative[:, -1]
    components = np.minimum((cumulative < draws[:, None]).sum(axis=1), n_components - 1)
    noise = random_state.standard_normal(size=(n_rows, n_missing))
    values = conditional_means[np.arange(n_rows), components]
    if covariance_type in ("full", "tied"):
        try:
            factors = np.linalg.cholesky(model.conditional)  # (K', m, m), lower
        except np.linalg.LinAlgError:
            raise ValueError(SINGULAR_COVARIANCE_MESSAGE) from None
        if covariance_type == "tied":
            return values + noise @ factors[0].T
        return values + np.einsum("nij,nj->ni", factors[components], noise)
    return values + noise * np.sqrt(model.conditional[components])


def mean_imputed(X, sample_weight=None):
    """A copy of X with each NaN replaced by its column's (weighted) mean over the
    observed rows: the data that initialisations start from.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None

    Returns
    -------
    X_filled : ndarray of shape (n_samples, n_features), of X's dtype
    """
    observed = ~np.isnan(X)
    weight = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight)
    weighted = observed * weight[:, None]
    totals = weighted.sum(axis=0)
    sums = np.einsum("nd,nd->d", weighted, np.where(observed, X, 0.0))
    # A column observed only on zero-weight rows falls back to its plain mean.
    plain = np.nanmean(X, axis=0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        column_means = np.where(totals > 0, sums / totals, plain)
    return np.where(observed, X, column_means.astype(X.dtype))
