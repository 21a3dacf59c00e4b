"""k-means++ seeding: scikit-learn's algorithm and random stream on parallel kernels.

The draws from ``random_state`` are scikit-learn's, in the same order and with the
same arguments (``sklearn.cluster._kmeans._kmeans_plusplus``); the O(n_samples) work
of each step runs in one pass of ``kmeanspp_potentials`` over X, and the candidates
are found by ``kmeanspp_searchsorted`` without writing the cumulative sum of all rows.
So the rows chosen are scikit-learn's, except where rounding decides: scikit-learn
forms squared distances as ||x||^2 - 2 x.c + ||c||^2 (float32 data: in float32), we
as sum_j (x_j - c_j)^2 in float64, and sums are added in other orders.
"""

import numpy as np
from sklearn.utils import check_random_state

from .._kernels import get_backend
from .threads import threads_for

# Rows per block of the kernels: the unit of their parallel schedule and fixed-order
# sums, and what kmeanspp_searchsorted scans for each candidate.
BLOCK_ROWS = 2048


def kmeans_plusplus(
    X,
    n_clusters,
    *,
    sample_weight=None,
    random_state=None,
    n_local_trials=None,
    n_threads=1,
):
    """Greedy k-means++ seeds, as ``sklearn.cluster.kmeans_plusplus`` chooses them.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
        Validated data, any memory layout; never copied or written.
    n_clusters : int
        The number of seeds, at most n_samples.
    sample_weight : ndarray of shape (n_samples,), default=None
        Non-negative weights; None for unit weights.
    random_state : int, RandomState instance or None, default=None
    n_local_trials : int, default=None
        Candidates tried for each seed after the first; None means
        2 + int(log(n_clusters)).
    n_threads : int, default=1
        Threads of the kernels; the result does not depend on it.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), of X's dtype
        ``X[indices]``.
    indices : ndarray of shape (n_clusters,), intp
        The rows of X chosen, in order.
    """
    kernels = get_backend().kmeans_plusplus
    random_state = check_random_state(random_state)
    n_samples = X.shape[0]
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    # scikit-learn's draw of the first seed, with weights of X's dtype.
    weights = (
        np.ones(n_samples, dtype=X.dtype)
        if sample_weight is None
        else np.asarray(sample_weight, dtype=X.dtype)
    )
    center = random_state.choice(n_samples, p=weights / weights.sum())
    kernel_weights = (
        None if sample_weight is None else np.asarray(weights, dtype=np.float64)
    )

    indices = np.full(n_clusters, -1, dtype=np.intp)
    indices[0] = center
    if n_clusters == 1:
        return np.asarray(X[indices]), indices
    n_threads = threads_for(n_threads, n_samples, n_local_trials)
    n_blocks = -(-n_samples // BLOCK_ROWS)
    closest = np.full(n_samples, np.inf)
    block_sums = np.empty((n_blocks, 1))
    # The first seed is a step with one candidate: its block sums of w ||x - c||^2.
    kernels.kmeanspp_potentials(
        X, kernel_weights, -1, indices[:1], BLOCK_ROWS, n_threads, closest, block_sums
    )
    block_cumsum = np.cumsum(block_sums[:, 0])
    current_pot = block_cumsum[-1]
    last = center  # chosen, not yet folded into closest (the next pass does it)

    block_sums = np.empty((n_blocks, n_local_trials))
    candidates = np.empty(n_local_trials, dtype=np.intp)
    for c in range(1, n_clusters):
        targets = random_state.uniform(size=n_local_trials) * current_pot
        kernels.kmeanspp_searchsorted(
            X,
            kernel_weights,
            last,
            closest,
            block_cumsum,
            targets,
            BLOCK_ROWS,
            candidates,
        )
        kernels.kmeanspp_potentials(
            X,
            kernel_weights,
            last,
            candidates,
            BLOCK_ROWS,
            n_threads,
            closest,
            block_sums,
        )
        # In-order sums over blocks: each candidate's potential is the last row.
        cumulative = np.cumsum(block_sums, axis=0)
        best = int(np.argmin(cumulative[-1]))
        current_pot = cumulative[-1, best]
        block_cumsum = np.ascontiguousarray(cumulative[:, best])
        last = candidates[best]
        indices[c] = last
    return np.asarray(X[indices]), indices
