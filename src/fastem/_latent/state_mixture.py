"""A mixture inside each state of a hidden Markov model (hmmlearn's ``GMMHMM``):
p(x | k) = sum_m w_km p(x | k, m), any family's components.

The K x n_mix components are one frozen model of the family (component
``k * n_mix + m``, its log-probability including log w_km), so their log-densities
and statistics run on the family's compiled kernels in one call over all states;
this layer only sums the components of each state and splits a state's posterior
among them. Missing values work as for the family: the marginal of the observed
columns is the family's marginal of every component.
"""

from dataclasses import dataclass

import numpy as np

from .._engine.model import FrozenModel


def _log_sum_exp_last(values):
    """log sum exp over the last axis; -inf where every term is -inf."""
    top = np.max(values, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore", under="ignore"):
        return np.log(np.sum(np.exp(values - top), axis=-1)) + top[..., 0]


@dataclass(frozen=True, eq=False)
class FrozenStateMixture(FrozenModel):
    """The emissions of K states, each a mixture of ``n_mix`` components.

    Attributes
    ----------
    components : FrozenModel
        The K * n_mix components, state-major (output k * n_mix + m); its
        ``component_log_prob`` gives log w_km + log p(x | k, m).
    n_mix : int
    """

    components: FrozenModel
    n_mix: int

    @property
    def n_outputs(self):
        return self.components.n_outputs // self.n_mix

    @property
    def work_per_row(self):
        return self.components.work_per_row

    def zero_stats(self):
        return self.components.zero_stats()

    def kernel_context(self):
        return self.components.kernel_context()

    def _joint_log_prob(self, X, n_threads):
        """log w_km + log p(x | k, m), (n_rows, K, n_mix)."""
        log_prob = self.components.component_log_prob(X, n_threads)
        return log_prob.reshape(X.shape[0], self.n_outputs, self.n_mix)

    def component_log_prob(self, X, n_threads=1):
        """log p(x | k) = log sum_m w_km p(x | k, m), (n_rows, K)."""
        return _log_sum_exp_last(self._joint_log_prob(X, n_threads))

    def component_resp(self, X, resp, n_threads=1):
        """Each state's posterior split among its components:
        r_nkm = r_nk p(m | x_n, k), (n_rows, K * n_mix), float64."""
        joint = self._joint_log_prob(X, n_threads)
        state = _log_sum_exp_last(joint)
        with np.errstate(invalid="ignore", under="ignore"):
            within = np.exp(joint - state[..., None])
        # A state under which the row is impossible has no posterior to split.
        within = np.where(np.isfinite(state)[..., None], within, 0.0)
        split = np.asarray(resp, dtype=np.float64)[..., None] * within
        return split.reshape(X.shape[0], -1)

    def stats_given(self, X, resp, sample_weight, n_threads=1):
        """The components' statistics given the states' posteriors ``resp``
        (n_rows, K)."""
        return self.components.stats_given(
            X, self.component_resp(X, resp, n_threads), sample_weight, n_threads
        )

    def marginal(self, observed, missing):
        return MarginalStateMixture(
            self.components.marginal(observed, missing), self.n_mix
        )


@dataclass(frozen=True, eq=False)
class MarginalStateMixture(FrozenStateMixture):
    """The state mixtures on the observed columns O of rows whose other columns
    are missing: each component the family's marginal, whose ``lift`` and
    ``impute`` serve every component."""

    def lift(self, observed_stats):
        """The components' statistics of all columns (the family's lift)."""
        return self.components.lift(observed_stats)

    def impute(self, X_observed, resp, random_state=None):
        """Values for the missing columns given the states' posteriors ``resp``
        (n_rows, K): the family's imputation given the components' posteriors."""
        return self.components.impute(
            X_observed, self.component_resp(X_observed, resp), random_state
        )
