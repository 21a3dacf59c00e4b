"""Deterministic benchmark problems: mixture data and the parameters EM starts from.

NumPy only, so that every interpreter that runs a benchmark (the asv environments, and
the separate virtual environments of the peers in ``compare.py``) can use it.
"""

import numpy as np

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# Rows used to estimate the starting covariance: as good a start as all rows, and cheap.
_COVARIANCE_ROWS = 100_000


def mixture_data(n_samples, n_features, n_components, dtype="float64", seed=0):
    """Rows drawn from a fixed Gaussian mixture, the same for a given seed.

    Component means are uniform in [-10, 10]^d, covariances A A^T with A = I + G / (2
    sqrt(d)) for a standard normal G, and labels uniform, so clusters overlap a little
    (EM has work to do) and every covariance is well conditioned.

    Parameters
    ----------
    n_samples, n_features, n_components : int
    dtype : {'float64', 'float32'}, default='float64'
        float32 data is the float64 data rounded.
    seed : int, default=0

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), C-contiguous, of ``dtype``
    """
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-10.0, 10.0, size=(n_components, n_features))
    factors = np.eye(n_features) + rng.standard_normal(
        (n_components, n_features, n_features)
    ) / (2.0 * np.sqrt(n_features))
    labels = rng.integers(n_components, size=n_samples)
    X = rng.standard_normal((n_samples, n_features))
    for k in range(n_components):
        rows = labels == k
        X[rows] = X[rows] @ factors[k].T + centers[k]
    return X.astype(dtype, copy=False)


def initial_parameters(X, n_components, covariance_type, seed=0):
    """Where EM starts: the same for every library, so only iterations are compared.

    Equal weights, means at ``n_components`` distinct rows of X chosen by ``seed``, and
    every component's covariance the covariance of the data (of its first 100,000 rows),
    shaped for ``covariance_type``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_components : int
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    seed : int, default=0

    Returns
    -------
    start : dict of ndarray, all of X's dtype
        ``weights`` (n_components,); ``means`` (n_components, n_features); and
        ``covariances`` with their inverses ``precisions``, shaped as scikit-learn's
        ``covariances_``: full (n_components, n_features, n_features), tied
        (n_features, n_features), diag (n_components, n_features), spherical
        (n_components,).
    """
    n_samples, n_features = X.shape
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n_samples, size=n_components, replace=False))
    covariance = np.atleast_2d(
        np.cov(X[:_COVARIANCE_ROWS], rowvar=False, dtype=np.float64)
    )
    if covariance_type in ("full", "tied"):
        precision = np.linalg.inv(covariance)
        precision = (precision + precision.T) / 2.0
        if covariance_type == "full":
            covariance = np.broadcast_to(covariance, (n_components,) + covariance.shape)
            precision = np.broadcast_to(precision, covariance.shape)
    elif covariance_type == "diag":
        covariance = np.tile(np.diag(covariance), (n_components, 1))
        precision = 1.0 / covariance
    elif covariance_type == "spherical":
        covariance = np.full(n_components, np.trace(covariance) / n_features)
        precision = 1.0 / covariance
    else:
        raise ValueError(f"unknown covariance_type {covariance_type!r}")
    start = {
        "weights": np.full(n_components, 1.0 / n_components),
        "means": X[rows],
        "covariances": covariance,
        "precisions": precision,
    }
    return {name: np.array(value, dtype=X.dtype) for name, value in start.items()}
