"""fastem: fast Expectation-Maximization for latent-variable models."""

from ._gaussian_mixture import DegenerateComponentWarning, GaussianMixture
from ._kernels import use_backend
from ._priors import GaussianPrior
from ._show_versions import show_versions

__version__ = "0.1.0"

__all__ = [
    "DegenerateComponentWarning",
    "GaussianMixture",
    "GaussianPrior",
    "show_versions",
    "use_backend",
    "__version__",
]
