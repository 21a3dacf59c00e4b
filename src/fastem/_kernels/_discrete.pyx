"""Fused EM kernels for mixtures of discrete data: Bernoulli and multinomial
(Cython + OpenMP).

For one row x and K components of weights w_k the model is

    log p(x, k) = log w_k + b_k + sum_j x_j A_kj  (+ c(x)),

Bernoulli: A_kj = log(p_kj / (1 - p_kj)), b_k = sum_j B_kj, B_kj = log(1 - p_kj), and
a missing (NaN) x_j of dense X takes B_kj off the row's constant; multinomial:
A_kj = log theta_kj, b_k = 0, and c(x) = log(n! / prod_j x_j!) adds to the row's
log-probability. One call is one pass over X.

Dense X: rows are processed in chunks, each copied into a thread-private float64
buffer (float32, Fortran-ordered, strided, read-only and memory-mapped inputs all
take the same path; NaN becomes 0 and is counted), except chunks of aligned float64
rows without NaN, which BLAS reads in place. The logits of a chunk are one
matrix product, L = log w + b + X_c A^T, and its sums one more, S += R^T X_c (R the
weighted responsibilities), both by BLAS dgemm (``scipy.linalg.cython_blas``, on
the calling thread: callers hold BLAS to one thread, or its threads would nest in
ours). A chunk with a NaN also takes its missing mask M: L -= M B^T and, where the
observed mass is asked for, sum R^T M, taken off N_k at the end.

CSR X: one pass over the stored values, O(nnz x K): each value adds a contiguous
K-vector of A transposed (d, K) to its row's logits, and its row's K-vector of
weighted responsibilities to the block's first moments, kept transposed (d, K).
Neither is densified; the rows' values and indices are read in their own types.

Either way the K logits of a chunk are stored component by component (rows as SIMD
lanes), so that the log-sum-exp, responsibilities and labels are ``_responsibilities.h``'s, as
for Gaussian mixtures. Nothing of size n_samples x K is allocated.

Bits do not depend on the thread count: rows are grouped into blocks fixed by the
problem, each block's sums are kept apart, and the blocks are added in order at the
end; a dynamic schedule over blocks balances the load.

The contract of every public function is the twin's, in ``_reference/discrete.py``.
"""

from cython.parallel cimport parallel, prange
from libc.stdint cimport uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memset
from scipy.linalg.cython_blas cimport dgemm
from scipy.special.cython_special cimport gammaln

import numpy as np

from ._discrete_checks import check_accumulate, check_dense_rows, check_score

__all__ = ["accumulate", "count_non_binary", "score"]


# _discrete.h includes _responsibilities.h (and with it _simd.h and _fastmath.h) and
# declares the discrete loops.
cdef extern from "_discrete.h" nogil:
    # The fixed blocks of a pass and the alignment of per-thread scratch (_simd.h).
    const Py_ssize_t PARTIALS_BYTES "FE_PARTIALS_BYTES"
    const Py_ssize_t MAX_BLOCKS "FE_MAX_BLOCKS"
    const Py_ssize_t ALIGN "FE_ALIGN"
    const int FE_LANES          # rows of a chunk are padded to a multiple of this
    const int CHUNK "FE_CHUNK"  # rows per chunk, at most
    const int LD "FE_LD"        # leading dimension of a chunk's K rows of logits
    const int FE_W              # doubles per SIMD vector
    double fe_sum(const double *a, Py_ssize_t n)
    void fe_normalise(double *logit, Py_ssize_t n, Py_ssize_t n_components,
                      double *row_max, double *row_sum)
    void fe_argmax(const double *logit, Py_ssize_t n, Py_ssize_t n_components,
                   double *best, double *best_k)
    void fe_log_sum_exp(const double *row_max, const double *row_sum, Py_ssize_t n,
                        double *out)
    void fe_write_resp(const double *expo, Py_ssize_t n, Py_ssize_t n_components,
                       const double *row_sum, double *inverse, double *out)
    Py_ssize_t fd_count_missing(const double *x, Py_ssize_t ld, Py_ssize_t n,
                                Py_ssize_t d)
    Py_ssize_t fd_load_rows(const char *X, Py_ssize_t rs, Py_ssize_t cs, int single,
                            Py_ssize_t start, Py_ssize_t n, Py_ssize_t d,
                            Py_ssize_t ld, double *xc)
    void fd_missing_mask(const char *X, Py_ssize_t rs, Py_ssize_t cs, int single,
                         Py_ssize_t start, Py_ssize_t n, Py_ssize_t d, Py_ssize_t ld,
                         double *mask)
    Py_ssize_t fd_csr_logits(const void *data, const void *indices,
                             const void *indptr, int single, int narrow,
                             Py_ssize_t start, Py_ssize_t n, Py_ssize_t n_padded,
                             Py_ssize_t d, const double *at, Py_ssize_t kp,
                             Py_ssize_t n_components, const double *base,
                             double *logit)
    void fd_csr_sums(const void *data, const void *indices, const void *indptr,
                     int single, int narrow, Py_ssize_t start, Py_ssize_t n,
                     Py_ssize_t d, const double *resp, const double *weight,
                     Py_ssize_t kp, Py_ssize_t n_components, double *wr, double *st)
    Py_ssize_t fd_count_non_binary(const char *X, Py_ssize_t rs, Py_ssize_t cs,
                                   int single, Py_ssize_t n, Py_ssize_t d)
    # Dense chunks of 0/1 values: bits and tables of patterns.
    const int FD_GROUP
    const int FD_PATTERNS
    Py_ssize_t FD_ROW_BYTES(Py_ssize_t d)
    void fd_pattern_table(const double *at, Py_ssize_t d, Py_ssize_t kp,
                          Py_ssize_t n_components, Py_ssize_t kq, double *table)
    int fd_pattern_chunk(const char *X, Py_ssize_t rs, Py_ssize_t cs, int single,
                         Py_ssize_t start, Py_ssize_t n, Py_ssize_t n_padded,
                         Py_ssize_t d, const double *table, Py_ssize_t kq,
                         Py_ssize_t n_components, const double *base,
                         unsigned char *bits, double *logit)
    void fd_pattern_sums(const unsigned char *bits, Py_ssize_t n, Py_ssize_t d,
                         const double *resp, const double *weight, Py_ssize_t kq,
                         Py_ssize_t n_components, double *wr, double *hist)
    void fd_hist_to_sums(double *hist, Py_ssize_t d, Py_ssize_t kq,
                         Py_ssize_t n_components, double *wr, double *s)


# A block's partial sums cost O(their size) to clear and add up: each block gets at
# least this many times as much work, in (row or stored value) x component pairs.
# CSR with many features has partials of d x K, as large as the work of a few rows.
cdef Py_ssize_t WORK_PER_PARTIAL = 16
# Dense chunks: at most CHUNK rows, fewer where a chunk would pass this many bytes
# (BLAS keeps it in L2).
cdef Py_ssize_t DENSE_CHUNK_BYTES = 256 * 1024
# Dense chunks of 0/1 values take the tables of patterns (_discrete.h) where the table,
# and each thread's histogram of the same size, takes at most this many bytes; BLAS
# otherwise.
cdef Py_ssize_t PATTERN_TABLE_BYTES = 1024 * 1024
# Each buffer of the per-thread scratch starts on a cache line too (FE_ALIGN bytes).
cdef Py_ssize_t ALIGN_DOUBLES = ALIGN // 8
# Blocks' partial sums are added up in tiles of this many entries.
cdef Py_ssize_t TILE = 4096

# What a block or chunk of rows ends with.
cdef enum:
    DONE = 0
    NO_MEMORY = 1
    NAN_WITHOUT_B = 2
    BAD_INDEX = 3

# log(m!) for counts m < LOG_FACTORIAL_SIZE: most counts of words are small integers,
# and lgamma costs more than a look-up. The same gammaln as the twin's, so the same
# bits.
cdef enum:
    LOG_FACTORIAL_SIZE = 1024
cdef double LOG_FACTORIAL[LOG_FACTORIAL_SIZE]
for _m in range(LOG_FACTORIAL_SIZE):
    LOG_FACTORIAL[_m] = gammaln(_m + 1.0)


include "_rows.pxi"


cdef struct Model:
    Py_ssize_t n_components    # K
    Py_ssize_t kp              # K rounded up to FE_W
    const double *base         # (kp,) log w_k + b_k, zero past K
    const double *at           # (d, kp) A transposed, zero columns past K
    const double *bt           # dense: (d, kp) B transposed, or NULL (no B)
    bint coefficient           # add c(x) to the log-probabilities
    const double *table        # dense without c(x): (groups, FD_PATTERNS, kq) the sums
                               # of A^T over each group's patterns, or NULL (BLAS)
    Py_ssize_t kq              # K rounded up to 4: the lanes of table


cdef struct Scratch:
    # A thread's buffers, each starting on a cache line, and where its chunk is.
    const double *chunk        # dense: the chunk's rows, NaN as 0: xc or X itself
    Py_ssize_t ld              # dense: doubles between the chunk's rows
    double *xc                 # dense: (rows, ldx) the chunk, row-major, NaN as 0
    double *mask               # dense with B: (rows, ldx) 1 where missing
    double *lt                 # dense: (rows, kp) the logits, row by row
    double *logit              # (K, LD) logits, then exp'd, then w_i r_ik
    double *weight             # (CHUNK,) row weights, zero on padding
    double *row_max            # (CHUNK,)
    double *row_sum            # (CHUNK,)
    double *tmp                # (CHUNK,)
    double *wr                 # CSR and patterns: (kp + 3,) a row's w_i r_ik
    unsigned char *bits        # patterns: (rows, FD_ROW_BYTES(d)) the chunk's bits
    double *hist               # patterns: (groups, FD_PATTERNS, kq) the block's
                               # w_i r_ik added by pattern, cleared by each flush
    bint binary                # dense: the chunk is in bits (all its values 0 or 1)


# --- chunk helpers --------------------------------------------------------------------


cdef inline Py_ssize_t _padded(Py_ssize_t n_rows) noexcept nogil:
    return (n_rows + FE_LANES - 1) // FE_LANES * FE_LANES


cdef inline Py_ssize_t _aligned(Py_ssize_t n_doubles) noexcept nogil:
    return (n_doubles + ALIGN_DOUBLES - 1) // ALIGN_DOUBLES * ALIGN_DOUBLES


cdef inline Py_ssize_t _lanes4(Py_ssize_t n_components) noexcept nogil:
    """K rounded up to 4: the lanes of the tables of patterns."""
    return (n_components + 3) // 4 * 4


cdef inline Py_ssize_t _pattern_doubles(
    Py_ssize_t d, Py_ssize_t n_components
) noexcept nogil:
    """Doubles of a table of patterns (or a histogram) over d features."""
    return (d + FD_GROUP - 1) // FD_GROUP * FD_PATTERNS * _lanes4(n_components)


cdef Py_ssize_t _scratch_doubles(
    Py_ssize_t rows,            # IN  rows per dense chunk (0: CSR)
    Py_ssize_t ldx,             # IN  leading dimension of a dense chunk
    bint with_mask,             # IN  dense with B: room for the missing mask
    Py_ssize_t n_components,    # IN
    Py_ssize_t kp,              # IN  K rounded up to FE_W
    Py_ssize_t patterns,        # IN  features of the tables of patterns, or 0 (none)
) noexcept nogil:
    """Doubles of one thread's scratch (``_carve_scratch``'s layout)."""
    cdef Py_ssize_t chunk = _aligned(rows * ldx)
    cdef Py_ssize_t bits = 0, hist = 0
    if patterns:
        bits = _aligned((rows * FD_ROW_BYTES(patterns) + 7) // 8)
        hist = _aligned(_pattern_doubles(patterns, n_components))
    return (
        chunk + (chunk if with_mask else 0) + _aligned(rows * kp)
        + _aligned(n_components * LD) + 4 * _aligned(CHUNK) + _aligned(kp + 3) + bits
        + hist
    )


cdef Scratch _carve_scratch(
    double *base,               # IN  _scratch_doubles(...) doubles on a cache line
    Py_ssize_t rows,            # IN  as _scratch_doubles
    Py_ssize_t ldx,             # IN
    bint with_mask,             # IN
    Py_ssize_t n_components,    # IN
    Py_ssize_t kp,              # IN
    Py_ssize_t patterns,        # IN
) noexcept nogil:
    cdef Scratch w
    cdef Py_ssize_t chunk = _aligned(rows * ldx)
    cdef Py_ssize_t bits = 0
    if patterns:
        bits = _aligned((rows * FD_ROW_BYTES(patterns) + 7) // 8)
    w.xc = base
    w.mask = w.xc + chunk
    w.lt = w.mask + (chunk if with_mask else 0)
    w.logit = w.lt + _aligned(rows * kp)
    w.weight = w.logit + _aligned(n_components * LD)
    w.row_max = w.weight + _aligned(CHUNK)
    w.row_sum = w.row_max + _aligned(CHUNK)
    w.tmp = w.row_sum + _aligned(CHUNK)
    w.wr = w.tmp + _aligned(CHUNK)
    w.bits = <unsigned char *> (w.wr + _aligned(kp + 3))
    w.hist = w.wr + _aligned(kp + 3) + bits
    w.binary = False
    if patterns:
        memset(w.hist, 0, _pattern_doubles(patterns, n_components) * sizeof(double))
    return w


cdef inline double _log_factorial(double x) noexcept nogil:
    """log(x!) = lgamma(x + 1): from the table for small integers."""
    cdef Py_ssize_t m
    if 0.0 <= x < LOG_FACTORIAL_SIZE:
        m = <Py_ssize_t> x
        if m == x:
            return LOG_FACTORIAL[m]
    return gammaln(x + 1.0)


cdef inline double _csr_value(const Source *src, Py_ssize_t p) noexcept nogil:
    if src.single:
        return (<const float *> src.data)[p]
    return (<const double *> src.data)[p]


cdef inline Py_ssize_t _csr_row_start(const Source *src, Py_ssize_t row) noexcept nogil:
    if src.narrow:
        return (<const int *> src.indptr)[row]
    return (<const long long *> src.indptr)[row]


cdef void _add_coefficients(
    const Source *src,          # IN
    Py_ssize_t start,           # IN  first row of the chunk
    Py_ssize_t n_rows,          # IN  rows in the chunk
    const double *xc,           # IN  dense: the chunk's rows, NaN as 0
    Py_ssize_t ldx,             # IN  dense: doubles between them
    double *out,                # INOUT (n_rows,) += c(x) of each row
) noexcept nogil:
    """c(x) = log(n! / prod_j x_j!), n = sum_j x_j, over a dense row's values
    (missing as 0: they add 0) or a CSR row's stored values."""
    cdef Py_ssize_t i, j, p, p1
    cdef double x, total, terms
    for i in range(n_rows):
        total = 0.0
        terms = 0.0
        if src.sparse:
            p1 = _csr_row_start(src, start + i + 1)
            for p in range(_csr_row_start(src, start + i), p1):
                x = _csr_value(src, p)
                total += x
                terms += _log_factorial(x)
        else:
            for j in range(src.n_features):
                x = xc[i * ldx + j]
                total += x
                terms += _log_factorial(x)
        out[i] += _log_factorial(total) - terms


cdef void _load_weights(
    const Source *src,          # IN
    Py_ssize_t start,           # IN  first row of the chunk
    Py_ssize_t n_rows,          # IN  rows in the chunk
    Py_ssize_t n_padded,        # IN  n_rows rounded up to the lanes
    double *weight,             # OUT (n_padded,) row weights, zero on padding
) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n_padded):
        if i >= n_rows:
            weight[i] = 0.0
        elif src.sample_weight == NULL:
            weight[i] = 1.0
        else:
            weight[i] = src.sample_weight[start + i]


cdef int _chunk_logits(
    const Source *src,          # IN
    const Model *model,         # IN
    Py_ssize_t start,           # IN  first row of the chunk
    Py_ssize_t n_rows,          # IN  rows in the chunk
    Py_ssize_t n_padded,        # IN  n_rows rounded up to the lanes
    Py_ssize_t ldx,             # IN  dense: leading dimension of xc and mask
    Scratch *w,                 # OUT logit (K, LD); dense: chunk (with xc where
                                #     copied), and mask if missing
    bint *missing,              # OUT dense: whether the chunk has a NaN
) noexcept nogil:
    """The chunk's logits log w_k + log p(x_i | k) - c(x_i); padding rows get those of
    an empty (all-zero) row. Returns DONE, NAN_WITHOUT_B or BAD_INDEX."""
    cdef Py_ssize_t i, k, n_missing = 1, K = model.n_components, d = src.n_features
    cdef Py_ssize_t kp = model.kp
    cdef int m = <int> K, n = <int> n_rows, depth = <int> d
    cdef int lda = <int> kp, ldb, ldc = <int> kp, ld_mask = <int> ldx
    cdef double zero = 0.0, one = 1.0, minus_one = -1.0
    cdef const double *row
    missing[0] = False
    w.binary = False
    if src.sparse:
        if fd_csr_logits(
            src.data, src.indices, src.indptr, src.single, src.narrow, start, n_rows,
            n_padded, d, model.at, model.kp, K, model.base, w.logit,
        ):
            return BAD_INDEX
        return DONE
    if model.table != NULL and not fd_pattern_chunk(
        src.X, src.row_stride, src.col_stride, src.single, start, n_rows, n_padded, d,
        model.table, model.kq, K, model.base, w.bits, w.logit,
    ):
        w.binary = True
        return DONE
    # Rows BLAS can read as they are need no copy where they have no NaN: a pass that
    # only reads them costs less than one that also writes a copy (1.15x faster in all
    # at 100,000 x 100, K = 10).
    if src.rows != NULL:
        w.chunk = src.rows + start * src.rows_ld
        w.ld = src.rows_ld
        n_missing = fd_count_missing(w.chunk, w.ld, n_rows, d)
    if n_missing:
        n_missing = fd_load_rows(
            src.X, src.row_stride, src.col_stride, src.single, start, n_rows, d, ldx,
            w.xc,
        )
        w.chunk = w.xc
        w.ld = ldx
    if n_missing and model.bt == NULL:
        return NAN_WITHOUT_B
    # The chunk, C-ordered (rows, ld), is a column-major (ld, rows) matrix, and A^T
    # (d, kp) a column-major (kp, d) one: lt = (A X_c^T)^T, (rows, kp) C-ordered, by
    # a product of two untransposed matrices (OpenBLAS's small-matrix kernels take
    # those, not a transposed chunk).
    ldb = <int> w.ld
    dgemm(b"N", b"N", &m, &n, &depth, &one, <double *> model.at, &lda,
          <double *> w.chunk, &ldb, &zero, w.lt, &ldc)
    if n_missing:
        missing[0] = True
        fd_missing_mask(
            src.X, src.row_stride, src.col_stride, src.single, start, n_rows, d, ldx,
            w.mask,
        )
        dgemm(b"N", b"N", &m, &n, &depth, &minus_one, <double *> model.bt, &lda,
              w.mask, &ld_mask, &one, w.lt, &ldc)
    memset(w.lt + n_rows * kp, 0, (n_padded - n_rows) * kp * sizeof(double))
    for i in range(n_padded):
        row = w.lt + i * kp
        for k in range(K):
            w.logit[k * LD + i] = model.base[k] + row[k]
    return DONE


cdef double _chunk_responsibilities(
    const Source *src,          # IN
    const Model *model,         # IN
    Py_ssize_t start,           # IN  first row of the chunk
    Py_ssize_t n_rows,          # IN  rows in the chunk
    Py_ssize_t n_padded,        # IN
    Py_ssize_t ldx,             # IN
    Scratch *w,                 # INOUT logit in, w_i r_ik out; weight in
) noexcept nogil:
    """Normalise the chunk's logits into weighted responsibilities; return
    sum_i w_i log p(x_i) over the rows of non-zero weight."""
    cdef Py_ssize_t i, k, K = model.n_components
    cdef double log_likelihood = 0.0
    cdef double *resp
    fe_normalise(w.logit, n_padded, K, w.row_max, w.row_sum)
    fe_log_sum_exp(w.row_max, w.row_sum, n_rows, w.tmp)
    if model.coefficient:
        _add_coefficients(src, start, n_rows, w.chunk, w.ld, w.tmp)
    for i in range(n_rows):
        if w.weight[i] != 0.0:
            log_likelihood += w.weight[i] * w.tmp[i]
    # Rows of weight 0 (padding too) get responsibilities of exactly 0.
    for i in range(n_padded):
        w.tmp[i] = w.weight[i] / w.row_sum[i] if w.weight[i] != 0.0 else 0.0
    for k in range(K):
        resp = w.logit + k * LD
        for i in range(n_padded):
            resp[i] *= w.tmp[i]
    return log_likelihood


cdef void _chunk_sums(
    const Source *src,          # IN
    const Model *model,         # IN
    Py_ssize_t start,           # IN  first row of the chunk
    Py_ssize_t n_rows,          # IN  rows in the chunk
    Py_ssize_t n_padded,        # IN
    Py_ssize_t ldx,             # IN
    const Scratch *w,           # IN  logit holding w_i r_ik; dense: chunk, mask
    bint missing,               # IN  dense: the chunk has a NaN (mask filled)
    double *nk,                 # INOUT (K,) the block's N_k
    double *s,                  # INOUT dense: (K, d); CSR: s^T (d, kp)
    double *missing_mass,       # INOUT dense: (K, d) sum R^T M, or NULL: not kept
) noexcept nogil:
    """Add the chunk's N_k, first moments and, where kept, missing mass to the
    block's partial sums."""
    cdef Py_ssize_t k, K = model.n_components, d = src.n_features
    cdef int m = <int> d, n = <int> K, depth = <int> n_rows
    cdef int lda = <int> w.ld, ld_mask = <int> ldx, ldb = LD, ldc = <int> d
    cdef double one = 1.0
    for k in range(K):
        nk[k] += fe_sum(w.logit + k * LD, n_padded)
    if src.sparse:
        fd_csr_sums(
            src.data, src.indices, src.indptr, src.single, src.narrow, start, n_rows,
            d, w.logit, w.weight, model.kp, K, w.wr, s,
        )
        return
    if w.binary:
        # Added to the first moments when the block ends (fd_hist_to_sums).
        fd_pattern_sums(w.bits, n_rows, d, w.logit, w.weight, model.kq, K, w.wr, w.hist)
        return
    # s (K, d), C order, is a column-major (d, K) matrix: += chunk^T R.
    dgemm(b"N", b"N", &m, &n, &depth, &one, <double *> w.chunk, &lda, w.logit, &ldb,
          &one, s, &ldc)
    if missing and missing_mass != NULL:
        dgemm(b"N", b"N", &m, &n, &depth, &one, w.mask, &ld_mask, w.logit, &ldb,
              &one, missing_mass, &ldc)


# --- the pass over the rows -----------------------------------------------------------


def _chunk_rows(n_features):
    """Rows per dense chunk: CHUNK, fewer for wide rows (a multiple of the lanes)."""
    ldx = _aligned(n_features)
    rows = min(CHUNK, DENSE_CHUNK_BYTES // (8 * ldx)) // FE_LANES * FE_LANES
    return max(FE_LANES, rows), ldx


def _block_bounds(X, sparse, chunk_rows, stats_len, n_components, flush_len=0):
    """Row bounds (n_blocks + 1,) of the blocks: fixed by the problem, never by the
    thread count. Dense blocks are runs of whole chunks; CSR ones balance the work,
    one unit per row and per stored value. ``flush_len``: what else a block costs at
    its end, in entries of its partial sums (the histogram of patterns)."""
    n_samples, n_features = X.shape
    if sparse:
        work = X.indptr.astype(np.int64) - X.indptr[0] + np.arange(n_samples + 1)
    else:
        work = np.arange(n_samples + 1) * n_features
    n_chunks = -(-n_samples // chunk_rows)
    n_blocks = max(1, min(
        MAX_BLOCKS,
        PARTIALS_BYTES // (8 * stats_len),
        n_chunks,
        int(work[n_samples]) * n_components
        // (WORK_PER_PARTIAL * (stats_len + flush_len)),
    ))
    if not sparse:
        per_block = -(-n_chunks // n_blocks)
        return np.append(np.arange(0, n_samples, per_block * chunk_rows), n_samples)
    targets = work[n_samples] * np.arange(1, n_blocks) // n_blocks
    cuts = np.searchsorted(work, targets)
    return np.unique(np.concatenate(([0], cuts, [n_samples])))


def _aligned_empty(n_rows, n_columns):
    """An uninitialised float64 array of shape (n_rows, n_columns rounded up to cache
    lines), each row on a cache line: the vectors of the C loops do not straddle
    lines, and what BLAS reads or updates has the same alignment in every call."""
    stride = _aligned(n_columns)
    flat = np.empty(n_rows * stride + ALIGN_DOUBLES)
    offset = (-flat.ctypes.data % ALIGN) // flat.itemsize
    return flat[offset:offset + n_rows * stride].reshape(n_rows, stride)


def _transposed(A, kp):
    """A^T, (d, kp) with zero columns past K, starting on a cache line: a CSR value
    reads one contiguous K-vector of it (on whole cache lines where kp is a multiple
    of 8), and BLAS, which also reads it, finds the same alignment in every call."""
    K, d = A.shape
    at = _aligned_empty(1, d * kp)[0, :d * kp].reshape(d, kp)
    at[:, :K] = A.T
    at[:, K:] = 0.0
    return at


cdef object _prepare_model(
    bint sparse, log_weights, A, b, B, bint coefficient, Model *model
):
    """Fill ``model``; return the arrays it points into."""
    cdef Py_ssize_t K = A.shape[0], d = A.shape[1]
    cdef Py_ssize_t kp = (K + FE_W - 1) // FE_W * FE_W
    cdef double[::1] base = np.zeros(kp)
    cdef double[:, ::1] at = _transposed(A, kp), bt
    cdef double[::1] table
    np.asarray(base)[:K] = log_weights + b
    model.n_components = K
    model.kp = kp
    model.base = &base[0]
    model.at = &at[0, 0]
    model.bt = NULL
    model.coefficient = coefficient
    model.table = NULL
    model.kq = _lanes4(K)
    if sparse:
        return base, at
    cdef Py_ssize_t table_len = _pattern_doubles(d, K)
    patterns = None
    if not coefficient and table_len * 8 <= PATTERN_TABLE_BYTES:
        patterns = _aligned_empty(1, table_len)[0, :table_len]
        table = patterns
        fd_pattern_table(&at[0, 0], d, kp, K, model.kq, &table[0])
        model.table = &table[0]
    if B is None:
        return base, at, patterns
    bt = _transposed(B, kp)
    model.bt = &bt[0, 0]
    return base, at, bt, patterns


def _raise_for(status):
    """The error of the first failed block or chunk, if any."""
    status = np.asarray(status)
    if np.any(status == NO_MEMORY):
        raise MemoryError("out of memory for the kernels' scratch")
    if np.any(status == NAN_WITHOUT_B):
        raise ValueError("X has missing values (NaN): B is needed")
    if np.any(status == BAD_INDEX):
        raise ValueError("X.indices has a column index outside [0, n_features)")


# --- public entry points --------------------------------------------------------------


def accumulate(
    X,
    sample_weight,
    log_weights,
    A,
    b,
    B,
    coefficient,
    n_threads,
    nk,
    s,
    m,
):
    """E-step fused with the M-step's sums; see ``_reference.discrete.accumulate``."""
    args = check_accumulate(
        X, sample_weight, log_weights, A, b, B, coefficient, n_threads, nk, s, m
    )
    cdef Py_ssize_t n_samples = args.n_samples, d = args.n_features
    cdef Py_ssize_t K = args.n_components
    cdef bint sparse = args.sparse
    if n_samples == 0:
        nk[...] = 0.0
        s[...] = 0.0
        if m is not None:
            m[...] = 0.0
        return 0.0
    cdef Source src
    cdef Model model
    # The arrays src and model point into, alive until the call returns.
    source_arrays = _describe(X, sparse, args.sample_weight, &src)
    model_arrays = _prepare_model(sparse, log_weights, A, b, B, coefficient, &model)

    # Each block's sums, each on a cache line: nk (K); s (K, d), or s^T (d, kp) for
    # CSR; dense with B and m asked for: the missing mass (K, d); the log-likelihood.
    cdef bint with_missing_mass = not sparse and B is not None and m is not None
    cdef Py_ssize_t s_len = d * model.kp if sparse else K * d
    cdef Py_ssize_t s_at = _aligned(K), mm_at = s_at + _aligned(s_len)
    cdef Py_ssize_t ll_at = mm_at + (_aligned(K * d) if with_missing_mass else 0)
    cdef Py_ssize_t stats_len = ll_at + 1
    cdef Py_ssize_t rows = CHUNK, ldx = 0
    if not sparse:
        rows, ldx = _chunk_rows(d)
    # A histogram of patterns takes about 3 operations an entry to fold into the sums
    # and clear at the end of each block; counted twice over, so that blocks hold
    # about 20 chunks at 100,000 x 100, K = 10 (a pass 3-6% faster than with blocks of
    # 10 chunks; with 40 the 10 blocks would share out unevenly over 2 threads).
    cdef Py_ssize_t patterns = d if model.table != NULL else 0
    cdef const long long[::1] bounds = _block_bounds(
        X, sparse, rows, stats_len, K,
        8 * _pattern_doubles(d, K) if patterns else 0,
    ).astype(np.int64)
    cdef Py_ssize_t n_blocks = bounds.shape[0] - 1
    # Each block clears its own sums, on the thread that adds to them.
    cdef double[:, ::1] partials = _aligned_empty(n_blocks, stats_len)
    cdef signed char[::1] status = np.zeros(n_blocks, dtype=np.int8)
    cdef int threads = min(n_threads, n_blocks)
    cdef bint with_mask = not sparse and B is not None
    cdef Py_ssize_t scratch_len = _scratch_doubles(
        0 if sparse else rows, ldx, with_mask, K, model.kp, patterns
    )
    cdef Py_ssize_t c, start, end, n_rows, n_padded
    cdef int outcome
    cdef bint missing
    cdef void *raw
    cdef Scratch w
    cdef double *part

    with nogil, parallel(num_threads=threads):
        raw = malloc(scratch_len * sizeof(double) + ALIGN)
        if raw != NULL:
            w = _carve_scratch(
                <double *> ((<uintptr_t> raw + ALIGN - 1) & ~(<uintptr_t> ALIGN - 1)),
                0 if sparse else rows, ldx, with_mask, K, model.kp, patterns,
            )
        for c in prange(n_blocks, schedule="dynamic"):
            if raw == NULL:
                status[c] = NO_MEMORY
                continue
            part = &partials[c, 0]
            memset(part, 0, stats_len * sizeof(double))
            start = bounds[c]
            end = bounds[c + 1]
            while start < end:
                n_rows = min(rows, end - start)
                n_padded = _padded(n_rows)
                missing = False
                outcome = _chunk_logits(
                    &src, &model, start, n_rows, n_padded, ldx, &w, &missing
                )
                if outcome != DONE:
                    status[c] = outcome
                    break
                _load_weights(&src, start, n_rows, n_padded, w.weight)
                part[ll_at] += _chunk_responsibilities(
                    &src, &model, start, n_rows, n_padded, ldx, &w
                )
                _chunk_sums(
                    &src, &model, start, n_rows, n_padded, ldx, &w, missing, part,
                    part + s_at, part + mm_at if with_missing_mass else NULL,
                )
                start = start + n_rows
            if patterns:
                fd_hist_to_sums(w.hist, d, model.kq, K, w.wr, part + s_at)
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
    nk[...] = totals[:K]
    if sparse:
        s[...] = totals[s_at:s_at + s_len].reshape(d, model.kp)[:, :K].T
    else:
        s[...] = totals[s_at:s_at + s_len].reshape(K, d)
    if m is not None:
        m[...] = nk[:, np.newaxis]
        if with_missing_mass:
            m -= totals[mm_at:mm_at + K * d].reshape(K, d)
    return float(total[ll_at])


def score(
    X,
    log_weights,
    A,
    b,
    B,
    coefficient,
    n_threads,
    log_prob,
    resp,
    labels,
):
    """Per-row log-probability, responsibilities, labels; see
    ``_reference.discrete.score``."""
    args = check_score(
        X, log_weights, A, b, B, coefficient, n_threads, log_prob, resp, labels
    )
    cdef Py_ssize_t n_samples = args.n_samples, d = args.n_features
    cdef Py_ssize_t K = args.n_components
    cdef bint sparse = args.sparse
    if n_samples == 0:
        return
    cdef Source src
    cdef Model model
    # The arrays src and model point into, alive until the call returns.
    source_arrays = _describe(X, sparse, None, &src)
    model_arrays = _prepare_model(sparse, log_weights, A, b, B, coefficient, &model)
    cdef double[::1] log_prob_view
    cdef double[:, ::1] resp_view
    cdef long long[::1] labels_view
    cdef double *log_prob_ptr = NULL
    cdef double *resp_ptr = NULL
    cdef long long *labels_ptr = NULL
    if log_prob is not None:
        log_prob_view = log_prob
        log_prob_ptr = &log_prob_view[0]
    if resp is not None:
        resp_view = resp
        resp_ptr = &resp_view[0, 0]
    if labels is not None:
        labels_view = labels
        labels_ptr = &labels_view[0]

    cdef Py_ssize_t rows = CHUNK, ldx = 0
    if not sparse:
        rows, ldx = _chunk_rows(d)
    cdef Py_ssize_t n_chunks = (n_samples + rows - 1) // rows
    cdef signed char[::1] status = np.zeros(n_chunks, dtype=np.int8)
    cdef int threads = min(n_threads, n_chunks)
    cdef bint with_mask = not sparse and B is not None
    cdef Py_ssize_t patterns = d if model.table != NULL else 0
    cdef Py_ssize_t scratch_len = _scratch_doubles(
        0 if sparse else rows, ldx, with_mask, K, model.kp, patterns
    )
    cdef Py_ssize_t c, i, start, n_rows, n_padded
    cdef int outcome
    cdef bint missing
    cdef void *raw
    cdef Scratch w

    with nogil, parallel(num_threads=threads):
        raw = malloc(scratch_len * sizeof(double) + ALIGN)
        if raw != NULL:
            w = _carve_scratch(
                <double *> ((<uintptr_t> raw + ALIGN - 1) & ~(<uintptr_t> ALIGN - 1)),
                0 if sparse else rows, ldx, with_mask, K, model.kp, patterns,
            )
        for c in prange(n_chunks, schedule="dynamic"):
            if raw == NULL:
                status[c] = NO_MEMORY
                continue
            start = c * rows
            n_rows = min(rows, n_samples - start)
            n_padded = _padded(n_rows)
            missing = False
            outcome = _chunk_logits(
                &src, &model, start, n_rows, n_padded, ldx, &w, &missing
            )
            if outcome != DONE:
                status[c] = outcome
                continue
            if labels_ptr != NULL:
                fe_argmax(w.logit, n_padded, K, w.row_max, w.row_sum)
                for i in range(n_rows):
                    labels_ptr[start + i] = <long long> w.row_sum[i]
            if log_prob_ptr == NULL and resp_ptr == NULL:
                continue
            fe_normalise(w.logit, n_padded, K, w.row_max, w.row_sum)
            if log_prob_ptr != NULL:
                fe_log_sum_exp(w.row_max, w.row_sum, n_rows, log_prob_ptr + start)
                if model.coefficient:
                    _add_coefficients(
                        &src, start, n_rows, w.chunk, w.ld, log_prob_ptr + start
                    )
            if resp_ptr != NULL:
                fe_write_resp(w.logit, n_rows, K, w.row_sum, w.tmp, resp_ptr + start * K)
        free(raw)
    _raise_for(status)


def count_non_binary(X):
    """The number of values neither 0, 1 nor NaN; see
    ``_reference.discrete.count_non_binary``."""
    check_dense_rows(X)
    cdef Source src
    cdef Py_ssize_t n_samples = X.shape[0], count
    if n_samples == 0 or X.shape[1] == 0:
        return 0
    source_arrays = _describe(X, False, None, &src)
    with nogil:
        count = fd_count_non_binary(
            src.X, src.row_stride, src.col_stride, src.single, n_samples,
            src.n_features,
        )
    return int(count)
