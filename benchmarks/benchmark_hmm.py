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
