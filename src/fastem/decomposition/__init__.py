"""Low-rank Gaussian models fitted by EM on the observed entries: probabilistic PCA,
factor analysis and their imputer, for dense data with NaN and sparse data whose
stored entries are the observed ones (ratings)."""

from ._factor_models import FactorAnalysis, ProbabilisticPCA
from ._imputer import LowRankImputer

__all__ = ["FactorAnalysis", "LowRankImputer", "ProbabilisticPCA"]
