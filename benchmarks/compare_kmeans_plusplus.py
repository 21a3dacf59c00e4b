#!/usr/bin/env python
"""k-means++ seeding side by side: fastem and ``sklearn.cluster.kmeans_plusplus``.

    python benchmarks/compare_kmeans_plusplus.py [--n-samples N] [--clusters K]
        [--features 3 8] [--threads 1 2] [--repeats R]

For each number of features and threads, both seed the same data
(``_problem.mixture_data``) with ``random_state=0``, interleaved, ``R`` times each
(after one warm-up each); the table gives the medians of wall-clock and process CPU
seconds (CPU time is the steadier measure on a shared machine at one thread), their
ratios (scikit-learn / fastem), and whether the seeds are the same rows. Threads are
limited with threadpoolctl (OpenMP for fastem, BLAS for scikit-learn); a pause between
runs lets the BLAS threads stop spinning.
"""

import argparse
import statistics
import time
from functools import partial

from sklearn.cluster import kmeans_plusplus as sklearn_kmeans_plusplus
from threadpoolctl import threadpool_limits

from fastem._engine.seeding import kmeans_plusplus as fastem_kmeans_plusplus

if __package__:
    from ._problem import mixture_data
else:
    from _problem import mixture_data


def timed(function):
    """(wall seconds, process CPU seconds, result) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    parser.add_argument("--clusters", type=int, default=32)
    parser.add_argument("--features", type=int, nargs="+", default=[3, 8])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.5)
    args = parser.parse_args()

    seeders = {
        "sklearn": lambda X, threads: sklearn_kmeans_plusplus(
            X, args.clusters, random_state=0
        ),
        "fastem": lambda X, threads: fastem_kmeans_plusplus(
            X, args.clusters, random_state=0, n_threads=threads
        ),
    }
    print(
        f"N={args.n_samples} K={args.clusters}, median of {args.repeats}; "
        "seconds wall / CPU"
    )
    print(
        f"{'d':>3} {'threads':>7} {'sklearn':>15} {'fastem':>15} "
        f"{'ratio wall':>10} {'ratio CPU':>9}  same seeds"
    )
    for n_features in args.features:
        X = mixture_data(args.n_samples, n_features, args.clusters)
        for threads in args.threads:
            times = {name: [] for name in seeders}
            seeds = {}
            with threadpool_limits(limits=threads):
                for repeat in range(args.repeats + 1):
                    for name, seed in seeders.items():
                        time.sleep(args.pause)
                        wall, cpu, (_, seeds[name]) = timed(partial(seed, X, threads))
                        if repeat:  # the first run of each is a warm-up
                            times[name].append((wall, cpu))
            median = {
                name: [statistics.median(v[i] for v in values) for i in (0, 1)]
                for name, values in times.items()
            }
            sk, fe = median["sklearn"], median["fastem"]
            print(
                f"{n_features:>3} {threads:>7} {sk[0]:>7.3f}/{sk[1]:<7.3f} "
                f"{fe[0]:>7.3f}/{fe[1]:<7.3f} {sk[0] / fe[0]:>10.1f} "
                f"{sk[1] / fe[1]:>9.1f}  "
                f"{bool((seeds['sklearn'] == seeds['fastem']).all())}"
            )


if __name__ == "__main__":
    main()
