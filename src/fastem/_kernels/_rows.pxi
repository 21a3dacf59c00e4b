# The rows a kernel reads, dense or CSR, described for its C loops: included by the
# kernel modules that read both (``_discrete.pyx``, ``_lowrank.pyx``), which import
# NumPy as ``np``.


cdef struct Source:
    # Where the rows are and how to read them.
    bint sparse
    bint single                # values float32 (else float64)
    bint narrow                # CSR indices int32 (else int64)
    const char *X              # dense: first byte of X
    Py_ssize_t row_stride      # dense: bytes between rows (any sign)
    Py_ssize_t col_stride      # dense: bytes between columns
    const double *rows         # dense: X itself where its rows are aligned, contiguous
                               # float64 (BLAS can read them as they are), else NULL
    Py_ssize_t rows_ld         # dense: doubles between those rows
    const void *data           # CSR values, indices and row pointers
    const void *indices
    const void *indptr
    Py_ssize_t n_features
    const double *sample_weight  # (n_samples,) or NULL for ones


cdef object _describe(X, bint sparse, sample_weight, Source *src):
    """Fill ``src``; return the arrays whose memory it points into (kept alive by the
    caller for the call)."""
    cdef const float[:, :] x32
    cdef const double[:, :] x64
    cdef const unsigned char[::1] data, indices, indptr
    cdef const double[::1] weights
    src.sparse = sparse
    src.n_features = X.shape[1]
    src.sample_weight = NULL
    if sample_weight is not None:
        weights = sample_weight
        src.sample_weight = &weights[0]
    if sparse:
        src.single = X.data.dtype == np.float32
        src.narrow = X.indices.dtype == np.int32
        # Byte views: the C loops read each type as it is. An empty matrix has no
        # stored value to point at; its loops read none.
        data = X.data.view(np.uint8)
        indices = X.indices.view(np.uint8)
        indptr = X.indptr.view(np.uint8)
        src.data = &data[0] if data.shape[0] else NULL
        src.indices = &indices[0] if indices.shape[0] else NULL
        src.indptr = &indptr[0]
        return X.data, X.indices, X.indptr, sample_weight
    src.single = X.dtype == np.float32
    src.row_stride = X.strides[0]
    src.col_stride = X.strides[1]
    src.rows = NULL
    src.rows_ld = 0
    if src.single:
        x32 = X
        src.X = <const char *> &x32[0, 0]
        return X, sample_weight
    x64 = X
    src.X = <const char *> &x64[0, 0]
    if (
        X.flags.aligned and src.col_stride == 8
        and src.row_stride % 8 == 0 and src.row_stride >= 8 * src.n_features
    ):
        src.rows = &x64[0, 0]
        src.rows_ld = src.row_stride // 8
    return X, sample_weight
