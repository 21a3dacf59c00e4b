"""fastem: fast Expectation-Maximization for latent-variable models."""

import os
from importlib import import_module

# macOS wheels vendor their own libomp, as scikit-learn's do, and two LLVM OpenMP
# runtimes in one process abort ("OMP: Error #15") unless allowed to coexist: the
# default scikit-learn sets too. Each keeps its own threads; none nests in another's
# (BLAS called from the kernels' threads runs on one thread).
os.environ.setdefault("KMP_DUPLICATE_LIB_OK", "True")

__version__ = "0.1.0"

# Each public name and the module that defines it. They are imported on first use
# (PEP 562), not with the package: `fastem --help` and `fastem --version` would
# otherwise wait seconds for scikit-learn and SciPy.
_PUBLIC_MODULES = {
    "BernoulliMixture": ".mixture._discrete_mixture",
    "CategoricalHMM": ".hmm._discrete_hmm",
    "DegenerateComponentWarning": ".mixture._gaussian_mixture",
    "FactorAnalysis": ".decomposition._factor_models",
    "ForkedAfterOpenMPWarning": "._engine.threads",
    "GaussianMixture": ".mixture._gaussian_mixture",
    "GaussianMixtureIC": ".mixture._selection",
    "GaussianMixtureImputer": ".mixture._imputer",
    "GaussianHMM": ".hmm._gaussian_hmm",
    "GMMHMM": ".hmm._gmm_hmm",
    "GaussianPrior": "._families.gaussian_prior",
    "LowRankImputer": ".decomposition._imputer",
    "MultinomialMixture": ".mixture._discrete_mixture",
    "PoissonHMM": ".hmm._discrete_hmm",
    "ProbabilisticPCA": ".decomposition._factor_models",
    "SelectionResult": "._engine.selection",
    "load": "._engine.persistence",
    "select": ".mixture._selection",
    "show_versions": "._show_versions",
    "use_backend": "._kernels",
}
# fastem.plot (matplotlib is imported on use) and the public modules of models.
_SUBMODULES = ("decomposition", "hmm", "mixture", "plot")

__all__ = [*_PUBLIC_MODULES, "__version__"]


def __getattr__(name):
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    if name not in _PUBLIC_MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_PUBLIC_MODULES[name], __name__), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__():
    return sorted({*globals(), *_PUBLIC_MODULES, *_SUBMODULES})
