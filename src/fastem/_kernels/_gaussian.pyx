"""Fused EM kernels for Gaussian mixtures (Cython + OpenMP).

One call is one pass over X. Rows are processed in chunks of ``CHUNK`` rows, copied
transposed into a thread-private float64 buffer (so float32, Fortran-ordered,
strided and read-only inputs all take the same path, and rows are SIMD lanes). For
each chunk: per-component log-densities from (x - mu_k) and the upper-triangular
precision factor, a log-sum-exp per row with one exp per (row, component), the
responsibilities, and the weighted sums N_k, S1_k, S2_k around mu_k. Nothing of size
n_samples x K is allocated.

Up to FE_SMALL_D features the loops are specialised per d (``_gaussian_loops.h``). Above it,
full covariances work on the centred block D = x - mu_k of each chunk and component:
q = ||D U_k||^2 by register-blocked kernels (x86-64-v3 build) or BLAS dtrmm (other
builds, see ``BLAS_MIN_FEATURES``). Full and tied second moments take the blocked
kernels, S2_k += (w r D)^T D, from FE_GRAM_MIN_D features on, or BLAS dsyrk,
S2_k += A^T A with A = sqrt(w r) D (a symmetric rank-n update), above FE_SMALL_D
(the blocked kernels where a chunk has a negative weight).
Diagonal and spherical ones keep simple loops, O(d) per row and component. So do tied
ones: their rows are multiplied by the shared U once per chunk, and from
FE_ANCHORED_MIN_D features and 8 components their second moments are taken around
each row's anchor component (``fe_tied_second_moments``).

Bits do not depend on the thread count: chunks are grouped into blocks whose size
depends only on the problem, each block's sums are kept apart, and the blocks are
added in order at the end; a dynamic schedule over blocks balances the load.

The contract of every public function is the twin's, in ``_reference/gaussian.py``.
"""

from cython.parallel cimport parallel, prange
from libc.math cimport sqrt
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.stdint cimport uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from scipy.linalg.cython_blas cimport dsyrk, dtrmm

import numpy as np

cimport cython
from cython cimport floating

__all__ = ["accumulate", "component_log_prob", "exp", "score", "stats_given"]


cdef extern from "_fastmath.h" nogil:
    const int FE_LANES
    double fe_dot(const double *a, const double *b, Py_ssize_t n)
    double fe_sum(const double *a, Py_ssize_t n)
    void fe_exp_array(const double *x, double *out, Py_ssize_t n)


cdef extern from "_gaussian_loops.h" nogil:
    # The fixed blocks of a pass and the alignment of per-thread scratch (_simd.h).
    const Py_ssize_t PARTIALS_BYTES "FE_PARTIALS_BYTES"
    const Py_ssize_t MAX_BLOCKS "FE_MAX_BLOCKS"
    const Py_ssize_t ALIGN "FE_ALIGN"
    const int CHUNK "FE_CHUNK"  # rows per chunk: the K x CHUNK logits stay in L1/L2
    const int FE_SMALL_D        # up to this d, loops are specialised per d
    const int LD "FE_LD"        # leading dimension of chunks (xt) and centred blocks
    const bint FE_LARGE_D_BLAS  # full/tied above FE_SMALL_D: BLAS, else blocked kernels
    const int FE_GRAM_MIN_D     # full/tied sums: the large-d path from this d on
    const int FE_BY_FEATURE_MIN_D  # diagonal sums: one feature at a time from this d on
    const int FE_ANCHORED_MIN_D    # tied sums: around each row's anchor from this d on
    const int FE_TRIANGULAR, FE_DIAGONAL, FE_SCALAR, FE_FIRST_ONLY
    void fe_prefetch(const void *p)
    void fe_logits(const double *xt, Py_ssize_t n, int d, int kind, const double *mu,
                   const double *prec, double c, double *out, double *sq)
    void fe_small_stats(const double *xt, Py_ssize_t n, int d, int kind,
                        const double *mu, const double *w, double *nk, double *s1,
                        double *s2)
    void fe_normalise(double *logit, Py_ssize_t n, Py_ssize_t n_components,
                      double *row_max, double *row_sum)
    void fe_exp_shifted(double *logit, Py_ssize_t n, Py_ssize_t n_components,
                        const double *row_max, double *row_sum)
    void fe_argmax(const double *logit, Py_ssize_t n, Py_ssize_t n_components,
                   double *best, double *best_k)
    void fe_log_sum_exp(const double *row_max, const double *row_sum, Py_ssize_t n,
                        double *out)
    void fe_write_resp(const double *expo, Py_ssize_t n, Py_ssize_t n_components,
                       const double *row_sum, double *inverse, double *out)
    void fe_tri_logits(const double *diff, Py_ssize_t n, Py_ssize_t d,
                       const double *upper, double c, double *out)
    void fe_gram_upper(const double *a, const double *xt, const double *mu,
                       Py_ssize_t n, Py_ssize_t d, double *s2)
    void fe_centre(const double *xt, Py_ssize_t n, Py_ssize_t d, const double *mu,
                   double *diff)
    void fe_centre_times_upper(const double *xt, Py_ssize_t n, Py_ssize_t d,
                               const double *ref, const double *u, double *y)
    void fe_half_squares(const double *y, Py_ssize_t n, Py_ssize_t d, double c,
                         double *out)
    void fe_centre_scaled(const double *xt, Py_ssize_t n, Py_ssize_t d,
                          const double *mu, const double *w, const double *sw,
                          double *a, double *s1)
    void fe_centre_weighted(const double *xt, Py_ssize_t n, Py_ssize_t d,
                            const double *mu, const double *w, double *wd,
                            double *nk, double *s1)
    void fe_stats_by_feature(const double *xt, Py_ssize_t n, Py_ssize_t d, int kind,
                             const double *mu, const double *w, double *nk,
                             double *s1, double *s2)
    void fe_tied_second_moments(const double *xt, Py_ssize_t n, Py_ssize_t d,
                                Py_ssize_t n_components, const double *mu,
                                const double *resp, const double *w,
                                const double *anchor, double *z, double *h,
                                double *counts, double *s2)


cdef enum:
    FULL = 0
    TIED = 1
    DIAG = 2
    SPHERICAL = 3

# The precision of tied logits once the rows are multiplied by U: the identity.
cdef double UNIT_PRECISION = 1.0
# Tied second moments are taken around each row's anchor component
# (``fe_tied_second_moments``) from FE_ANCHORED_MIN_D features and for this many
# components: its work per row pays off from about 8 (accumulate 0.8x at K = 2, 1.1x
# at K = 8, d = 8), and each block keeps K x K counts.
cdef Py_ssize_t MIN_ANCHORED_COMPONENTS = 8, MAX_ANCHORED_COMPONENTS = 256

_COVARIANCE_CODES = {"full": FULL, "tied": TIED, "diag": DIAG, "spherical": SPHERICAL}

# This build calls BLAS (on the calling thread, inside OpenMP threads) for full
# covariances, and tied sums that are not anchored, from this many features on;
# None: never. Callers limit BLAS to one thread there (``FrozenGaussianMixture.kernel_context``), or its
# threads would nest in ours.
BLAS_MIN_FEATURES = FE_SMALL_D + 1 if FE_LARGE_D_BLAS else None


# --- chunk helpers ----------------------------------------------------------------------


cdef inline Py_ssize_t _padded(Py_ssize_t n_rows) noexcept nogil:
    return (n_rows + FE_LANES - 1) // FE_LANES * FE_LANES


cdef void _load_chunk(
    const char *X,              # IN  first byte of X
    Py_ssize_t row_stride,      # IN  bytes between rows (any value numpy allows)
    Py_ssize_t col_stride,      # IN  bytes between columns
    const double *sample_weight,  # IN  (n_samples,) or NULL for ones
    Py_ssize_t start,           # IN  first row of the chunk
    Py_ssize_t n_rows,          # IN  rows in the chunk
    Py_ssize_t n_padded,        # IN  n_rows rounded up to the lanes
    Py_ssize_t n_features,      # IN
    double *xt,                 # OUT (n_features, LD) transposed chunk
    double *weight,             # OUT (CHUNK,) row weights, zero on padding
    floating kind,              # IN  selects the input dtype; value unused
) noexcept nogil:
    """Padding rows repeat the first row with weight 0: finite wherever real rows are."""
    cdef Py_ssize_t r, i
    cdef const char *row
    cdef floating value
    for r in range(n_rows):
        row = X + (start + r) * row_stride
        # The same row of the next chunk: 1.04-1.05x at d = 8 (diag, spherical, v4)
        fe_prefetch(row + CHUNK * row_stride)
        for i in range(n_features):
            # memcpy: rows of a packed structured array need not be aligned
            memcpy(&value, row + i * col_stride, sizeof(floating))
            xt[i * LD + r] = value
        weight[r] = 1.0 if sample_weight == NULL else sample_weight[start + r]
    for r in range(n_rows, n_padded):
        for i in range(n_features):
            xt[i * LD + r] = xt[i * LD]
        weight[r] = 0.0


cdef inline int _kind(int cov) noexcept nogil:
    if cov == FULL or cov == TIED:
        return FE_TRIANGULAR
    return FE_DIAGONAL if cov == DIAG else FE_SCALAR


cdef inline Py_ssize_t _component_offset(
    int cov, Py_ssize_t k, Py_ssize_t d
) noexcept nogil:
    """Where component k's block starts in precision factors and second moments:
    (K, d, d), one shared (d, d), (K, d) or (K,) for full, tied, diag, spherical."""
    if cov == FULL:
        return k * d * d
    if cov == TIED:
        return 0
    return k * d if cov == DIAG else k


cdef inline void _times_upper(
    double *b,                  # INOUT (n, d) column-major, leading dimension LD
    Py_ssize_t n,               # IN  rows
    Py_ssize_t d,               # IN
    const double *upper,        # IN  (d, d) upper-triangular U, C order
) noexcept nogil:
    """b := b U by BLAS. U in C order is U^T in Fortran order: BLAS sees a
    lower-triangular matrix and transposes it."""
    cdef int m = <int> n, order = <int> d, ldb = LD
    cdef double one = 1.0
    dtrmm(b"R", b"L", b"T", b"N", &m, &order, &one, <double *> upper, &order, b, &ldb)


cdef inline void _add_gram(
    const double *a,            # IN  (n, d) column-major, leading dimension LD
    Py_ssize_t n,               # IN  rows
    Py_ssize_t d,               # IN
    double *s2,                 # INOUT (d, d) C order: upper triangle += a^T a
) noexcept nogil:
    """The upper triangle of a C-order matrix is the lower one of its Fortran view."""
    cdef int m = <int> n, order = <int> d, lda = LD
    cdef double one = 1.0
    dsyrk(b"L", b"T", &order, &m, &one, <double *> a, &lda, &one, s2, &order)


cdef inline void _triangular_logits(
    double *diff,               # INOUT (n, d) centred rows, leading dimension LD
    Py_ssize_t n,               # IN  rows
    Py_ssize_t d,               # IN  > FE_SMALL_D
    const double *upper,        # IN  (d, d) upper-triangular U, C order
    double c,                   # IN  log_norm of the component
    double *out,                # OUT (n,) c - ||diff_r U||^2 / 2
) noexcept nogil:
    """Overwrites ``diff`` with diff U where BLAS is used."""
    if FE_LARGE_D_BLAS:
        _times_upper(diff, n, d, upper)
        fe_half_squares(diff, n, d, c, out)
    else:
        fe_tri_logits(diff, n, d, upper, c, out)


cdef inline bint _non_negative(const double *w, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t r
    cdef bint ok = True
    for r in range(n):
        ok = ok & (w[r] >= 0.0)
    return ok


cdef void _chunk_logits(
    const double *xt,           # IN  (n_features, LD)
    Py_ssize_t n,               # IN  padded rows
    Py_ssize_t n_features,      # IN
    Py_ssize_t n_components,    # IN
    int cov,                    # IN  covariance code
    const double *means,        # IN  (K, d) the means of ``_logit_frame``
    const double *ref,          # IN  (d,) its reference point (tied only)
    const double *prec,         # IN  precision factors (layout per covariance type)
    const double *log_norm,     # IN  (K,)
    double *diff,               # TMP (n_features, LD)
    double *logit,              # OUT (K, LD) log weight_k + log N(x | k)
    double *sq,                 # OUT (K, LD) ||x_r - mu_k||^2 (spherical), or NULL
) noexcept nogil:
    cdef Py_ssize_t k, d = n_features
    cdef const double *factor
    cdef double *q
    if cov == TIED:
        fe_centre_times_upper(xt, n, d, ref, prec, diff)
        for k in range(n_components):
            fe_logits(
                diff, n, d, FE_SCALAR, means + k * d, &UNIT_PRECISION, log_norm[k],
                logit + k * LD, NULL,
            )
        return
    for k in range(n_components):
        q = logit + k * LD
        factor = prec + _component_offset(cov, k, d)
        if d <= FE_SMALL_D or cov != FULL:
            fe_logits(
                xt, n, d, _kind(cov), means + k * d, factor, log_norm[k], q,
                sq + k * LD if sq != NULL else NULL,
            )
        else:
            fe_centre(xt, n, d, means + k * d, diff)
            _triangular_logits(diff, n, d, factor, log_norm[k], q)


cdef double _chunk_statistics(
    const double *xt,           # IN  (n_features, LD)
    const double *weight,       # IN  (CHUNK,) row weights
    Py_ssize_t n,               # IN  padded rows
    Py_ssize_t n_features,      # IN
    Py_ssize_t n_components,    # IN
    int cov,                    # IN
    const double *means,        # IN  (K, d), the shifts
    double *expo,               # INOUT (K, LD) exp(logit - max) in, w_r r_rk out
    const double *row_max,      # IN  (CHUNK,)
    const double *row_sum,      # IN  (CHUNK,)
    const double *anchor,       # IN  (CHUNK,) component of each row's largest logit
    const double *sq,           # IN  (K, LD) squared distances (spherical, d > 8)
    double *diff,               # TMP (n_features, LD)
    double *diff2,              # TMP (n_features, LD)
    double *tmp,                # TMP (CHUNK,)
    double *partial,            # INOUT [nk (K), s1 (K, d), s2 (upper triangles...)]
    double *counts,             # INOUT (K, K) anchored tied sums, else NULL
) noexcept nogil:
    """Add the chunk's sums to ``partial``; return sum_r weight_r log p(x_r)."""
    cdef Py_ssize_t k, r, d = n_features
    cdef double *nk = partial
    cdef double *s1 = partial + n_components
    cdef double *s2 = s1 + n_components * d
    cdef double *resp
    cdef double log_likelihood
    fe_log_sum_exp(row_max, row_sum, n, tmp)
    log_likelihood = fe_dot(weight, tmp, n)
    for r in range(n):
        tmp[r] = weight[r] / row_sum[r]
    for k in range(n_components):
        resp = expo + k * LD
        for r in range(n):
            resp[r] *= tmp[r]
    if counts != NULL:
        for k in range(n_components):
            fe_stats_by_feature(
                xt, n, d, FE_FIRST_ONLY, means + k * d, expo + k * LD, nk + k,
                s1 + k * d, NULL,
            )
        fe_tied_second_moments(
            xt, n, d, n_components, means, expo, weight, anchor, diff, diff2, counts,
            s2,
        )
        return log_likelihood
    _component_sums(xt, weight, n, d, n_components, cov, means, expo, sq, diff, tmp,
                    partial)
    return log_likelihood


cdef void _component_sums(
    const double *xt,           # IN  (n_features, LD)
    const double *weight,       # IN  (CHUNK,) row weights
    Py_ssize_t n,               # IN  padded rows
    Py_ssize_t d,               # IN  n_features
    Py_ssize_t n_components,    # IN
    int cov,                    # IN
    const double *means,        # IN  (K, d), the shifts
    double *wresp,              # IN  (K, LD) w_r r_rk
    const double *sq,           # IN  (K, LD) squared distances (spherical, d > 8)
    double *diff,               # TMP (n_features, LD)
    double *tmp,                # TMP (CHUNK,)
    double *partial,            # INOUT [nk (K), s1 (K, d), s2 (upper triangles...)]
) noexcept nogil:
    """Add the chunk's weighted sums N_k, S1_k, S2_k around mu_k to ``partial``."""
    cdef Py_ssize_t k, r
    cdef double *nk = partial
    cdef double *s1 = partial + n_components
    cdef double *s2 = s1 + n_components * d
    cdef double *s2k
    cdef double *resp
    cdef const double *mu
    cdef bint triangular = cov == FULL or cov == TIED
    # Builds that call BLAS add S2_k += A^T A there, A = sqrt(w r) (x - mu_k): a
    # symmetric rank-n update. A chunk with a negative weight takes the blocked
    # kernels, as the other builds always do.
    cdef bint blas_gram = (
        FE_LARGE_D_BLAS and triangular and d >= FE_GRAM_MIN_D
        and _non_negative(weight, n)
    )
    for k in range(n_components):
        resp = wresp + k * LD
        mu = means + k * d
        s2k = s2 + _component_offset(cov, k, d)
        if blas_gram:
            for r in range(n):
                tmp[r] = sqrt(resp[r])
            nk[k] += fe_sum(resp, n)
            fe_centre_scaled(xt, n, d, mu, resp, tmp, diff, s1 + k * d)
            _add_gram(diff, n, d, s2k)
        elif triangular and d >= FE_GRAM_MIN_D:
            fe_centre_weighted(xt, n, d, mu, resp, diff, nk + k, s1 + k * d)
            fe_gram_upper(diff, xt, mu, n, d, s2k)
        elif cov == SPHERICAL and d > FE_SMALL_D:
            # The squared distances of the logits: one FMA per row, not d.
            s2k[0] += fe_dot(resp, sq + k * LD, n)
            fe_stats_by_feature(
                xt, n, d, FE_FIRST_ONLY, mu, resp, nk + k, s1 + k * d, NULL
            )
        elif d > FE_SMALL_D or (cov == DIAG and d >= FE_BY_FEATURE_MIN_D):
            fe_stats_by_feature(xt, n, d, _kind(cov), mu, resp, nk + k, s1 + k * d, s2k)
        else:
            fe_small_stats(xt, n, d, _kind(cov), mu, resp, nk + k, s1 + k * d, s2k)


# --- argument checks (Python level, before any pointer is taken) ---------------------


def _check_arguments(X, means, precisions_chol, log_norm, covariance_type):
    if covariance_type not in _COVARIANCE_CODES:
        raise ValueError(f"unknown covariance_type {covariance_type!r}")
    n_components, n_features = means.shape
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(f"X has shape {X.shape}, means {means.shape}")
    expected = {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]
    if precisions_chol.shape != expected:
        raise ValueError(
            f"precisions_chol has shape {precisions_chol.shape}, expected {expected}"
        )
    if log_norm.shape != (n_components,):
        raise ValueError(f"log_norm has shape {log_norm.shape}")
    return _COVARIANCE_CODES[covariance_type], expected


def _logit_frame(means, precisions_chol, int cov):
    """The means (K * d) and then the reference point (d) of ``_chunk_logits``, in one
    array. Tied covariances share U: each chunk's rows are centred on ref, the mean of
    the means, and multiplied by U once, so the means become (mu_k - ref) U. The
    centring keeps data far from the origin exact. Other types take the means as they
    are (ref unused)."""
    ref = np.mean(means, axis=0)
    if cov == TIED:
        means = (means - ref) @ np.triu(np.asarray(precisions_chol, dtype=np.float64))
    return np.concatenate([np.ravel(means), ref])


def _flat_output(array, shape, name):
    if array.shape != shape or array.dtype != np.float64 or not array.flags.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous float64 array of shape {shape}")
    return array.reshape(-1)


def _scratch_length(rows, extra, n_components, n_features):
    """Doubles of one thread's scratch: ``rows`` rows of LD and ``extra`` more.

    Python integers, so nothing wraps; MemoryError where the bytes (with the
    alignment slack) are more than malloc can be asked for. ``rows`` counts a few
    times the elements of the means, which exist: it does not wrap either.
    """
    length = rows * LD + extra
    if length * sizeof(double) + ALIGN > PY_SSIZE_T_MAX:
        raise _scratch_error(length, n_components, n_features)
    return length


def _scratch_error(length, n_components, n_features):
    return MemoryError(
        f"cannot allocate the {length * sizeof(double) / 2**20:.0f} MiB of scratch "
        f"each kernel thread needs for n_components={n_components} and "
        f"n_features={n_features} (it grows by {LD} doubles with each component)"
    )


# --- public entry points --------------------------------------------------------------


def accumulate(
    const floating[:, :] X,
    sample_weight,
    const double[:, ::1] means,
    precisions_chol,
    const double[::1] log_norm,
    str covariance_type,
    int n_threads,
    nk,
    s1,
    s2,
):
    """E-step fused with the M-step's sums; see ``_reference.gaussian.accumulate``."""
    cdef int cov
    cov, _ = _check_arguments(
        np.asarray(X), np.asarray(means), precisions_chol, np.asarray(log_norm),
        covariance_type,
    )
    cdef Py_ssize_t n_samples = X.shape[0], d = X.shape[1], K = means.shape[0]
    s2_shape = {
        FULL: (K, d, d), TIED: (d, d), DIAG: (K, d), SPHERICAL: (K,)
    }[cov]
    cdef double[::1] nk_out = _flat_output(nk, (K,), "nk")
    cdef double[::1] s1_out = _flat_output(s1, (K, d), "s1")
    cdef double[::1] s2_out = _flat_output(s2, s2_shape, "s2")
    cdef const double[::1] prec = np.ascontiguousarray(
        precisions_chol, dtype=np.float64
    ).reshape(-1)
    cdef const double[::1] weights
    cdef const double *weight_ptr = NULL
    if sample_weight is not None:
        weights = np.ascontiguousarray(sample_weight, dtype=np.float64)
        if weights.shape[0] != n_samples:
            raise ValueError("sample_weight has the wrong length")
        weight_ptr = &weights[0]
    nk_out[:] = 0.0
    s1_out[:] = 0.0
    s2_out[:] = 0.0
    if n_samples == 0:
        return 0.0

    # Fixed blocks of chunks: their number depends on the problem, never on threads.
    # Each block's sums: nk, s1, s2, the (K, K) counts of anchored tied sums, and the
    # log-likelihood.
    cdef bint anchored = (
        cov == TIED and d >= FE_ANCHORED_MIN_D
        and MIN_ANCHORED_COMPONENTS <= K <= MAX_ANCHORED_COMPONENTS
    )
    cdef Py_ssize_t s2_end = K + K * d + s2_out.shape[0]
    cdef Py_ssize_t stats_len = s2_end + (K * K if anchored else 0) + 1
    cdef Py_ssize_t n_chunks = (n_samples + CHUNK - 1) // CHUNK
    cdef Py_ssize_t max_blocks = max(1, min(MAX_BLOCKS, PARTIALS_BYTES // (8 * stats_len)))
    cdef Py_ssize_t per_block = (n_chunks + max_blocks - 1) // max_blocks
    cdef Py_ssize_t n_blocks = (n_chunks + per_block - 1) // per_block
    cdef double[:, ::1] partials = np.zeros((n_blocks, stats_len))

    cdef const char *X_ptr = <const char *> &X[0, 0]
    cdef Py_ssize_t row_stride = X.strides[0], col_stride = X.strides[1]
    cdef floating dtype_tag = 0
    cdef const double *means_ptr = &means[0, 0]
    cdef const double[::1] frame = _logit_frame(np.asarray(means), precisions_chol, cov)
    cdef const double *logit_means_ptr = &frame[0]
    cdef const double *ref_ptr = &frame[K * d]
    cdef const double *prec_ptr = &prec[0]
    cdef const double *log_norm_ptr = &log_norm[0]
    # Spherical covariances above FE_SMALL_D keep each component's squared distances
    # for the sums (up to FE_SMALL_D, recomputing them is as fast).
    cdef Py_ssize_t sq_rows = K if cov == SPHERICAL and d > FE_SMALL_D else 0
    cdef Py_ssize_t scratch_len = _scratch_length(
        3 * d + K + sq_rows, 5 * CHUNK, K, d
    )
    # Blocks left undone by threads whose scratch could not be allocated.
    cdef Py_ssize_t n_undone = 0
    cdef Py_ssize_t b, c, e, start, n_rows, n_padded
    cdef void *raw
    cdef double *scratch
    cdef double *xt
    cdef double *diff
    cdef double *diff2
    cdef double *expo
    cdef double *weight
    cdef double *row_max
    cdef double *row_sum
    cdef double *anchor
    cdef double *tmp
    cdef double *sq
    cdef double *part
    cdef double *counts

    with nogil, parallel(num_threads=n_threads):
        raw = malloc(scratch_len * sizeof(double) + ALIGN)
        if raw != NULL:
            scratch = <double *> (
                (<uintptr_t> raw + ALIGN - 1) & ~(<uintptr_t> ALIGN - 1)
            )
            xt = scratch
            diff = xt + d * LD
            diff2 = diff + d * LD
            expo = diff2 + d * LD
            weight = expo + K * LD
            row_max = weight + CHUNK
            row_sum = row_max + CHUNK
            anchor = row_sum + CHUNK
            tmp = anchor + CHUNK
            sq = tmp + CHUNK if sq_rows else NULL
        for b in prange(n_blocks, schedule="dynamic"):
            if raw == NULL:  # the thread still takes its share of the loop
                n_undone += 1
                continue
            part = &partials[b, 0]
            counts = part + s2_end if anchored else NULL
            for c in range(b * per_block, min((b + 1) * per_block, n_chunks)):
                start = c * CHUNK
                n_rows = min(<Py_ssize_t> CHUNK, n_samples - start)
                n_padded = _padded(n_rows)
                _load_chunk(
                    X_ptr, row_stride, col_stride, weight_ptr, start, n_rows,
                    n_padded, d, xt, weight, dtype_tag,
                )
                _chunk_logits(
                    xt, n_padded, d, K, cov, logit_means_ptr, ref_ptr, prec_ptr,
                    log_norm_ptr, diff, expo, sq,
                )
                if anchored:
                    fe_argmax(expo, n_padded, K, row_max, anchor)
                    fe_exp_shifted(expo, n_padded, K, row_max, row_sum)
                else:
                    fe_normalise(expo, n_padded, K, row_max, row_sum)
                part[stats_len - 1] += _chunk_statistics(
                    xt, weight, n_padded, d, K, cov, means_ptr, expo, row_max,
                    row_sum, anchor, sq, diff, diff2, tmp, part, counts,
                )
        free(raw)
    if n_undone:
        raise _scratch_error(scratch_len, K, d)

    # Blocks are added in order: the same bits for any number of threads.
    cdef double[::1] total = np.zeros(stats_len)
    for b in range(n_blocks):
        for e in range(stats_len):
            total[e] += partials[b, e]
    nk_out[:] = total[:K]
    s1_out[:] = total[K:K + K * d]
    s2_out[:] = total[K + K * d:s2_end]
    if anchored:
        # The anchors' part of fe_tied_second_moments: sum_{c, k} counts[c, k]
        # (mu_c - mu_k)(mu_c - mu_k)^T.
        delta = np.asarray(means)[:, np.newaxis] - np.asarray(means)  # mu_c - mu_k
        counts_total = np.asarray(total[s2_end:stats_len - 1]).reshape(K, K)
        s2 += np.einsum("ck,cki,ckj->ij", counts_total, delta, delta)
    if cov == FULL or cov == TIED:
        _mirror_upper(s2)
    return total[stats_len - 1]


def _mirror_upper(s2):
    """Copy the upper triangles the kernel filled onto the lower ones."""
    upper = np.triu(s2)
    s2[...] = upper + np.swapaxes(np.triu(s2, 1), -1, -2)


def score(
    const floating[:, :] X,
    const double[:, ::1] means,
    precisions_chol,
    const double[::1] log_norm,
    str covariance_type,
    int n_threads,
    double[::1] log_prob_norm,  # may be None
    double[:, ::1] resp,
    long long[::1] labels,
):
    """Per-row log-likelihood, responsibilities, labels; see ``_reference.gaussian.score``."""
    cdef int cov
    cov, _ = _check_arguments(
        np.asarray(X), np.asarray(means), precisions_chol, np.asarray(log_norm),
        covariance_type,
    )
    cdef Py_ssize_t n_samples = X.shape[0], d = X.shape[1], K = means.shape[0]
    if log_prob_norm is not None and log_prob_norm.shape[0] != n_samples:
        raise ValueError("log_prob_norm has the wrong length")
    if resp is not None and (resp.shape[0] != n_samples or resp.shape[1] != K):
        raise ValueError("resp has the wrong shape")
    if labels is not None and labels.shape[0] != n_samples:
        raise ValueError("labels has the wrong length")
    if n_samples == 0:
        return
    cdef const double[::1] prec = np.ascontiguousarray(
        precisions_chol, dtype=np.float64
    ).reshape(-1)
    cdef bint want_resp = resp is not None
    cdef bint want_labels = labels is not None
    cdef double *resp_ptr = &resp[0, 0] if want_resp else NULL
    cdef long long *labels_ptr = &labels[0] if want_labels else NULL
    cdef bint want_log_prob = log_prob_norm is not None
    cdef double *lpn_ptr = &log_prob_norm[0] if want_log_prob else NULL
    cdef const char *X_ptr = <const char *> &X[0, 0]
    cdef Py_ssize_t row_stride = X.strides[0], col_stride = X.strides[1]
    cdef floating dtype_tag = 0
    cdef const double[::1] frame = _logit_frame(np.asarray(means), precisions_chol, cov)
    cdef const double *logit_means_ptr = &frame[0]
    cdef const double *ref_ptr = &frame[K * d]
    cdef const double *prec_ptr = &prec[0]
    cdef const double *log_norm_ptr = &log_norm[0]
    cdef Py_ssize_t n_chunks = (n_samples + CHUNK - 1) // CHUNK
    cdef Py_ssize_t scratch_len = _scratch_length(2 * d + K, 4 * CHUNK, K, d)
    # Chunks left undone by threads whose scratch could not be allocated.
    cdef Py_ssize_t n_undone = 0
    cdef Py_ssize_t c, k, r, start, n_rows, n_padded, best
    cdef void *raw
    cdef double *scratch
    cdef double *xt
    cdef double *diff
    cdef double *expo
    cdef double *weight
    cdef double *row_max
    cdef double *row_sum
    cdef double *tmp

    with nogil, parallel(num_threads=n_threads):
        raw = malloc(scratch_len * sizeof(double) + ALIGN)
        if raw != NULL:
            scratch = <double *> (
                (<uintptr_t> raw + ALIGN - 1) & ~(<uintptr_t> ALIGN - 1)
            )
            xt = scratch
            diff = xt + d * LD
            expo = diff + d * LD
            weight = expo + K * LD
            row_max = weight + CHUNK
            row_sum = row_max + CHUNK
            tmp = row_sum + CHUNK
        for c in prange(n_chunks, schedule="dynamic"):
            if raw == NULL:  # the thread still takes its share of the loop
                n_undone += 1
                continue
            start = c * CHUNK
            n_rows = min(<Py_ssize_t> CHUNK, n_samples - start)
            n_padded = _padded(n_rows)
            _load_chunk(
                X_ptr, row_stride, col_stride, <const double *> NULL, start, n_rows,
                n_padded, d, xt, weight, dtype_tag,
            )
            _chunk_logits(
                xt, n_padded, d, K, cov, logit_means_ptr, ref_ptr, prec_ptr,
                log_norm_ptr, diff, expo, NULL,
            )
            if want_labels:
                fe_argmax(expo, n_padded, K, row_max, row_sum)
                for r in range(n_rows):
                    labels_ptr[start + r] = <long long> row_sum[r]
            if not (want_log_prob or want_resp):
                continue
            fe_normalise(expo, n_padded, K, row_max, row_sum)
            if want_log_prob:
                fe_log_sum_exp(row_max, row_sum, n_rows, lpn_ptr + start)
            if want_resp:
                fe_write_resp(expo, n_rows, K, row_sum, weight, resp_ptr + start * K)
        free(raw)
    if n_undone:
        raise _scratch_error(scratch_len, K, d)


def component_log_prob(
    const floating[:, :] X,
    const double[:, ::1] means,
    precisions_chol,
    const double[::1] log_norm,
    str covariance_type,
    int n_threads,
    double[:, ::1] out,
):
    """log_norm_k - q_nk / 2 of each row and component (the per-component log-densities
    that hidden Markov models combine themselves); see
    ``_reference.gaussian.component_log_prob``."""
    cdef int cov
    cov, _ = _check_arguments(
        np.asarray(X), np.asarray(means), precisions_chol, np.asarray(log_norm),
        covariance_type,
    )
    cdef Py_ssize_t n_samples = X.shape[0], d = X.shape[1], K = means.shape[0]
    if out.shape[0] != n_samples or out.shape[1] != K:
        raise ValueError("out has the wrong shape")
    if n_samples == 0:
        return
    cdef const double[::1] prec = np.ascontiguousarray(
        precisions_chol, dtype=np.float64
    ).reshape(-1)
    cdef double *out_ptr = &out[0, 0]
    cdef const char *X_ptr = <const char *> &X[0, 0]
    cdef Py_ssize_t row_stride = X.strides[0], col_stride = X.strides[1]
    cdef floating dtype_tag = 0
    cdef const double[::1] frame = _logit_frame(np.asarray(means), precisions_chol, cov)
    cdef const double *logit_means_ptr = &frame[0]
    cdef const double *ref_ptr = &frame[K * d]
    cdef const double *prec_ptr = &prec[0]
    cdef const double *log_norm_ptr = &log_norm[0]
    cdef Py_ssize_t n_chunks = (n_samples + CHUNK - 1) // CHUNK
    cdef Py_ssize_t scratch_len = _scratch_length(2 * d + K, CHUNK, K, d)
    cdef Py_ssize_t n_undone = 0  # chunks of threads whose scratch malloc failed
    cdef Py_ssize_t c, k, r, start, n_rows, n_padded
    cdef void *raw
    cdef double *scratch
    cdef double *xt
    cdef double *diff
    cdef double *logit
    cdef double *weight
    cdef double *row

    with nogil, parallel(num_threads=n_threads):
        raw = malloc(scratch_len * sizeof(double) + ALIGN)
        if raw != NULL:
            scratch = <double *> (
                (<uintptr_t> raw + ALIGN - 1) & ~(<uintptr_t> ALIGN - 1)
            )
            xt = scratch
            diff = xt + d * LD
            logit = diff + d * LD
            weight = logit + K * LD
        for c in prange(n_chunks, schedule="dynamic"):
            if raw == NULL:  # the thread still takes its share of the loop
                n_undone += 1
                continue
            start = c * CHUNK
            n_rows = min(<Py_ssize_t> CHUNK, n_samples - start)
            n_padded = _padded(n_rows)
            _load_chunk(
                X_ptr, row_stride, col_stride, <const double *> NULL, start, n_rows,
                n_padded, d, xt, weight, dtype_tag,
            )
            _chunk_logits(
                xt, n_padded, d, K, cov, logit_means_ptr, ref_ptr, prec_ptr,
                log_norm_ptr, diff, logit, NULL,
            )
            # Component by component in the chunk, row by row out.
            for r in range(n_rows):
                row = out_ptr + (start + r) * K
                for k in range(K):
                    row[k] = logit[k * LD + r]
        free(raw)
    if n_undone:
        raise _scratch_error(scratch_len, K, d)


def stats_given(
    const floating[:, :] X,
    sample_weight,
    const double[:, ::1] resp,
    const double[:, ::1] means,
    str covariance_type,
    int n_threads,
    nk,
    s1,
    s2,
):
    """The M-step's sums given the responsibilities (hidden Markov models' posteriors);
    see ``_reference.gaussian.stats_given``."""
    if covariance_type not in _COVARIANCE_CODES:
        raise ValueError(f"unknown covariance_type {covariance_type!r}")
    cdef int cov = _COVARIANCE_CODES[covariance_type]
    cdef Py_ssize_t n_samples = X.shape[0], d = X.shape[1], K = means.shape[0]
    if means.shape[1] != d:
        raise ValueError(f"X has shape {np.shape(X)}, means {np.shape(means)}")
    if resp.shape[0] != n_samples or resp.shape[1] != K:
        raise ValueError("resp has the wrong shape")
    s2_shape = {
        FULL: (K, d, d), TIED: (d, d), DIAG: (K, d), SPHERICAL: (K,)
    }[cov]
    cdef double[::1] nk_out = _flat_output(nk, (K,), "nk")
    cdef double[::1] s1_out = _flat_output(s1, (K, d), "s1")
    cdef double[::1] s2_out = _flat_output(s2, s2_shape, "s2")
    cdef const double[::1] weights
    cdef const double *weight_ptr = NULL
    if sample_weight is not None:
        weights = np.ascontiguousarray(sample_weight, dtype=np.float64)
        if weights.shape[0] != n_samples:
            raise ValueError("sample_weight has the wrong length")
        weight_ptr = &weights[0]
    nk_out[:] = 0.0
    s1_out[:] = 0.0
    s2_out[:] = 0.0
    if n_samples == 0:
        return

    # Fixed blocks of chunks, as in accumulate: each block's nk, s1, s2.
    cdef Py_ssize_t stats_len = K + K * d + s2_out.shape[0]
    cdef Py_ssize_t n_chunks = (n_samples + CHUNK - 1) // CHUNK
    cdef Py_ssize_t max_blocks = max(1, min(MAX_BLOCKS, PARTIALS_BYTES // (8 * stats_len)))
    cdef Py_ssize_t per_block = (n_chunks + max_blocks - 1) // max_blocks
    cdef Py_ssize_t n_blocks = (n_chunks + per_block - 1) // per_block
    cdef double[:, ::1] partials = np.zeros((n_blocks, stats_len))

    cdef const char *X_ptr = <const char *> &X[0, 0]
    cdef Py_ssize_t row_stride = X.strides[0], col_stride = X.strides[1]
    cdef floating dtype_tag = 0
    cdef const double *means_ptr = &means[0, 0]
    cdef const double *resp_ptr = &resp[0, 0]
    # Spherical covariances above FE_SMALL_D take their second moments from each
    # component's squared distances, as accumulate does (fe_logits gives them).
    cdef Py_ssize_t sq_rows = K if cov == SPHERICAL and d > FE_SMALL_D else 0
    cdef Py_ssize_t scratch_len = _scratch_length(2 * d + K + sq_rows, 2 * CHUNK, K, d)
    cdef Py_ssize_t n_undone = 0  # blocks of threads whose scratch malloc failed
    cdef Py_ssize_t b, c, e, k, r, start, n_rows, n_padded
    cdef void *raw
    cdef double *scratch
    cdef double *xt
    cdef double *diff
    cdef double *wresp
    cdef double *weight
    cdef double *tmp
    cdef double *sq
    cdef double *part
    cdef const double *resp_row

    with nogil, parallel(num_threads=n_threads):
        raw = malloc(scratch_len * sizeof(double) + ALIGN)
        if raw != NULL:
            scratch = <double *> (
                (<uintptr_t> raw + ALIGN - 1) & ~(<uintptr_t> ALIGN - 1)
            )
            xt = scratch
            diff = xt + d * LD
            wresp = diff + d * LD
            weight = wresp + K * LD
            tmp = weight + CHUNK
            sq = tmp + CHUNK if sq_rows else NULL
        for b in prange(n_blocks, schedule="dynamic"):
            if raw == NULL:  # the thread still takes its share of the loop
                n_undone += 1
                continue
            part = &partials[b, 0]
            for c in range(b * per_block, min((b + 1) * per_block, n_chunks)):
                start = c * CHUNK
                n_rows = min(<Py_ssize_t> CHUNK, n_samples - start)
                n_padded = _padded(n_rows)
                _load_chunk(
                    X_ptr, row_stride, col_stride, weight_ptr, start, n_rows,
                    n_padded, d, xt, weight, dtype_tag,
                )
                # w_r r_rk, component by component (zero on the padding rows).
                for r in range(n_rows):
                    resp_row = resp_ptr + (start + r) * K
                    for k in range(K):
                        wresp[k * LD + r] = weight[r] * resp_row[k]
                for k in range(K):
                    for r in range(n_rows, n_padded):
                        wresp[k * LD + r] = 0.0
                if sq_rows:
                    for k in range(K):
                        fe_logits(
                            xt, n_padded, d, FE_SCALAR, means_ptr + k * d,
                            &UNIT_PRECISION, 0.0, diff, sq + k * LD,
                        )
                _component_sums(
                    xt, weight, n_padded, d, K, cov, means_ptr, wresp, sq, diff, tmp,
                    part,
                )
        free(raw)
    if n_undone:
        raise _scratch_error(scratch_len, K, d)

    # Blocks are added in order: the same bits for any number of threads.
    cdef double[::1] total = np.zeros(stats_len)
    for b in range(n_blocks):
        for e in range(stats_len):
            total[e] += partials[b, e]
    nk_out[:] = total[:K]
    s1_out[:] = total[K:K + K * d]
    s2_out[:] = total[K + K * d:]
    if cov == FULL or cov == TIED:
        _mirror_upper(s2)


# Elements per work item of ``exp``: large enough to amortise the schedule.
cdef Py_ssize_t EXP_BLOCK = 1 << 16


def exp(const double[::1] x, double[::1] out, int n_threads):
    """out = exp(x) by the vectorised exp of the E-steps (one per row and component).

    Its domain is theirs, x <= 0 (log-probabilities relative to a row's maximum),
    where it is within 1 ulp of exp; below -708 it gives 0. Benchmarks time it to
    bound what the exps of an E-step can cost (``benchmarks/compare.py``).
    """
    cdef Py_ssize_t n = x.shape[0], b, start
    if out.shape[0] != n:
        raise ValueError(f"out has {out.shape[0]} elements; x has {n}")
    if n == 0:
        return
    cdef Py_ssize_t n_blocks = (n + EXP_BLOCK - 1) // EXP_BLOCK
    cdef const double *x_ptr = &x[0]
    cdef double *out_ptr = &out[0]
    with nogil:
        for b in prange(n_blocks, schedule="static", num_threads=n_threads):
            start = b * EXP_BLOCK
            fe_exp_array(x_ptr + start, out_ptr + start, min(EXP_BLOCK, n - start))
