"""Argument checks of the low-rank (factor model) kernels, shared by the compiled
module (``_lowrank``) and its twin (``_reference.lowrank``): both refuse the same
arguments with the same errors, before the compiled one takes any pointer.
"""

from numbers import Integral
from types import SimpleNamespace

import numpy as np

from ._discrete_checks import (
    _parameter,
    check_rows,
    check_sample_weight,
    output,
)


def record_length(n_components):
    """Doubles of one feature's record in ``per_feature``: q + 1 sums of r E[z~],
    (q + 1)(q + 2) / 2 of E[z~ z~^T] (packed upper triangle) and one of r^2."""
    return n_components + 1 + packed_length(n_components) + 1


def packed_length(n_components):
    """Entries of the packed upper triangle of a (q + 1) x (q + 1) matrix."""
    return (n_components + 1) * (n_components + 2) // 2


def check_model(X, loadings, mean, noise_variance, n_threads):
    """Check the data, the parameters and the thread count of a low-rank kernel.

    Parameters
    ----------
    X, loadings, mean, noise_variance, n_threads
        As in ``_reference.lowrank.accumulate``.

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
        not finite, noise variances that are not positive, or n_threads < 1.
    """
    sparse = check_rows(X)
    n_samples, n_features = X.shape
    if not isinstance(loadings, np.ndarray) or loadings.ndim != 2:
        raise ValueError("loadings must be a 2-D float64 array")
    n_components = loadings.shape[1]
    if n_components < 1 or n_features < 1:
        raise ValueError("at least one component and one feature are needed")
    _parameter("loadings", loadings, (n_features, n_components))
    _parameter("mean", mean, (n_features,))
    _parameter("noise_variance", noise_variance, (n_features,))
    if not (np.all(np.isfinite(loadings)) and np.all(np.isfinite(mean))):
        raise ValueError("loadings and mean must be finite")
    if not np.all((noise_variance > 0.0) & (noise_variance < np.inf)):
        raise ValueError("noise_variance must be positive and finite")
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


def check_accumulate(
    X, sample_weight, loadings, mean, noise_variance, n_threads, per_feature, shared
):
    """``check_model``'s namespace, with ``sample_weight`` checked (None or float64)
    and the outputs ``per_feature`` (d, record_length(q)) and ``shared``
    (packed_length(q),) checked."""
    args = check_model(X, loadings, mean, noise_variance, n_threads)
    args.sample_weight = check_sample_weight(sample_weight, args.n_samples)
    q = args.n_components
    output("per_feature", per_feature, (args.n_features, record_length(q)))
    output("shared", shared, (packed_length(q),))
    return args


def check_score(X, loadings, mean, noise_variance, n_threads, log_prob, factors):
    """``check_model``'s namespace, with the outputs ``log_prob`` (n,) and
    ``factors`` (n, q), each None or checked."""
    args = check_model(X, loadings, mean, noise_variance, n_threads)
    if log_prob is not None:
        output("log_prob", log_prob, (args.n_samples,))
    if factors is not None:
        output("factors", factors, (args.n_samples, args.n_components))
    return args
