"""Mixture weights: what every mixture shares, whatever its family.

The starts scikit-learn's ``init_params`` name (k-means labels, k-means++ seeds,
random rows, random responsibilities) as assignments of rows to components, which a
family turns into statistics and parameters; the check that there are enough rows;
and the rows the sound components explain worst, where collapsed components are
re-seeded.
"""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.cluster import kmeans_plusplus as sklearn_kmeans_plusplus
from sklearn.utils._param_validation import Interval, StrOptions

from .._engine.threads import scikit_learn_openmp_limit, threads_for

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")

# The parameters every mixture estimator has, as scikit-learn validates them.
MIXTURE_PARAMETER_CONSTRAINTS = {
    "n_components": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0.0, None, closed="left")],
    "max_iter": [Interval(Integral, 0, None, closed="left")],
    "n_init": [Interval(Integral, 1, None, closed="left")],
    "init_params": [StrOptions(set(INIT_PARAMS))],
    "weights_init": ["array-like", None],
    "random_state": ["random_state"],
    "warm_start": ["boolean"],
    "verbose": ["verbose"],
    "verbose_interval": [Interval(Integral, 1, None, closed="left")],
    "on_degenerate": [StrOptions({"raise", "reseed"})],
    "init_sample_size": [Interval(Integral, 1, None, closed="left")],
    "learning_offset": [Interval(Real, 0.0, None, closed="left")],
    "learning_decay": [Interval(Real, 0.5, 1.0, closed="right")],
}

# Rows per chunk where an initialisation needs responsibilities: keeps memory
# bounded (chunk x K) whatever the number of samples.
INIT_CHUNK_ROWS = 8192


def check_enough_rows(source, n_components):
    """ValueError unless the rows (of positive weight) are at least n_components."""
    n_rows = (
        source.n_samples
        if source.sample_weight is None
        else np.count_nonzero(source.sample_weight)
    )
    if n_rows < n_components:
        raise ValueError(
            "Expected n_samples >= n_components "
            f"but got n_components = {n_components}, "
            f"n_samples = {n_rows}"
            + ("" if source.sample_weight is None else " (rows of positive weight)")
        )


def initial_labels(init_params, source, X, n_components, random_state):
    """The component of each row in scikit-learn's 'kmeans', 'k-means++' and
    'random_from_data' starts, -1 for rows of no component.

    Parameters
    ----------
    init_params : {'kmeans', 'k-means++', 'random_from_data'}
    source : ArraySource
        The rows (and their weights); its ``kmeans_plusplus`` seeds dense rows.
    X : ndarray or CSR matrix of shape (n_samples, n_features)
        The rows to cluster (``source.X``, or a copy without NaN).
    n_components : int
    random_state : numpy.random.RandomState

    Returns
    -------
    labels : ndarray of shape (n_samples,), intp
    """
    sample_weight = source.sample_weight
    if init_params == "kmeans":
        # On float64: scikit-learn's KMeans adds its threads' sums in an order that
        # depends on their number, which in float32 changes the labels (in float64,
        # only the last bits of the centres). A copy of our own, so KMeans may
        # centre it in place.
        if sp.issparse(X):
            X_kmeans = X.astype(np.float64)
        else:
            X_kmeans = np.array(X, dtype=np.float64, order="C")
        kmeans = KMeans(
            n_clusters=n_components, n_init=1, random_state=random_state, copy_x=False
        )
        # Its threads chosen for its size and the machine's load, as the kernels'
        # are: on a busy machine, its default (every CPU) made it the bulk of a fit.
        n_threads = threads_for(source.n_threads, X.shape[0], n_components)
        with scikit_learn_openmp_limit(n_threads):
            return kmeans.fit(X_kmeans, sample_weight=sample_weight).labels_
    if init_params == "random_from_data":
        candidates = (
            X.shape[0] if sample_weight is None else np.flatnonzero(sample_weight > 0)
        )
        indices = random_state.choice(candidates, size=n_components, replace=False)
    elif sp.issparse(X):
        # The same draws as the kernels' (fastem._engine.seeding), on sparse rows.
        _, indices = sklearn_kmeans_plusplus(
            X,
            n_components,
            sample_weight=sample_weight,
            random_state=random_state,
        )
    else:
        _, indices = source.kmeans_plusplus(n_components, random_state)
    labels = np.full(X.shape[0], -1, dtype=np.intp)
    labels[indices] = np.arange(n_components)
    return labels


def random_resp_chunks(n_samples, n_components, random_state, dtype):
    """scikit-learn's 'random' responsibilities, ``INIT_CHUNK_ROWS`` rows at a time.

    Draws ``random_state.uniform(size=(n_samples, K))`` chunk by chunk (the same
    stream as one call), rounded to ``dtype`` and normalised per row as
    scikit-learn does, without an n_samples x K array.

    Yields
    ------
    rows : slice
    resp : ndarray of shape (rows, K), of ``dtype``
    """
    for start in range(0, n_samples, INIT_CHUNK_ROWS):
        rows = slice(start, min(start + INIT_CHUNK_ROWS, n_samples))
        resp = random_state.uniform(size=(rows.stop - start, n_components))
        resp = resp.astype(dtype)
        resp /= resp.sum(axis=1)[:, np.newaxis]
        yield rows, resp


def one_hot(labels, n_components):
    """Sparse (n, K) indicator of ``labels`` (rows labelled -1 are empty)."""
    assigned = np.flatnonzero(labels >= 0)
    return sp.csr_array(
        (np.ones(len(assigned)), (assigned, labels[assigned])),
        shape=(len(labels), n_components),
    )


def check_weights(weights, dtype, subject):
    """Weights in [0, 1] that sum to 1 (to the rounding of ``dtype``)."""
    if np.any(weights < 0.0) or np.any(weights > 1.0):
        raise ValueError(
            f"{subject} should be in the range [0, 1], but got "
            f"max value {np.max(weights):.5f}, min value {np.min(weights):.5f}"
        )
    atol = 1e-6 if dtype == np.float32 else 1e-8
    if not np.isclose(np.sum(weights), 1.0, rtol=0.0, atol=atol):
        raise ValueError(
            f"{subject} should be normalized, but got "
            f"sum(weights) = {np.sum(weights):.5f}"
        )


def worst_rows(source, sound_model, n_rows):
    """The ``n_rows`` rows of lowest log-likelihood under ``sound_model``, the
    mixture of the components that did not collapse (rows of zero weight are not
    candidates): where collapsed components are re-seeded.

    Returns
    -------
    rows : ndarray of shape (n_rows,), intp
    """
    # Streamed rows are scored chunk by chunk (a dask array is computed).
    log_prob = np.asarray(source.score(sound_model)[0])
    if source.sample_weight is not None:
        log_prob[source.sample_weight == 0.0] = np.inf  # absent rows
    return np.argsort(log_prob, kind="stable")[:n_rows]


def reseeded_weights(weights, degenerate):
    """Weights with each degenerate component at 1 / K, renormalised."""
    weights = weights.copy()
    weights[degenerate] = 1.0 / len(weights)
    return weights / weights.sum()
