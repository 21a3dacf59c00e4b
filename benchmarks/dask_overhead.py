"""Dask overhead per EM iteration against the in-memory fit (N = 1e7, d = 8, K = 16).

The same float32 rows and initial parameters are fitted (covariance_type="full",
tol=0, a fixed number of iterations) in memory on every core, then as a dask array
persisted on a ``distributed.LocalCluster`` of one worker process (with 1 and with 2
threads; each block's kernel call on one OpenMP thread, as distributed sets
OMP_NUM_THREADS=1 in its workers). Each EM iteration is timed where the statistics
are summed (``accumulate``); the first one also moves the rows to the worker, so
the median of the others is the cost per iteration. Two threads
per worker beating one shows the kernel running without the GIL.

    python benchmarks/dask_overhead.py [--n-samples 1e7] [--iterations 3]
"""

import argparse
import os
import time

import numpy as np

from fastem import GaussianMixture
from fastem._engine import sources as _sources
from fastem._engine import streams
from fastem._engine.threads import effective_n_threads

N_FEATURES, N_COMPONENTS = 8, 16
BLOCK_ROWS = 500_000


def mixture_rows(n_samples, seed=0):
    rng = np.random.default_rng(seed)
    means = 6.0 * rng.normal(size=(N_COMPONENTS, N_FEATURES))
    labels = rng.integers(N_COMPONENTS, size=n_samples)
    noise = rng.standard_normal(size=(n_samples, N_FEATURES), dtype=np.float32)
    return (means[labels] + noise).astype(np.float32)


def iteration_seconds(source_class, fit, X):
    """Run ``fit(X)`` and return the seconds of each of its EM passes."""
    seconds, accumulate = [], source_class.accumulate

    def timed(self, *args):
        start = time.perf_counter()
        stats = accumulate(self, *args)
        seconds.append(time.perf_counter() - start)
        return stats

    source_class.accumulate = timed
    try:
        fit(X)
    finally:
        source_class.accumulate = accumulate
    return seconds


def main():
    import dask.array as da
    from distributed import Client, LocalCluster

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=float, default=1e7)
    parser.add_argument("--iterations", type=int, default=3)
    args = parser.parse_args()
    X = mixture_rows(int(args.n_samples))
    start = GaussianMixture(N_COMPONENTS, random_state=0, max_iter=0).fit(X[:100_000])
    params = dict(
        n_components=N_COMPONENTS,
        max_iter=args.iterations,
        tol=0.0,
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
    )
    print(
        f"N = {len(X):.0e}, d = {N_FEATURES}, K = {N_COMPONENTS}, float32, full; "
        f"CPUs: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}"
    )
    reference = GaussianMixture(**params)
    memory = iteration_seconds(_sources.ArraySource, reference.fit, X)
    in_memory = np.median(memory)
    print(
        f"in memory ({effective_n_threads()} OpenMP threads): "
        f"{in_memory:.2f} s per iteration"
    )
    for threads in (1, 2):
        with (
            LocalCluster(
                n_workers=1,
                threads_per_worker=threads,
                processes=True,
                dashboard_address=None,
            ) as cluster,
            Client(cluster),
        ):
            blocks = da.from_array(X, chunks=(BLOCK_ROWS, N_FEATURES))
            model = GaussianMixture(**params)
            passes = iteration_seconds(streams.DaskSource, model.fit, blocks)
            # The first pass also moves the rows to the worker (persist is lazy).
            per_pass = np.median(passes[1:]) if len(passes) > 1 else passes[0]
            error = np.max(np.abs(model.means_ - reference.means_))
            print(
                f"dask, 1 worker x {threads} thread(s): {per_pass:.2f} s per "
                f"iteration ({per_pass / in_memory:.2f}x in memory, overhead "
                f"{per_pass - in_memory:+.2f} s); first iteration, with the "
                f"transfer of the rows, {passes[0]:.1f} s; "
                f"max |means - in-memory means| = {error:.1e}"
            )


if __name__ == "__main__":
    main()
