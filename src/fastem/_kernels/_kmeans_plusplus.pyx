"""k-means++ seeding kernels (Cython + OpenMP): the O(n_samples) work of each step.

The random draws, the choice of the best candidate and the bookkeeping stay in Python
(``fastem._engine.seeding``); these kernels do the passes over X:

- ``kmeanspp_potentials``: one pass over X per seeding step. It first folds the centre
  chosen at the previous step into each row's closest squared distance (the update is
  deferred to this pass so that X is read once per step), then sums, for each
  candidate, the weighted distances to the closest centre if that candidate were
  added, per fixed block of rows. No n_samples x n_candidates array is formed.
- ``kmeanspp_searchsorted``: where the candidates fall in the cumulative sum of those
  weighted distances. The cumulative sum over all rows is never written: the blocks'
  sums locate each target's block, and only that block is scanned.

Blocks have a fixed number of rows (an argument) and each is summed by one thread in
a fixed order, so the bits do not depend on the number of threads; a dynamic schedule
over blocks balances the load. The contract of every public function is the twin's,
in ``_reference/kmeans_plusplus.py``.
"""

from cpython.pyport cimport PY_SSIZE_T_MAX
from cython.parallel cimport parallel, prange
from libc.stdlib cimport free, malloc

import numpy as np

from cython cimport floating

__all__ = ["kmeanspp_potentials", "kmeanspp_searchsorted"]


cdef extern from "_kmeans_plusplus.h" nogil:
    const int KPP_CHUNK   # rows per chunk
    const int KPP_LANES   # partial sums per block
    void kpp_block(const char *X, Py_ssize_t row_stride, Py_ssize_t col_stride,
                   int itemsize, int d, Py_ssize_t start, Py_ssize_t stop,
                   const double *last, const double *candidates, int n_candidates,
                   const double *sample_weight, double *closest, double *xt,
                   double *cl, double *w_chunk, double *acc, double *sums)
    Py_ssize_t kpp_scan(const char *X, Py_ssize_t row_stride, Py_ssize_t col_stride,
                        int itemsize, int d, Py_ssize_t start, Py_ssize_t stop,
                        const double *last, const double *sample_weight,
                        const double *closest, double offset, double target)


# --- argument checks (Python level, before any pointer is taken) ---------------------


def _check_common(X, sample_weight, last_center, closest, block_rows):
    """(validated float64 sample weights, row ``last_center`` of X as float64), each
    None where absent (unit weights, last_center -1); raises ValueError on bad
    shapes."""
    n_samples = X.shape[0]
    if X.ndim != 2:
        raise ValueError(f"X must be 2-dimensional, got shape {X.shape}")
    if block_rows <= 0 or block_rows % KPP_LANES:
        raise ValueError(f"block_rows must be a positive multiple of {KPP_LANES}")
    if not -1 <= last_center < n_samples:
        raise ValueError(f"last_center {last_center} out of range")
    if closest.shape != (n_samples,):
        raise ValueError(f"closest has shape {closest.shape}, expected ({n_samples},)")
    last_row = None if last_center < 0 else _rows(X, last_center)
    if sample_weight is None:
        return None, last_row
    weights = np.ascontiguousarray(sample_weight, dtype=np.float64)
    if weights.shape != (n_samples,):
        raise ValueError("sample_weight has the wrong length")
    return weights, last_row


def _rows(X, indices):
    """Rows ``indices`` of X as a C-contiguous float64 array."""
    return np.ascontiguousarray(np.asarray(X)[indices], dtype=np.float64)


cdef inline const double *_data_or_null(const double[::1] values):
    """The data of a validated array, or NULL for None."""
    return NULL if values is None else &values[0]


def _scratch_length(n_features, n_candidates):
    """Doubles of one thread's scratch: the transposed chunk, its closest distances
    and weights, and each candidate's partial sums.

    Python integers, so nothing wraps; MemoryError where the bytes are more than
    malloc can be asked for.
    """
    length = (n_features + 2) * KPP_CHUNK + n_candidates * KPP_LANES
    if length * sizeof(double) > PY_SSIZE_T_MAX:
        raise _scratch_error(length, n_features)
    return length


def _scratch_error(length, n_features):
    return MemoryError(
        f"cannot allocate the {length * sizeof(double) / 2**20:.0f} MiB of scratch "
        f"each k-means++ thread needs for n_features={n_features} ({KPP_CHUNK} "
        "doubles per feature)"
    )


# --- public entry points --------------------------------------------------------------


def kmeanspp_potentials(
    const floating[:, :] X,
    sample_weight,
    Py_ssize_t last_center,
    candidates,
    Py_ssize_t block_rows,
    int n_threads,
    double[::1] closest,
    double[:, ::1] block_sums,
):
    """Fold in the last centre, then each candidate's potential per block of rows.

    See ``_reference.kmeans_plusplus.kmeanspp_potentials``.
    """
    cdef Py_ssize_t n_samples = X.shape[0], d = X.shape[1]
    weights, last_row = _check_common(
        np.asarray(X), sample_weight, last_center, np.asarray(closest), block_rows
    )
    candidate_ids = np.asarray(candidates, dtype=np.intp).reshape(-1)
    cdef Py_ssize_t n_candidates = candidate_ids.shape[0]
    cdef Py_ssize_t n_blocks = (n_samples + block_rows - 1) // block_rows
    if block_sums.shape[0] != n_blocks or block_sums.shape[1] != n_candidates:
        raise ValueError(
            f"block_sums has shape {np.asarray(block_sums).shape}, "
            f"expected ({n_blocks}, {n_candidates})"
        )
    if n_candidates and (candidate_ids.min() < 0 or candidate_ids.max() >= n_samples):
        raise ValueError("candidates out of range")
    if n_samples == 0 or n_candidates == 0:
        return
    cdef const double[:, ::1] centres = _rows(X, candidate_ids)
    cdef const double *w_ptr = _data_or_null(weights)
    cdef const double *last_ptr = _data_or_null(last_row)
    cdef const char *X_ptr = <const char *> &X[0, 0]
    cdef Py_ssize_t row_stride = X.strides[0], col_stride = X.strides[1]
    cdef int itemsize = sizeof(floating)
    cdef const double *centres_ptr = &centres[0, 0]
    cdef double *closest_ptr = &closest[0]
    cdef double *sums_ptr = &block_sums[0, 0]
    cdef Py_ssize_t scratch_len = _scratch_length(d, n_candidates)
    # Blocks left undone by threads whose scratch could not be allocated.
    cdef Py_ssize_t n_undone = 0
    cdef Py_ssize_t b
    cdef double *scratch
    cdef double *xt
    cdef double *cl
    cdef double *w_chunk
    cdef double *acc

    with nogil, parallel(num_threads=n_threads):
        scratch = <double *> malloc(scratch_len * sizeof(double))
        if scratch != NULL:
            xt = scratch
            cl = xt + d * KPP_CHUNK
            w_chunk = cl + KPP_CHUNK
            acc = w_chunk + KPP_CHUNK
        for b in prange(n_blocks, schedule="dynamic"):
            if scratch == NULL:  # the thread still takes its share of the loop
                n_undone += 1
                continue
            kpp_block(
                X_ptr, row_stride, col_stride, itemsize, <int> d, b * block_rows,
                min((b + 1) * block_rows, n_samples), last_ptr, centres_ptr,
                <int> n_candidates, w_ptr, closest_ptr, xt, cl, w_chunk, acc,
                sums_ptr + b * n_candidates,
            )
        free(scratch)
    if n_undone:
        raise _scratch_error(scratch_len, d)


def kmeanspp_searchsorted(
    const floating[:, :] X,
    sample_weight,
    Py_ssize_t last_center,
    const double[::1] closest,
    const double[::1] block_cumsum,
    const double[::1] targets,
    Py_ssize_t block_rows,
    Py_ssize_t[::1] candidates,
):
    """Rows where the targets fall in the cumulative weighted closest distances.

    See ``_reference.kmeans_plusplus.kmeanspp_searchsorted``.
    """
    cdef Py_ssize_t n_samples = X.shape[0], d = X.shape[1]
    weights, last_row = _check_common(
        np.asarray(X), sample_weight, last_center, np.asarray(closest), block_rows
    )
    cdef Py_ssize_t n_blocks = (n_samples + block_rows - 1) // block_rows
    if block_cumsum.shape[0] != n_blocks:
        raise ValueError(f"block_cumsum has length {block_cumsum.shape[0]}, "
                         f"expected {n_blocks}")
    if candidates.shape[0] != targets.shape[0]:
        raise ValueError("candidates and targets differ in length")
    if n_samples == 0 or targets.shape[0] == 0:
        return
    # The block of each target: the first whose cumulative sum reaches it (clipped).
    blocks = np.minimum(
        np.searchsorted(np.asarray(block_cumsum), np.asarray(targets)), n_blocks - 1
    )
    cdef const Py_ssize_t[::1] block_of = blocks.astype(np.intp)
    cdef const double *w_ptr = _data_or_null(weights)
    cdef const double *last_ptr = _data_or_null(last_row)
    cdef const char *X_ptr = <const char *> &X[0, 0]
    cdef Py_ssize_t row_stride = X.strides[0], col_stride = X.strides[1]
    cdef int itemsize = sizeof(floating)
    cdef Py_ssize_t t, b
    cdef double offset
    with nogil:
        for t in range(targets.shape[0]):
            b = block_of[t]
            offset = block_cumsum[b - 1] if b > 0 else 0.0
            candidates[t] = kpp_scan(
                X_ptr, row_stride, col_stride, itemsize, <int> d, b * block_rows,
                min((b + 1) * block_rows, n_samples), last_ptr, w_ptr, &closest[0],
                offset, targets[t],
            )
