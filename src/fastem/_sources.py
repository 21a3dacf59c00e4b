"""Data sources: where the rows live and how a kernel pass runs over them."""

from contextlib import nullcontext

import numpy as np

from ._gaussian_math import GaussianStats
from ._kernels import get_backend
from ._seeding import kmeans_plusplus
from ._threads import effective_n_threads, limit_blas_threads, threads_for


def _kernel_blas_limit(kernels, covariance_type, n_features):
    """BLAS limited to one thread where ``kernels`` call it inside their OpenMP
    threads (else BLAS threads would nest in them); a no-op elsewhere, which spares
    small problems the limit's cost (tens of microseconds)."""
    min_features = getattr(kernels, "BLAS_MIN_FEATURES", None)
    if (
        min_features is None
        or covariance_type not in ("full", "tied")
        or n_features < min_features
    ):
        return nullcontext()
    return limit_blas_threads()


class ArraySource:
    """Rows held in one array (in memory or memory-mapped), passed to the kernels as is.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
        Any memory layout; never copied or written.
    sample_weight : ndarray of shape (n_samples,), float64, or None
    """

    def __init__(self, X, sample_weight=None):
        self.X = X
        self.sample_weight = sample_weight
        self.n_threads = effective_n_threads()

    def _threads(self, means):
        return threads_for(self.n_threads, self.X.shape[0], means.shape[0])

    @property
    def total_weight(self):
        """Sum of the row weights (the number of rows when unweighted)."""
        if self.sample_weight is None:
            return float(self.X.shape[0])
        return float(np.sum(self.sample_weight))

    def accumulate(self, means, precisions_chol, log_norm, covariance_type):
        """One fused E-step pass: statistics around ``means`` and the log-likelihood."""
        stats = GaussianStats.empty(means, covariance_type)
        kernels = get_backend()
        with _kernel_blas_limit(kernels, covariance_type, self.X.shape[1]):
            stats.log_likelihood = kernels.accumulate(
                self.X,
                self.sample_weight,
                stats.shift,
                precisions_chol,
                log_norm,
                covariance_type,
                self._threads(means),
                stats.nk,
                stats.s1,
                stats.s2,
            )
        return stats

    def kmeans_plusplus(self, n_clusters, random_state):
        """Greedy k-means++ seeds of the rows, as scikit-learn chooses them.

        Returns
        -------
        centers : ndarray of shape (n_clusters, n_features), of X's dtype
        indices : ndarray of shape (n_clusters,), intp
        """
        return kmeans_plusplus(
            self.X,
            n_clusters,
            sample_weight=self.sample_weight,
            random_state=random_state,
            n_threads=self.n_threads,
        )

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
        """Per-row log p(x) (n,), responsibilities (n, K), labels (n,): each on request.

        Returns
        -------
        log_prob_norm, resp, labels : ndarray or None
        """
        n_samples = self.X.shape[0]
        log_prob_out = np.empty(n_samples) if log_prob else None
        resp_out = np.empty((n_samples, means.shape[0])) if resp else None
        labels_out = np.empty(n_samples, dtype=np.intp) if labels else None
        kernels = get_backend()
        with _kernel_blas_limit(kernels, covariance_type, self.X.shape[1]):
            kernels.score(
                self.X,
                np.ascontiguousarray(means, dtype=np.float64),
                precisions_chol,
                log_norm,
                covariance_type,
                self._threads(means),
                log_prob_out,
                resp_out,
                labels_out,
            )
        return log_prob_out, resp_out, labels_out
