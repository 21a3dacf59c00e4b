"""Argument checks of the discrete-data kernels, shared by the compiled module
(``_discrete``) and its twin (``_reference``): both refuse the same arguments with
the same errors, before the compiled one takes any pointer.
"""

from numbers import Integral
from types import SimpleNamespace

import numpy as np
import scipy.sparse as sp

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def _parameter(name, array, shape):
    """A C-contiguous float64 ndarray of ``shape``, or ValueError."""
    if (
        not isinstance(array, np.ndarray)
        or array.dtype != np.float64
        or array.shape != shape
        or not array.flags.c_contiguous
    ):
        raise ValueError(
            f"{name} must be a C-contiguous float64 array of shape {shape}"
        )
    return array


def output(name, array, shape, dtype=np.float64):
    """A writeable C-contiguous ndarray of ``shape`` and ``dtype``, or ValueError."""
    if (
        not isinstance(array, np.ndarray)
        or array.dtype != dtype
        or array.shape != shape
        or not array.flags.c_contiguous
        or not array.flags.writeable
    ):
        raise ValueError(
            f"{name} must be a writeable C-contiguous {np.dtype(dtype).name} array "
            f"of shape {shape}"
        )
    return array


def _check_csr(X):
    if X.format != "csr":
        raise TypeError(
            f"X is a scipy.sparse {X.format.upper()} matrix: convert to CSR (X.tocsr())"
        )
    if X.data.dtype not in FLOAT_DTYPES:
        raise ValueError(f"X.data must be float32 or float64, not {X.data.dtype}")
    if X.indices.dtype not in INDEX_DTYPES or X.indptr.dtype != X.indices.dtype:
        raise ValueError(
            "X.indices and X.indptr must both be int32 or both int64, not "
            f"{X.indices.dtype} and {X.indptr.dtype}"
        )
    for name in ("data", "indices", "indptr"):
        part = getattr(X, name)
        if part.ndim != 1 or not part.flags.c_contiguous:
            raise ValueError(f"X.{name} must be a contiguous 1-D array")
    indptr = X.indptr
    if (
        len(indptr) != X.shape[0] + 1
        or indptr[0] < 0
        or indptr[-1] > min(len(X.indices), len(X.data))
        or np.any(indptr[1:] < indptr[:-1])
    ):
        raise ValueError(
            "X.indptr must rise from 0 or more to at most the number of stored values"
        )


def check_rows(X):
    """Check the rows a kernel reads: a 2-D float32 / float64 NumPy array or a
    scipy.sparse CSR matrix or array whose arrays the kernels read as they are.

    Returns
    -------
    sparse : bool
        Whether X is sparse.
    """
    sparse = sp.issparse(X)
    if sparse:
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D, not of shape {X.shape}")
        _check_csr(X)
    elif isinstance(X, np.ndarray):
        if X.ndim != 2 or X.dtype not in FLOAT_DTYPES:
            raise ValueError(
                f"X must be a 2-D float32 or float64 array, not {X.ndim}-D {X.dtype}"
            )
    else:
        raise TypeError(
            "X must be a NumPy array or a scipy.sparse CSR matrix, not "
            f"{type(X).__name__}"
        )
    return sparse


def check_dense_rows(X):
    """Check dense rows: a 2-D float32 / float64 NumPy array (ValueError for a sparse
    matrix, as ``check_rows`` for anything else)."""
    if check_rows(X):
        raise ValueError("X must be a dense array, not a sparse matrix")


def check_model(X, log_weights, A, b, B, coefficient, n_threads):
    """Check the data, the parameters and the thread count of a discrete kernel.

    Parameters
    ----------
    X, log_weights, A, b, B, coefficient, n_threads
        As in ``_reference.discrete.accumulate``.

    Returns
    -------
    SimpleNamespace
        ``sparse`` (bool), ``n_samples``, ``n_features``, ``n_components``.

    Raises
    ------
    TypeError
        X is neither a NumPy array nor a scipy.sparse matrix or array, or a sparse
        one not in CSR format.
    ValueError
        Any other mismatch of shapes, dtypes or memory layouts, parameters that are
        not finite (``log_weights`` may hold -inf, not all), or n_threads < 1.
    """
    sparse = check_rows(X)
    n_samples, n_features = X.shape
    if not isinstance(log_weights, np.ndarray) or log_weights.ndim != 1:
        raise ValueError("log_weights must be a 1-D float64 array")
    n_components = log_weights.shape[0]
    if n_components < 1 or n_features < 1:
        raise ValueError("at least one component and one feature are needed")
    _parameter("log_weights", log_weights, (n_components,))
    _parameter("A", A, (n_components, n_features))
    _parameter("b", b, (n_components,))
    if B is not None:
        _parameter("B", B, (n_components, n_features))
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
        raise ValueError("A and b must be finite")
    if B is not None and not np.all(np.isfinite(B)):
        raise ValueError("B must be finite")
    if np.any(np.isnan(log_weights)) or not np.all(log_weights < np.inf):
        raise ValueError("log_weights must be finite or -inf (components of weight 0)")
    if not np.any(np.isfinite(log_weights)):
        raise ValueError("log_weights are all -inf: no component has weight")
    if not isinstance(coefficient, (bool, np.bool_)):
        kind = type(coefficient).__name__
        raise ValueError(f"coefficient must be a bool, not {kind}")
    if isinstance(n_threads, (bool, np.bool_)) or not isinstance(n_threads, Integral):
        raise ValueError(f"n_threads must be an int, not {type(n_threads).__name__}")
    if n_threads < 1:
        raise ValueError(f"n_threads must be at least 1, not {n_threads}")
    return SimpleNamespace(
        sparse=sparse,
        n_samples=n_samples,
        n_features=n_features,
        n_components=n_components,
    )


def check_sample_weight(sample_weight, n_samples):
    """None, or the weights as a contiguous float64 array of shape (n_samples,)."""
    if sample_weight is None:
        return None
    sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)
    if sample_weight.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), not {sample_weight.shape}"
        )
    return sample_weight


def check_accumulate(
    X, sample_weight, log_weights, A, b, B, coefficient, n_threads, nk, s, m
):
    """``check_model``'s namespace, with ``sample_weight`` checked (None or float64)
    and the outputs ``nk`` (K,), ``s`` (K, d) and ``m`` (K, d) or None checked."""
    args = check_model(X, log_weights, A, b, B, coefficient, n_threads)
    args.sample_weight = check_sample_weight(sample_weight, args.n_samples)
    shape = (args.n_components, args.n_features)
    output("nk", nk, (args.n_components,))
    output("s", s, shape)
    if m is not None:
        output("m", m, shape)
    return args


def check_score(
    X, log_weights, A, b, B, coefficient, n_threads, log_prob, resp, labels
):
    """``check_model``'s namespace, with the outputs ``log_prob`` (n,), ``resp``
    (n, K) and ``labels`` (n,) intp, each None or checked."""
    args = check_model(X, log_weights, A, b, B, coefficient, n_threads)
    n_samples = args.n_samples
    if log_prob is not None:
        output("log_prob", log_prob, (n_samples,))
    if resp is not None:
        output("resp", resp, (n_samples, args.n_components))
    if labels is not None:
        output("labels", labels, (n_samples,), np.intp)
    return args
