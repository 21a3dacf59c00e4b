"""fastem: fast Expectation-Maximization for latent-variable models."""

from . import plot  # noqa: F401  (fastem.plot; matplotlib is imported on use)
from ._gaussian_mixture import GaussianMixture
from ._kernels import use_backend
from ._persistence import load
from ._show_versions import show_versions

__version__ = "0.1.0"

__all__ = ["GaussianMixture", "load", "show_versions", "use_backend", "__version__"]
