"""Mixture models fitted by EM: Gaussian mixtures, with their imputer and their
selection by information criteria."""

from ._gaussian_mixture import DegenerateComponentWarning, GaussianMixture
from ._imputer import GaussianMixtureImputer
from ._selection import GaussianMixtureIC, select

__all__ = [
    "DegenerateComponentWarning",
    "GaussianMixture",
    "GaussianMixtureIC",
    "GaussianMixtureImputer",
    "select",
]
