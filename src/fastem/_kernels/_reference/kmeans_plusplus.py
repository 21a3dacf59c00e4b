"""The twin of ``_kmeans_plusplus``: the passes over X of greedy k-means++ seeding
(``kmeanspp_potentials``, ``kmeanspp_searchsorted``), in NumPy, summed in the
kernels' order so that the seeds are the same bits."""

import numpy as np

__all__ = ["kmeanspp_potentials", "kmeanspp_searchsorted"]


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
