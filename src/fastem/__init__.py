"""fastem: fast Expectation-Maximization for latent-variable models."""

import os

# macOS wheels vendor their own libomp, as scikit-learn's do, and two LLVM OpenMP
# runtimes in one process abort ("OMP: Error #15") unless allowed to coexist: the
# default scikit-learn sets too. Each keeps its own threads; none nests in another's
# (BLAS called from the kernels' threads runs on one thread).
os.environ.setdefault("KMP_DUPLICATE_LIB_OK", "True")

from . import plot  # noqa: F401  (fastem.plot; matplotlib is imported on use)
from ._gaussian_mixture import DegenerateComponentWarning, GaussianMixture
from ._imputer import GaussianMixtureImputer
from ._kernels import use_backend
from ._persistence import load
from ._priors import GaussianPrior
from ._selection import GaussianMixtureIC, SelectionResult, select
from ._show_versions import show_versions
from ._threads import ForkedAfterOpenMPWarning

__version__ = "0.1.0"

__all__ = [
    "DegenerateComponentWarning",
    "ForkedAfterOpenMPWarning",
    "GaussianMixture",
    "GaussianMixtureIC",
    "GaussianMixtureImputer",
    "GaussianPrior",
    "SelectionResult",
    "load",
    "select",
    "show_versions",
    "use_backend",
    "__version__",
]
