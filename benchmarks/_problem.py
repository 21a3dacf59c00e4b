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


# --- discrete data: Bernoulli and multinomial mixtures -----------------------------


def binary_mixture(n_samples, n_features, n_components, seed=0):
    """Binary rows drawn from a fixed mixture of products of Bernoullis.

    Each component's probabilities are uniform in [0.1, 0.9] and labels uniform.

    Parameters
    ----------
    n_samples, n_features, n_components : int
    seed : int, default=0

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64 zeros and ones
    probabilities : ndarray of shape (n_components, n_features)
        The mixture's P(x_j = 1 | k).
    """
    rng = np.random.default_rng(seed)
    probabilities = rng.uniform(0.1, 0.9, size=(n_components, n_features))
    labels = rng.integers(n_components, size=n_samples)
    uniform = rng.random((n_samples, n_features))
    return (uniform < probabilities[labels]).astype(np.float64), probabilities


def count_mixture(n_samples, n_features, n_components, tokens_per_row=100, seed=0):
    """Bag-of-words counts drawn from a fixed mixture of multinomials (topics).

    Each topic is Zipf's law (exponent 1.1) over its own random ordering of the
    vocabulary; each row draws ``tokens_per_row`` words from one topic (uniform
    labels). At 20,000 x 10,000 with 100 tokens a row: about 1.27M stored values.

    Parameters
    ----------
    n_samples, n_features, n_components, tokens_per_row : int
    seed : int, default=0

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features), float64 counts,
        canonical (sorted indices, no duplicates)
    topics : ndarray of shape (n_components, n_features)
        The mixture's word probabilities, each row summing to 1.
    """
    import scipy.sparse as sp  # only here: the module stays NumPy-only to import

    rng = np.random.default_rng(seed)
    zipf = np.arange(1, n_features + 1) ** -1.1
    zipf /= zipf.sum()
    topics = np.stack([zipf[rng.permutation(n_features)] for _ in range(n_components)])
    labels = rng.integers(n_components, size=n_samples)
    words = np.empty((n_samples, tokens_per_row), dtype=np.int64)
    for k in range(n_components):
        rows = np.flatnonzero(labels == k)
        words[rows] = rng.choice(
            n_features, size=(len(rows), tokens_per_row), p=topics[k]
        )
    X = sp.csr_matrix(
        (
            np.ones(words.size),
            (np.repeat(np.arange(n_samples), tokens_per_row), words.ravel()),
        ),
        shape=(n_samples, n_features),
    )
    X.sum_duplicates()  # also sorts the indices
    return X, topics


def discrete_start(parameters, model, seed=0):
    """Where EM of a Bernoulli or multinomial mixture starts, the same for every
    library: equal weights, and each component half its generating probabilities,
    half a random draw (``seed``).

    A start of single rows (what a re-seed does) lets components of the
    multinomial data die within a few iterations (rows of 100 tokens make the
    responsibilities nearly 0 or 1), and fastem then re-seeds them, so it would no
    longer run the same EM as its peers; this start keeps every component alive.

    Parameters
    ----------
    parameters : ndarray of shape (n_components, n_features)
        The second output of :func:`binary_mixture` or :func:`count_mixture`.
    model : {'bernoulli', 'multinomial'}
        Bernoulli: the draw is uniform in [0.1, 0.9]; multinomial: from a flat
        Dirichlet, so each row still sums to 1.
    seed : int, default=0

    Returns
    -------
    start : dict of float64 ndarray
        ``weights`` (n_components,) and ``feature_prob`` (n_components, n_features).
    """
    n_components, n_features = parameters.shape
    rng = np.random.default_rng(seed)
    if model == "bernoulli":
        noise = rng.uniform(0.1, 0.9, size=parameters.shape)
    elif model == "multinomial":
        noise = rng.dirichlet(np.ones(n_features), size=n_components)
    else:
        raise ValueError(f"unknown model {model!r}")
    return {
        "weights": np.full(n_components, 1.0 / n_components),
        "feature_prob": 0.5 * parameters + 0.5 * noise,
    }
