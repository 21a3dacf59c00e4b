"""fastem: fast Expectation-Maximization for latent-variable models."""

from ._gaussian_mixture import GaussianMixture
from ._imputer import GaussianMixtureImputer
from ._kernels import use_backend
from ._show_versions import show_versions

__version__ = "0.1.0"

__all__ = [
    "GaussianMixture",
    "GaussianMixtureImputer",
    "show_versions",
    "use_backend",
    "__version__",
]
