#!/usr/bin/env python
"""fastem's threads on a machine whose cores are busy with other work.

    python benchmarks/threads_under_load.py [--threads N] [--repeats R] [--quick]
                                            [--no-load] [--python PY] [--json out.json]

A busy loop runs on every CPU this process may use (one process each, started before
and stopped after the measurements), as another user's work would. Under it, each
case is timed with one kernel thread and with ``--threads`` (default: every CPU),
interleaved and in child processes of their own (``OMP_NUM_THREADS`` set in each),
and the table gives the median wall-clock seconds per EM iteration, from the same
start, as ``compare.py`` measures them: ``(t_M - t_1) / (M - 1)``. The bar (issue 20):
N threads never more than 10% slower than one, ``tN/t1 <= 1.10``.

A second table times a default fit (``GaussianMixture(n_components,
random_state=0).fit(X)``, its initialisation scikit-learn's KMeans) of small data, the
size of a CSV a user fits from the command line, and the KMeans of that
initialisation alone (as fastem runs it), each the fastest of five in one child: the
bar is that the initialisation is never
the bulk of the fit.

``--no-load`` measures the same without the busy loops, for reference;
``--python`` runs the children with another interpreter (fastem from another commit),
to compare builds under the same load.
"""

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _problem import initial_parameters, mixture_data  # noqa: E402

# (covariance type, N, d, K): from a pass of a millisecond to a pass of ~100 ms.
CASES = [
    ("full", 10_000, 3, 4),
    ("full", 100_000, 3, 8),
    ("diag", 100_000, 8, 16),
    ("full", 1_000_000, 3, 32),
    ("full", 1_000_000, 8, 32),
]
QUICK_CASES = CASES[:3]
ITERATIONS = 6
DEFAULT_FIT_CASES = [(2_000, 3, 3), (10_000, 3, 4)]

ITERATION_CHILD = r"""
import sys, time, warnings, numpy as np
warnings.simplefilter("ignore")
from fastem import GaussianMixture
X = np.load(sys.argv[1]); start = dict(np.load(sys.argv[2]))
covariance_type, iterations = sys.argv[3], int(sys.argv[4])
def fit(max_iter):
    model = GaussianMixture(
        len(start["weights"]), covariance_type=covariance_type, max_iter=max_iter,
        tol=0, weights_init=start["weights"], means_init=start["means"],
        precisions_init=start["precisions"])
    began = time.perf_counter(); model.fit(X)
    return time.perf_counter() - began
fit(1)
one = fit(1)
print((fit(iterations) - one) / (iterations - 1))
"""

DEFAULT_FIT_CHILD = r"""
import sys, time, warnings, numpy as np
warnings.simplefilter("ignore")
from fastem import GaussianMixture
X = np.load(sys.argv[1]); n_components = int(sys.argv[2])
try:
    from fastem._engine.sources import ArraySource
    from fastem._latent.mixture import initial_labels
except ImportError:  # a build from before the engine: its KMeans is not timed
    initial_labels = None
GaussianMixture(n_components, random_state=1).fit(X)  # first calls, thread pools
fits, kmeans = [], []
for repeat in range(5):
    began = time.perf_counter()
    GaussianMixture(n_components, random_state=0).fit(X)
    fits.append(time.perf_counter() - began)
    if initial_labels is not None:
        began = time.perf_counter()
        initial_labels(
            "kmeans", ArraySource(X), X, n_components, np.random.RandomState(0)
        )
        kmeans.append(time.perf_counter() - began)
print(min(fits), min(kmeans, default=float("nan")))
"""


def _busy():
    while True:
        pass


def _run(python, code, arguments, threads):
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run(
        [python, "-c", code, *map(str, arguments)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return [float(value) for value in out.stdout.split()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="the three small cases")
    parser.add_argument("--no-load", action="store_true", help="no busy loops")
    parser.add_argument("--python", default=sys.executable, help="the children's")
    parser.add_argument("--json", help="write the measurements to this file")
    options = parser.parse_args()
    n_busy = 0 if options.no_load else len(os.sched_getaffinity(0))
    busy = [multiprocessing.Process(target=_busy, daemon=True) for _ in range(n_busy)]
    for process in busy:
        process.start()
    results = {"busy_loops": n_busy, "threads": options.threads, "iterations": []}
    folder = Path(tempfile.mkdtemp())
    try:
        print(f"busy loops: {n_busy}; wall-clock seconds per EM iteration, median")
        print(f"{'case':28s} {'1 thread':>10s} {f'{options.threads} threads':>11s}")
        for covariance_type, n, d, k in QUICK_CASES if options.quick else CASES:
            X = mixture_data(n, d, k)
            np.save(folder / "X.npy", X)
            np.savez(folder / "start.npz", **initial_parameters(X, k, covariance_type))
            arguments = (folder / "X.npy", folder / "start.npz", covariance_type)
            times = {1: [], options.threads: []}
            for repeat in range(options.repeats):
                order = list(times)[:: 1 if repeat % 2 == 0 else -1]
                for threads in order:
                    (seconds,) = _run(
                        options.python,
                        ITERATION_CHILD,
                        (*arguments, ITERATIONS),
                        threads,
                    )
                    times[threads].append(seconds)
            one = statistics.median(times[1])
            many = statistics.median(times[options.threads])
            label = f"{covariance_type} N={n:.0e} d={d} K={k}"
            print(f"{label:28s} {one:10.5f} {many:11.5f}   tN/t1 {many / one:.2f}")
            results["iterations"].append(
                {
                    "case": [covariance_type, n, d, k],
                    "t1": times[1],
                    "tN": times[options.threads],
                }
            )
        print("\ndefault fit (kmeans start), median seconds")
        print(f"{'data':16s} {'fit':>8s} {'its KMeans':>11s}")
        results["default_fit"] = []
        for n, d, k in DEFAULT_FIT_CASES:
            np.save(folder / "X.npy", mixture_data(n, d, k))
            runs = [
                _run(
                    options.python,
                    DEFAULT_FIT_CHILD,
                    (folder / "X.npy", k),
                    options.threads,
                )
                for _ in range(options.repeats)
            ]
            fit = statistics.median(run[0] for run in runs)
            kmeans = statistics.median(run[1] for run in runs)
            label = f"{n} x {d}, K={k}"
            print(f"{label:16s} {fit:8.4f} {kmeans:11.4f}   share {kmeans / fit:.0%}")
            results["default_fit"].append({"case": [n, d, k], "runs": runs})
    finally:
        for process in busy:
            process.terminate()
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
