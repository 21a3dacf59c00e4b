"""Mixture models fitted by EM: Gaussian mixtures, with their imputer and their
selection by information criteria, and mixtures of discrete data (binary features,
counts)."""

from ._discrete_mixture import BernoulliMixture, MultinomialMixture
from ._gaussian_mixture import DegenerateComponentWarning, GaussianMixture
from ._imputer import GaussianMixtureImputer
from ._selection import GaussianMixtureIC, select

__all__ = [
    "BernoulliMixture",
    "DegenerateComponentWarning",
    "GaussianMixture",
    "GaussianMixtureIC",
    "GaussianMixtureImputer",
    "MultinomialMixture",
    "select",
]
