"""Hidden Markov models fitted by EM (Baum-Welch): hmmlearn's API on fastem's
compiled, multi-threaded engine, with missing values, sequence weights and online
EM."""

from ._discrete_hmm import CategoricalHMM, PoissonHMM
from ._gaussian_hmm import GaussianHMM
from ._gmm_hmm import GMMHMM

__all__ = ["CategoricalHMM", "GMMHMM", "GaussianHMM", "PoissonHMM"]
