"""asv suite for BernoulliMixture and MultinomialMixture: fastem and its peers side by
side (issue 16).

The suite has a ``library`` parameter, so the peers run in the same asv run, on the
same data and from the same start, and ratios are honest: ``numpy-matmul``, the NumPy
/ scipy.sparse EM of ``compare_discrete.py`` (one matrix product per step, dense or
CSR), and StepMix and pomegranate, which fit dense Bernoulli data only and are timed
where they are installed in the benchmark environment (skipped otherwise; they are
not in ``asv.conf.json``'s matrix: ``compare_discrete.py`` runs them from their own
virtual environments). EM is timed with a fixed ``max_iter`` and ``tol=0`` from
given parameters (``_problem.discrete_start``), threads pinned with threadpoolctl
(and ``torch.set_num_threads`` for pomegranate), and a ``track_`` of the final lower
bound sits beside the ``time_``.

The default sizes are a tenth of issue 16's (N / 10), for ``asv run --quick`` on a
2-core machine; ``FASTEM_BENCH_LARGE=1`` adds the issue's sizes: multinomial
20,000 x 10,000 (about 1.27M stored counts), K = 20; Bernoulli 100,000 x 100, K = 10.
A dense multinomial X at the issue's size takes 1.6 GB.
``FASTEM_BENCH_LIBRARIES`` (comma-separated, shared with the other suites) keeps the
libraries it names, e.g. ``fastem`` alone.
"""

import os
import warnings

from threadpoolctl import threadpool_limits

from ._problem import binary_mixture, count_mixture, discrete_start
from .compare_discrete import Case, preparer

ALL_LIBRARIES = ("fastem", "numpy-matmul", "stepmix", "pomegranate")
# Only the libraries named (the variable is shared with the other suites, so names
# of other suites' libraries are ignored here).
_NAMED = os.environ.get("FASTEM_BENCH_LIBRARIES")
LIBRARIES = tuple(
    name for name in ALL_LIBRARIES if _NAMED is None or name in _NAMED.split(",")
) or ("fastem",)
# Peers that fit dense Bernoulli data only.
DENSE_BERNOULLI_ONLY = ("stepmix", "pomegranate")
MODELS = ("bernoulli", "multinomial")
LAYOUTS = ("dense", "csr")
THREADS = (1, "all")
EM_ITERATIONS = 10

# (n_samples, n_features, n_components, alpha, tokens_per_row) per model and size.
SHAPES = {
    ("multinomial", "small"): (2_000, 10_000, 20, 1.0, 100),
    ("multinomial", "issue"): (20_000, 10_000, 20, 1.0, 100),
    ("bernoulli", "small"): (10_000, 100, 10, 0.0, 0),
    ("bernoulli", "issue"): (100_000, 100, 10, 0.0, 0),
}
SIZES = ("small", "issue") if os.environ.get("FASTEM_BENCH_LARGE") else ("small",)


def _problem(model, layout, size):
    """(Case, X in ``layout``, start) of a model and size."""
    case = Case(model, *SHAPES[model, size])
    if model == "multinomial":
        X, parameters = count_mixture(
            case.n_samples, case.n_features, case.n_components, case.tokens_per_row
        )
        if layout == "dense":
            X = X.toarray()
    else:
        X, parameters = binary_mixture(
            case.n_samples, case.n_features, case.n_components
        )
        if layout == "csr":
            import scipy.sparse as sp

            X = sp.csr_matrix(X)
    return case, X, discrete_start(parameters, model)


class DiscreteEMIteration:
    """``EM_ITERATIONS`` EM iterations of a Bernoulli or multinomial mixture from
    given parameters, per library, model, layout of X, thread count and size."""

    params = (LIBRARIES, MODELS, LAYOUTS, THREADS, SIZES)
    param_names = ["library", "model", "layout", "threads", "size"]
    number = 1
    timeout = 600

    def setup(self, library, model, layout, threads, size):
        if library in DENSE_BERNOULLI_ONLY and (model, layout) != (
            "bernoulli",
            "dense",
        ):
            raise NotImplementedError(f"{library} fits dense Bernoulli data only")
        case, self.X, self.start = _problem(model, layout, size)
        n_threads = os.cpu_count() if threads == "all" else threads
        try:  # imports the library (fastem before BernoulliMixture: skipped)
            self.fit = preparer(library, case)(case, n_threads)
        except ImportError as error:
            raise NotImplementedError(f"{library}: {error}") from error
        self.threads = threads

    def _run(self):
        """(lower bound, iterations) of a fit, threads limited ('all': no limit)."""
        with (
            threadpool_limits(limits=None if self.threads == "all" else self.threads),
            warnings.catch_warnings(),
        ):
            # tol=0 never converges: the warning is expected, and noise in the output.
            warnings.simplefilter("ignore")
            return self.fit(self.X, self.start, EM_ITERATIONS)

    def time_fit(self, *params):
        self._run()

    def track_lower_bound(self, *params):
        return float(self._run()[0])

    track_lower_bound.unit = "mean log-likelihood"
