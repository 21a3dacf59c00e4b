"""asv suite for GaussianHMM: fastem and hmmlearn side by side (issue 17).

The suite has a ``library`` parameter, so hmmlearn (both of its forward-backward
implementations, where it is installed in the benchmark environment; skipped
otherwise) runs in the same asv run, on the same data and from the same start, and
ratios are honest. EM is timed with a fixed ``n_iter`` and ``tol=-inf`` from given
parameters (``compare_hmm.sample_problem``), threads pinned with threadpoolctl, and
a ``track_`` of the final log-likelihood sits beside the ``time_``.

The default sizes are a tenth of issue 17's, for ``asv run --quick`` on a 2-core
machine; ``FASTEM_BENCH_LARGE=1`` adds the issue's sizes: 100,000 frames in one
sequence and 1,000,000 frames as 1,000 sequences, K = 10, d = 5, diagonal.
``FASTEM_BENCH_LIBRARIES`` (comma-separated, shared with the other suites) keeps the
libraries it names, e.g. ``fastem`` alone.
"""

import importlib.util
import os
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from .compare_hmm import CASES, FITS, N_ITER, sample_problem

ALL_LIBRARIES = ("fastem", "hmmlearn-scaling", "hmmlearn-log")
_NAMED = os.environ.get("FASTEM_BENCH_LIBRARIES")
LIBRARIES = tuple(
    name for name in ALL_LIBRARIES if _NAMED is None or name in _NAMED.split(",")
) or ("fastem",)
SIZES = ("small", "issue") if os.environ.get("FASTEM_BENCH_LARGE") else ("small",)
THREADS = (1, 2)


def _case(name, size):
    case = CASES[name]
    return case if size == "issue" else case.shrunk(10)


class GaussianHMMIteration:
    """10 EM iterations of a diagonal GaussianHMM from a fixed start."""

    params = (LIBRARIES, ("single", "many"), SIZES, THREADS)
    param_names = ("library", "case", "size", "threads")
    timeout = 600

    def setup(self, library, case, size, threads):
        if library.startswith("hmmlearn"):
            if importlib.util.find_spec("hmmlearn") is None:
                raise NotImplementedError("hmmlearn is not installed")
            if threads > 1:
                raise NotImplementedError("hmmlearn runs on one thread")
        warnings.simplefilter("ignore")
        self.X, self.lengths, self.start = sample_problem(_case(case, size))
        self.fit = FITS[library]

    def _fit(self, threads):
        with threadpool_limits(threads):
            return self.fit(self.X, self.lengths, self.start, N_ITER)

    def time_fit(self, library, case, size, threads):
        self._fit(threads)

    def track_log_likelihood(self, library, case, size, threads):
        return float(self._fit(threads).monitor_.history[-1])


class GaussianHMMOutOfCore:
    """10 EM iterations of fastem's diagonal GaussianHMM on frames not held in one
    array, beside the same frames in memory: 'many' (the small case's 100 sequences
    of 1,000 frames) in memory, from a chunk callable and from a Dask array (10
    chunks of 10 whole sequences each); 'single' (one sequence of 10,000 frames) held
    whole and read in checkpointed blocks of 1,000 frames (forward, then backward
    from the checkpoints: each block read twice an iteration)."""

    params = (
        ("many-memory", "many-chunks", "many-dask", "single-memory", "single-blocks"),
    )
    param_names = ("source",)
    timeout = 600

    def setup(self, source):
        if source == "many-dask" and importlib.util.find_spec("dask") is None:
            raise NotImplementedError("dask is not installed")
        warnings.simplefilter("ignore")
        case, how = source.split("-")
        X, self.lengths, self.start = sample_problem(_case(case, "small"))
        edges = np.r_[0, np.cumsum(self.lengths)][:: max(1, len(self.lengths) // 10)]
        edges = np.unique(np.r_[edges, len(X)])
        self.X = X
        if how == "chunks":
            self.X = lambda: (X[lo:hi] for lo, hi in zip(edges[:-1], edges[1:]))
        elif how == "dask":
            import dask
            import dask.array as da

            dask.config.set(scheduler="synchronous")
            self.X = da.from_array(X, chunks=(tuple(np.diff(edges)), X.shape[1]))
        from fastem._engine import sequences

        self._block_bytes = sequences.SEQUENCE_BLOCK_BYTES
        if how == "blocks":
            K = self.start["means"].shape[0]
            sequences.SEQUENCE_BLOCK_BYTES = 16 * K * 1_000

    def teardown(self, source):
        from fastem._engine import sequences

        sequences.SEQUENCE_BLOCK_BYTES = self._block_bytes

    def _fit(self):
        with threadpool_limits(1):
            return FITS["fastem"](self.X, self.lengths, self.start, N_ITER)

    def time_fit(self, source):
        self._fit()

    def track_log_likelihood(self, source):
        return float(self._fit().monitor_.history[-1])
