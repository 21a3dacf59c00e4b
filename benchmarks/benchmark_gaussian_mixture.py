"""asv suites for GaussianMixture: fastem and scikit-learn timed side by side.

Every suite has a ``library`` parameter, so the peer runs in the same asv run, on the
same data and from the same starting point, and ratios are honest. EM is timed with a
fixed ``max_iter`` and ``tol=0`` from given initial parameters (so initialisation is
not timed there; ``Initialization`` times it on its own, ``KMeansPlusPlus`` the
k-means++ seeding alone), threads pinned with threadpoolctl, and a ``track_`` of the
final lower bound (of the seeds' potential) sits beside the ``time_``.

The default shapes keep ``asv run --quick`` to minutes on a 2-core machine; set
``FASTEM_BENCH_LARGE=1`` to add the shapes of the performance targets.
"""

import os
import warnings

import numpy as np
from sklearn.cluster import kmeans_plusplus as sklearn_kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from threadpoolctl import threadpool_limits

from fastem import GaussianMixture as FastemGaussianMixture

from ._problem import COVARIANCE_TYPES, initial_parameters, mixture_data

try:  # commits before the seeding kernels: KMeansPlusPlus is skipped
    from fastem._engine.seeding import kmeans_plusplus as _fastem_kmeans_plusplus
    from fastem._engine.threads import effective_n_threads
except ImportError:
    _fastem_kmeans_plusplus = None

ESTIMATORS = {"fastem": FastemGaussianMixture, "sklearn": SklearnGaussianMixture}
# FASTEM_BENCH_LIBRARIES=fastem times fastem alone: what comparing two of its commits
# needs (.github/workflows/benchmarks.yml).
LIBRARIES = tuple(
    os.environ.get("FASTEM_BENCH_LIBRARIES", ",".join(ESTIMATORS)).split(",")
)
if not set(LIBRARIES) <= set(ESTIMATORS):
    raise ValueError(
        f"FASTEM_BENCH_LIBRARIES={','.join(LIBRARIES)!r}: "
        f"choose among {', '.join(ESTIMATORS)}"
    )
DTYPES = ("float64", "float32")
THREADS = (1, "all")
EM_ITERATIONS = 5

# (n_samples, n_features, n_components)
SHAPES = [(100_000, 3, 16), (100_000, 8, 16)]
if os.environ.get("FASTEM_BENCH_LARGE"):
    SHAPES += [
        (1_000_000, 3, 32),
        (1_000_000, 8, 32),
        (200_000, 32, 16),
        (100_000, 64, 16),
    ]


def _fit(estimator, X, threads):
    """Fit with the OpenMP and BLAS pools limited to ``threads`` ('all': no limit)."""
    with (
        threadpool_limits(limits=None if threads == "all" else threads),
        warnings.catch_warnings(),
    ):
        # tol=0 never converges: the warning is expected, and noise in the output.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X)


def _started_estimator(library, X, n_components, covariance_type, max_iter):
    """An unfitted estimator that starts EM from ``initial_parameters``."""
    start = initial_parameters(X, n_components, covariance_type)
    return ESTIMATORS[library](
        n_components=n_components,
        covariance_type=covariance_type,
        max_iter=max_iter,
        tol=0.0,
        weights_init=start["weights"],
        means_init=start["means"],
        precisions_init=start["precisions"],
    )


class EMIteration:
    """``EM_ITERATIONS`` EM iterations from given parameters (plus validation and the
    final E-step both libraries do), per covariance type, dtype and thread count."""

    params = (LIBRARIES, COVARIANCE_TYPES, DTYPES, THREADS, SHAPES)
    param_names = ["library", "covariance_type", "dtype", "threads", "shape"]
    number = 1
    timeout = 600

    def setup(self, library, covariance_type, dtype, threads, shape):
        n_samples, n_features, n_components = shape
        self.X = mixture_data(n_samples, n_features, n_components, dtype)
        self.estimator = _started_estimator(
            library, self.X, n_components, covariance_type, EM_ITERATIONS
        )
        self.threads = threads

    def time_fit(self, *params):
        _fit(self.estimator, self.X, self.threads)

    def peakmem_fit(self, *params):
        _fit(self.estimator, self.X, self.threads)

    def track_lower_bound(self, *params):
        # float32 fits give a NumPy scalar, which asv's JSON results cannot hold.
        return float(_fit(self.estimator, self.X, self.threads).lower_bound_)

    track_lower_bound.unit = "mean log-likelihood"


class Initialization:
    """Initialisation on its own: ``init_params`` then ``max_iter=0`` (no EM step)."""

    params = (LIBRARIES, ("kmeans", "k-means++"), THREADS, SHAPES)
    param_names = ["library", "init_params", "threads", "shape"]
    number = 1
    timeout = 600

    def setup(self, library, init_params, threads, shape):
        n_samples, n_features, n_components = shape
        self.X = mixture_data(n_samples, n_features, n_components)
        self.estimator = ESTIMATORS[library](
            n_components=n_components,
            init_params=init_params,
            max_iter=0,
            random_state=0,
        )
        self.threads = threads

    def time_fit(self, *params):
        _fit(self.estimator, self.X, self.threads)


def _seeds(library, X, n_clusters, threads):
    """Indices of the k-means++ seeds (random_state=0), threads limited as in _fit."""
    with threadpool_limits(limits=None if threads == "all" else threads):
        if library == "fastem":
            return _fastem_kmeans_plusplus(
                X, n_clusters, random_state=0, n_threads=effective_n_threads()
            )[1]
        return sklearn_kmeans_plusplus(X, n_clusters, random_state=0)[1]


class KMeansPlusPlus:
    """k-means++ seeding on its own (what ``init_params='k-means++'`` spends before
    the first statistics): fastem's kernels and ``sklearn.cluster.kmeans_plusplus``,
    the same random_state, so the same seeds."""

    params = (LIBRARIES, THREADS, SHAPES)
    param_names = ["library", "threads", "shape"]
    number = 1
    timeout = 600

    def setup(self, library, threads, shape):
        if _fastem_kmeans_plusplus is None:
            raise NotImplementedError("this commit has no k-means++ kernels")
        n_samples, n_features, n_clusters = shape
        self.X = mixture_data(n_samples, n_features, n_clusters)
        self.n_clusters = n_clusters

    def time_kmeans_plusplus(self, library, threads, shape):
        _seeds(library, self.X, self.n_clusters, threads)

    def track_potential(self, library, threads, shape):
        """Sum of squared distances to the nearest seed: moves only if seeds do."""
        seeds = self.X[_seeds(library, self.X, self.n_clusters, threads)]
        closest = np.full(len(self.X), np.inf)
        for seed in seeds:
            np.minimum(closest, np.sum((self.X - seed) ** 2, axis=1), out=closest)
        return float(np.sum(closest))

    track_potential.unit = "squared distance"


class Prediction:
    """predict, predict_proba and score_samples of a fitted model, on all threads."""

    params = (
        LIBRARIES,
        COVARIANCE_TYPES,
        ("predict", "predict_proba", "score_samples"),
        SHAPES,
    )
    param_names = ["library", "covariance_type", "method", "shape"]
    timeout = 600

    def setup(self, library, covariance_type, method, shape):
        n_samples, n_features, n_components = shape
        self.X = mixture_data(n_samples, n_features, n_components)
        estimator = _started_estimator(
            library, self.X, n_components, covariance_type, max_iter=1
        )
        self.method = getattr(_fit(estimator, self.X, "all"), method)

    def time_method(self, *params):
        self.method(self.X)
