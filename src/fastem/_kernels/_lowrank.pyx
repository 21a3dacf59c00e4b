"""Fused EM kernels of factor models, probabilistic PCA and factor analysis, on the
observed entries of each row (Cython + OpenMP).

A row observes some of its d features: dense rows those that are not NaN, CSR rows
their stored entries. With q factors, loadings W (d, q), mean mu and noise variances
psi, its E-step is M = I + W_O^T Psi_O^-1 W_O (q x q), one Cholesky factorisation,
the posterior mean m = M^-1 W_O^T Psi_O^-1 (x_O - mu_O) and covariance M^-1 of its
factors, and the log-density of x_O (``fastem._latent.factors`` has the maths). A
dense row observing at least half the features starts from M_full = I + W^T Psi^-1 W,
factored once per call, and takes off the features it misses; one observing all of
them takes M_full's factor as it is.

Each observed entry (i, j) then adds the row's weighted r_ij E[z~] (z~ = (z, 1)),
r_ij^2 and packed E[z~ z~^T] to feature j's record of the statistics (one contiguous
run of q + 1 + P + 1 doubles, P = (q + 1)(q + 2) / 2); a dense row observing at
least half the features adds its E[z~ z~^T] once to the shared sums and takes it
off the features it misses instead. O(nnz q^2 + n q^3) per pass; nothing of size
n x d is allocated, CSR rows are read in their own types and never densified.

Bits do not depend on the thread count: rows are grouped into blocks fixed by the
problem, each block's sums are kept apart, and the blocks are added in order at the
end; a dynamic schedule over blocks balances the load.

The contract of every public function is the twin's, in ``_reference/lowrank.py``.
"""

from cython.parallel cimport parallel, prange
from libc.math cimport isnan
from libc.stdint cimport uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

import numpy as np

from ._lowrank_checks import (
    check_accumulate,
    check_score,
    packed_length,
    record_length,
)

__all__ = ["accumulate", "score"]


cdef extern from "_lowrank.h" nogil:
    # The fixed blocks of a pass and the alignment of per-thread scratch (_simd.h).
    const Py_ssize_t PARTIALS_BYTES "FE_PARTIALS_BYTES"
    const Py_ssize_t MAX_BLOCKS "FE_MAX_BLOCKS"
    const Py_ssize_t ALIGN "FE_ALIGN"
    const double LOG_2PI "FL_LOG_2PI"
    void fl_identity(double *M, Py_ssize_t q)
    double fl_cholesky(double *a, Py_ssize_t q)
    void fl_cholesky_solve(const double *L, const double *b, double *x, Py_ssize_t q)
    void fl_cholesky_inverse(const double *L, double *inverse, double *work,
                             Py_ssize_t q)
    void fl_second_moments(const double *cov, const double *m, double weight,
                           Py_ssize_t q, double *packed)
    double fl_csr_precision(const void *data, const void *indices, Py_ssize_t p0,
                            Py_ssize_t p1, Py_ssize_t d, const double *mu,
                            const double *w, const double *wp, const double *inv_psi,
                            const double *log_psi, Py_ssize_t q, double *M, double *b,
                            double *log_noise, int *bad, int single, int narrow)
    void fl_csr_stats(const void *data, const void *indices, Py_ssize_t p0,
                      Py_ssize_t p1, const double *mu, const double *zt, double weight,
                      const double *packed, Py_ssize_t q, Py_ssize_t P, Py_ssize_t L,
                      double *records, int single, int narrow)
    Py_ssize_t fl_dense_read(const char *row, Py_ssize_t cs, Py_ssize_t d,
                             const double *mu, double *r, Py_ssize_t *list, int single)
    double fl_dense_precision(const Py_ssize_t *list, Py_ssize_t count,
                              const double *w, const double *wp, const double *log_psi,
                              Py_ssize_t q, double sign, double *M)
    double fl_dense_project(const double *r, const Py_ssize_t *list,
                            Py_ssize_t n_observed, const double *wp,
                            const double *inv_psi, Py_ssize_t q, double *b)
    void fl_dense_stats(const double *r, const Py_ssize_t *list, Py_ssize_t n_observed,
                        Py_ssize_t d, int complement, const double *zt, double weight,
                        const double *packed, Py_ssize_t q, Py_ssize_t P, Py_ssize_t L,
                        double *records, double *shared)


# A block's partial sums cost O(their size) to clear and add up: each block gets at
# least this many times as much work (about a multiply-add per unit).
cdef Py_ssize_t WORK_PER_PARTIAL = 16
# The partial sums of all blocks take at most the larger of FE_PARTIALS_BYTES and
# this fraction of X's bytes: a wide problem (d q^2 sums per block) still gets
# enough blocks to share out between threads.
cdef Py_ssize_t PARTIALS_PER_DATA = 4
# Rows per chunk of score's parallel loop.
cdef Py_ssize_t SCORE_ROWS = 256
cdef Py_ssize_t ALIGN_DOUBLES = ALIGN // 8
# Blocks' partial sums are added up in tiles of this many entries.
cdef Py_ssize_t TILE = 4096

# What a block or chunk of rows ends with.
cdef enum:
    DONE = 0
    NO_MEMORY = 1
    BAD_INDEX = 2
    NOT_POSITIVE_DEFINITE = 3


include "_rows.pxi"


cdef struct Model:
    Py_ssize_t q               # factors
    Py_ssize_t P               # (q + 1)(q + 2) / 2
    Py_ssize_t L               # doubles of a feature's record: q + 1 + P + 1
    const double *mu           # (d,)
    const double *w            # (d, q) loadings
    const double *wp           # (d, q) loadings / psi
    const double *inv_psi      # (d,)
    const double *log_psi      # (d,)
    double log_psi_total       # sum_j log psi_j
    const double *full_precision  # (q, q) M_full = I + W^T Psi^-1 W
    const double *full_factor  # (q, q) its lower Cholesky factor
    const double *full_cov     # (q, q) its inverse
    double full_log_det


cdef struct Scratch:
    # A thread's buffers, each starting on a cache line.
    double *r                  # dense: (d,) residuals of the row's observed entries
    Py_ssize_t *list           # dense: (d,) observed features, then missing ones
    double *M                  # (q, q) precision, then its factor
    double *cov                # (q, q) posterior covariance
    double *work               # (q, q)
    double *b                  # (q,) projection, W_O^T Psi_O^-1 r
    double *zt                 # (q + 1,) posterior mean m, then 1
    double *packed             # (P,) weighted E[z~ z~^T], packed


# --- helpers --------------------------------------------------------------------------


cdef inline Py_ssize_t _aligned(Py_ssize_t n_doubles) noexcept nogil:
    return (n_doubles + ALIGN_DOUBLES - 1) // ALIGN_DOUBLES * ALIGN_DOUBLES


cdef Py_ssize_t _scratch_doubles(Py_ssize_t d, Py_ssize_t q, Py_ssize_t P) noexcept nogil:
    """Doubles of one thread's scratch (``_carve_scratch``'s layout); the list of
    features counts as d doubles (Py_ssize_t is 8 bytes on 64-bit platforms, at most
    that elsewhere)."""
    return (
        2 * _aligned(d) + 3 * _aligned(q * q) + _aligned(q) + _aligned(q + 1)
        + _aligned(P)
    )


cdef Scratch _carve_scratch(double *base, Py_ssize_t d, Py_ssize_t q,
                            Py_ssize_t P) noexcept nogil:
    cdef Scratch s
    s.r = base
    s.list = <Py_ssize_t *> (s.r + _aligned(d))
    s.M = s.r + 2 * _aligned(d)
    s.cov = s.M + _aligned(q * q)
    s.work = s.cov + _aligned(q * q)
    s.b = s.work + _aligned(q * q)
    s.zt = s.b + _aligned(q)
    s.packed = s.zt + _aligned(q + 1)
    return s


cdef inline Py_ssize_t _csr_row_start(const Source *src, Py_ssize_t row) noexcept nogil:
    if src.narrow:
        return (<const int *> src.indptr)[row]
    return (<const long long *> src.indptr)[row]


cdef int _row_posterior(
    const Source *src,          # IN
    const Model *model,         # IN
    Py_ssize_t i,               # IN  the row
    bint with_covariance,       # IN  also the posterior covariance (into s.cov)
    Scratch *s,                 # OUT zt[:q] the posterior mean, cov; dense: r, list
    double *log_prob,           # OUT log p(x_O)
    Py_ssize_t *n_observed,     # OUT o
    bint *complement,           # OUT dense row observing at least half the features
) noexcept nogil:
    """Row i's posterior and log-density. Returns DONE, BAD_INDEX or
    NOT_POSITIVE_DEFINITE."""
    cdef Py_ssize_t q = model.q, d = src.n_features, p0, p1, o
    cdef double quad, log_noise = 0.0, log_det
    cdef const double *factor
    cdef int bad = 0
    cdef bint full = False
    cdef Py_ssize_t a
    memset(s.b, 0, q * sizeof(double))
    complement[0] = False
    if src.sparse:
        p0 = _csr_row_start(src, i)
        p1 = _csr_row_start(src, i + 1)
        fl_identity(s.M, q)
        quad = fl_csr_precision(
            src.data, src.indices, p0, p1, d, model.mu, model.w, model.wp,
            model.inv_psi, model.log_psi, q, s.M, s.b, &log_noise, &bad, src.single,
            src.narrow,
        )
        if bad:
            return BAD_INDEX
        o = p1 - p0
    else:
        o = fl_dense_read(
            src.X + i * src.row_stride, src.col_stride, d, model.mu, s.r, s.list,
            src.single,
        )
        complement[0] = 2 * o >= d
        full = o == d
        if full:
            log_noise = model.log_psi_total
        elif complement[0]:
            memcpy(s.M, model.full_precision, q * q * sizeof(double))
            log_noise = model.log_psi_total - fl_dense_precision(
                s.list + o, d - o, model.w, model.wp, model.log_psi, q, -1.0, s.M
            )
        else:
            fl_identity(s.M, q)
            log_noise = fl_dense_precision(
                s.list, o, model.w, model.wp, model.log_psi, q, 1.0, s.M
            )
        quad = fl_dense_project(s.r, s.list, o, model.wp, model.inv_psi, q, s.b)
    if full:
        factor = model.full_factor
        log_det = model.full_log_det
    else:
        log_det = fl_cholesky(s.M, q)
        if isnan(log_det):
            return NOT_POSITIVE_DEFINITE
        factor = s.M
    fl_cholesky_solve(factor, s.b, s.zt, q)
    for a in range(q):
        quad -= s.b[a] * s.zt[a]
    log_prob[0] = -0.5 * (o * LOG_2PI + log_noise + log_det + quad)
    n_observed[0] = o
    if with_covariance:
        if full:
            memcpy(s.cov, model.full_cov, q * q * sizeof(double))
        else:
            fl_cholesky_inverse(factor, s.cov, s.work, q)
    return DONE


# --- preparing a call -----------------------------------------------------------------


cdef object _prepare_model(loadings, mean, noise_variance, Model *model):
    """Fill ``model`` (M_full factored by the same code as every row's precision);
    return the arrays it points into."""
    cdef Py_ssize_t d = loadings.shape[0], q = loadings.shape[1], j
    cdef double[:, ::1] scaled = loadings / noise_variance[:, np.newaxis]
    cdef double[::1] inv_psi = 1.0 / noise_variance
    cdef double[::1] log_psi = np.log(noise_variance)
    cdef double[:, ::1] precision = np.empty((q, q))
    cdef double[:, ::1] factor = np.empty((q, q))
    cdef double[:, ::1] cov = np.empty((q, q))
    cdef double[:, ::1] work = np.empty((q, q))
    cdef const double[:, ::1] w = loadings
    cdef const double[::1] mu = mean
    cdef Py_ssize_t[::1] every = np.arange(d, dtype=np.intp)
    model.q = q
    model.P = packed_length(q)
    model.L = record_length(q)
    model.mu = &mu[0]
    model.w = &w[0, 0]
    model.wp = &scaled[0, 0]
    model.inv_psi = &inv_psi[0]
    model.log_psi = &log_psi[0]
    model.full_precision = &precision[0, 0]
    model.full_factor = &factor[0, 0]
    model.full_cov = &cov[0, 0]
    with nogil:
        fl_identity(&precision[0, 0], q)
        model.log_psi_total = fl_dense_precision(
            &every[0], d, model.w, model.wp, model.log_psi, q, 1.0, &precision[0, 0]
        )
        memcpy(&factor[0, 0], &precision[0, 0], q * q * sizeof(double))
        model.full_log_det = fl_cholesky(&factor[0, 0], q)
        if not isnan(model.full_log_det):
            fl_cholesky_inverse(&factor[0, 0], &cov[0, 0], &work[0, 0], q)
    if isnan(model.full_log_det):
        raise ValueError(_NOT_POSITIVE_DEFINITE)
    return scaled, inv_psi, log_psi, precision, factor, cov, w, mu


def _block_bounds(X, bint sparse, Py_ssize_t stats_len, Py_ssize_t row_work):
    """Row bounds (n_blocks + 1,) of the blocks: fixed by the problem, never by the
    thread count, balancing the work (one unit per row and per observed entry)."""
    n_samples, n_features = X.shape
    if sparse:
        work = X.indptr.astype(np.int64) - X.indptr[0] + np.arange(n_samples + 1)
        data_bytes = X.data.nbytes + X.indices.nbytes
    else:
        work = np.arange(n_samples + 1, dtype=np.int64) * (n_features + 1)
        data_bytes = X.size * X.itemsize
    budget = max(PARTIALS_BYTES, data_bytes // PARTIALS_PER_DATA)
    n_blocks = max(1, min(
        MAX_BLOCKS,
        n_samples,
        budget // (8 * stats_len),
        int(work[n_samples]) * row_work // (WORK_PER_PARTIAL * stats_len),
    ))
    targets = work[n_samples] * np.arange(1, n_blocks) // n_blocks
    cuts = np.searchsorted(work, targets)
    return np.unique(np.concatenate(([0], cuts, [n_samples])))


_NOT_POSITIVE_DEFINITE = (
    "a row's posterior precision I + W_O^T Psi_O^-1 W_O is not positive definite: "
    "the loadings or noise variances are not finite or far out of scale"
)


def _raise_for(status):
    """The error of the first failed block or chunk, if any."""
    status = np.asarray(status)
    if np.any(status == NO_MEMORY):
        raise MemoryError("out of memory for the kernels' scratch")
    if np.any(status == BAD_INDEX):
        raise ValueError("X.indices has a column index outside [0, n_features)")
    if np.any(status == NOT_POSITIVE_DEFINITE):
        raise ValueError(_NOT_POSITIVE_DEFINITE)


def _aligned_empty(n_rows, n_columns):
    """An uninitialised float64 array of shape (n_rows, n_columns rounded up to cache
    lines), each row on a cache line."""
    stride = _aligned(n_columns)
    flat = np.empty(n_rows * stride + ALIGN_DOUBLES)
    offset = (-flat.ctypes.data % ALIGN) // flat.itemsize
    return flat[offset:offset + n_rows * stride].reshape(n_rows, stride)


# --- public entry points --------------------------------------------------------------


def accumulate(
    X,
    sample_weight,
    loadings,
    mean,
    noise_variance,
    n_threads,
    per_feature,
    shared,
):
    """E-step fused with the M-step's sums; see ``_reference.lowrank.accumulate``."""
    args = check_accumulate(
        X, sample_weight, loadings, mean, noise_variance, n_threads, per_feature, shared
    )
    cdef Py_ssize_t n_samples = args.n_samples, d = args.n_features
    cdef Py_ssize_t q = args.n_components
    cdef bint sparse = args.sparse
    if n_samples == 0:
        per_feature[...] = 0.0
        shared[...] = 0.0
        return 0.0
    cdef Source src
    cdef Model model
    # The arrays src and model point into, alive until the call returns.
    source_arrays = _describe(X, sparse, args.sample_weight, &src)
    model_arrays = _prepare_model(loadings, mean, noise_variance, &model)
    cdef Py_ssize_t P = model.P, L = model.L

    # Each block's sums, each part on a cache line: the records (d, L), the shared
    # second moments (P), the log-likelihood.
    cdef Py_ssize_t shared_at = _aligned(d * L), ll_at = shared_at + _aligned(P)
    cdef Py_ssize_t stats_len = ll_at + 1
    cdef const long long[::1] bounds = _block_bounds(
        X, sparse, stats_len, L + q
    ).astype(np.int64)
    cdef Py_ssize_t n_blocks = bounds.shape[0] - 1
    # Each block clears its own sums, on the thread that adds to them.
    cdef double[:, ::1] partials = _aligned_empty(n_blocks, stats_len)
    cdef signed char[::1] status = np.zeros(n_blocks, dtype=np.int8)
    cdef int threads = min(n_threads, n_blocks)
    cdef Py_ssize_t scratch_len = _scratch_doubles(d, q, P)
    cdef Py_ssize_t c, i, o
    cdef int outcome
    cdef bint complement
    cdef double weight, log_prob
    cdef void *raw
    cdef Scratch s
    cdef double *part

    with nogil, parallel(num_threads=threads):
        raw = malloc(scratch_len * sizeof(double) + ALIGN)
        if raw != NULL:
            s = _carve_scratch(
                <double *> ((<uintptr_t> raw + ALIGN - 1) & ~(<uintptr_t> ALIGN - 1)),
                d, q, P,
            )
        for c in prange(n_blocks, schedule="dynamic"):
            if raw == NULL:
                status[c] = NO_MEMORY
                continue
            part = &partials[c, 0]
            memset(part, 0, stats_len * sizeof(double))
            for i in range(bounds[c], bounds[c + 1]):
                weight = 1.0
                if src.sample_weight != NULL:
                    weight = src.sample_weight[i]
                    if weight == 0.0:
                        continue
                # Assigned here so that each thread has its own (Cython shares a
                # variable the loop only writes through a pointer).
                log_prob = 0.0
                o = 0
                complement = False
                outcome = _row_posterior(
                    &src, &model, i, True, &s, &log_prob, &o, &complement
                )
                if outcome != DONE:
                    status[c] = outcome
                    break
                part[ll_at] += weight * log_prob
                s.zt[q] = 1.0
                fl_second_moments(s.cov, s.zt, weight, q, s.packed)
                if sparse:
                    fl_csr_stats(
                        src.data, src.indices, _csr_row_start(&src, i),
                        _csr_row_start(&src, i + 1), model.mu, s.zt, weight,
                        s.packed, q, P, L, part, src.single, src.narrow,
                    )
                else:
                    fl_dense_stats(
                        s.r, s.list, o, d, complement, s.zt, weight, s.packed, q, P,
                        L, part, part + shared_at,
                    )
        free(raw)
    _raise_for(status)

    # Blocks are added in order, entry by entry: the same bits for any number of
    # threads (which only share out the tiles of entries).
    cdef double[::1] total = np.empty(stats_len)
    cdef Py_ssize_t n_tiles = (stats_len + TILE - 1) // TILE, t, e, lo, hi
    with nogil:
        for t in prange(n_tiles, num_threads=threads, schedule="static"):
            lo = t * TILE
            hi = min(lo + TILE, stats_len)
            for e in range(lo, hi):
                total[e] = partials[0, e]
            for c in range(1, n_blocks):
                for e in range(lo, hi):
                    total[e] += partials[c, e]
    totals = np.asarray(total)
    per_feature[...] = totals[:d * L].reshape(d, L)
    shared[...] = totals[shared_at:shared_at + P]
    return float(total[ll_at])


def score(X, loadings, mean, noise_variance, n_threads, log_prob, factors):
    """Per-row log-density and posterior factor means; see
    ``_reference.lowrank.score``."""
    args = check_score(
        X, loadings, mean, noise_variance, n_threads, log_prob, factors
    )
    cdef Py_ssize_t n_samples = args.n_samples, d = args.n_features
    cdef Py_ssize_t q = args.n_components
    if n_samples == 0:
        return
    cdef Source src
    cdef Model model
    source_arrays = _describe(X, args.sparse, None, &src)
    model_arrays = _prepare_model(loadings, mean, noise_variance, &model)
    cdef double[::1] log_prob_view
    cdef double[:, ::1] factors_view
    cdef double *log_prob_ptr = NULL
    cdef double *factors_ptr = NULL
    if log_prob is not None:
        log_prob_view = log_prob
        log_prob_ptr = &log_prob_view[0]
    if factors is not None:
        factors_view = factors
        factors_ptr = &factors_view[0, 0]

    cdef Py_ssize_t n_chunks = (n_samples + SCORE_ROWS - 1) // SCORE_ROWS
    cdef signed char[::1] status = np.zeros(n_chunks, dtype=np.int8)
    cdef int threads = min(n_threads, n_chunks)
    cdef Py_ssize_t scratch_len = _scratch_doubles(d, q, model.P)
    cdef Py_ssize_t c, i, o
    cdef int outcome
    cdef bint complement
    cdef double row_log_prob
    cdef void *raw
    cdef Scratch s

    with nogil, parallel(num_threads=threads):
        raw = malloc(scratch_len * sizeof(double) + ALIGN)
        if raw != NULL:
            s = _carve_scratch(
                <double *> ((<uintptr_t> raw + ALIGN - 1) & ~(<uintptr_t> ALIGN - 1)),
                d, q, model.P,
            )
        for c in prange(n_chunks, schedule="dynamic"):
            if raw == NULL:
                status[c] = NO_MEMORY
                continue
            for i in range(c * SCORE_ROWS, min((c + 1) * SCORE_ROWS, n_samples)):
                # Assigned here so that each thread has its own (see accumulate).
                row_log_prob = 0.0
                o = 0
                complement = False
                outcome = _row_posterior(
                    &src, &model, i, False, &s, &row_log_prob, &o, &complement
                )
                if outcome != DONE:
                    status[c] = outcome
                    break
                if log_prob_ptr != NULL:
                    log_prob_ptr[i] = row_log_prob
                if factors_ptr != NULL:
                    memcpy(factors_ptr + i * q, s.zt, q * sizeof(double))
        free(raw)
    _raise_for(status)
