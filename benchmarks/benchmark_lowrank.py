"""asv suite for the low-rank models (issue 18): EM passes of ProbabilisticPCA and
FactorAnalysis on the observed entries, dense rows with NaN and CSR rows.

Each fit runs a fixed number of plain EM iterations (``acceleration=None``,
``tol=0``), so every run does the same passes; threads are pinned with threadpoolctl,
and a ``track_`` of the final lower bound sits beside the ``time_``. The data are
``compare_lowrank``'s: a rank-5 model plus noise, 30% of the dense entries NaN, 2% of
the sparse ones stored. The side-by-side comparison with scikit-surprise,
IterativeImputer and KNNImputer is ``compare_lowrank.py`` (peers that asv's
environments need not hold).
"""

import warnings

from threadpoolctl import threadpool_limits

from fastem import FactorAnalysis, ProbabilisticPCA

from .compare_lowrank import low_rank_rows, sparse_low_rank

ITERATIONS = 10
MODELS = {"ppca": ProbabilisticPCA, "fa": FactorAnalysis}


class LowRankIteration:
    """10 EM iterations of a rank-5 model on the observed entries."""

    params = (("ppca", "fa"), ("dense-nan", "csr"), (1, 2))
    param_names = ("model", "layout", "threads")
    timeout = 600

    def setup(self, model, layout, threads):
        warnings.simplefilter("ignore")
        if layout == "dense-nan":
            self.X, _ = low_rank_rows(20_000, 100, 5, missing=0.3)
        else:
            self.X = sparse_low_rank(20_000, 2_000, 0.02, 5)
        self.model = MODELS[model]

    def _fit(self, threads):
        estimator = self.model(
            5, tol=0.0, max_iter=ITERATIONS, acceleration=None, random_state=0
        )
        with threadpool_limits(threads):
            return estimator.fit(self.X)

    def time_fit(self, model, layout, threads):
        self._fit(threads)

    def track_lower_bound(self, model, layout, threads):
        return self._fit(threads).lower_bound_
