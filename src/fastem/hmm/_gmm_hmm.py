"""GMMHMM: hidden Markov models whose states emit Gaussian mixtures, hmmlearn's API."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .._engine.patterns import mean_imputed
from .._engine.persistence import register_model
from .._families.gaussian_frozen import FrozenGaussianMixture
from .._latent.markov import check_distribution
from .._latent.state_mixture import FrozenStateMixture
from ._base import BaseHMM
from ._gaussian_hmm import (
    COVARIANCE_TYPES,
    _validate_covars,
    kmeans_centres,
    precision_factors,
    validated_float_frames,
)


def _covars_shape(covariance_type, n_components, n_mix, n_features):
    """hmmlearn's shape of GMMHMM's ``covars_``."""
    return {
        "spherical": (n_components, n_mix),
        "diag": (n_components, n_mix, n_features),
        "full": (n_components, n_mix, n_features, n_features),
        "tied": (n_components, n_features, n_features),
    }[covariance_type]


def _component_covars(covars, covariance_type, n_mix):
    """The K * n_mix components' covariances in the layout of the type the kernels
    run ('full' for tied: each state's matrix repeated over its components)."""
    if covariance_type == "tied":
        return np.repeat(covars, n_mix, axis=0)
    if covariance_type == "spherical":
        return covars.reshape(-1)
    return covars.reshape(-1, *covars.shape[2:])


def _outer(x):
    """The outer product over the last axis, (..., d, d)."""
    return x[..., :, None] * x[..., None, :]


@register_model
class GMMHMM(BaseHMM):
    """Hidden Markov model whose states emit Gaussian mixtures: a drop-in for
    hmmlearn's ``GMMHMM``, fitted on fastem's compiled, multi-threaded kernels.

    State k emits p(x | k) = sum_m weights_[k, m] N(x; means_[k, m], covars of
    (k, m)). The same parameters, defaults (priors included), attributes and
    methods as hmmlearn 0.3, and from the same starting parameters the same fit.
    Beyond hmmlearn: NaN in the frames (marginal densities, :meth:`impute`), one
    weight per sequence, threads with the same bits for any thread count,
    re-seeding of states that collapse, :meth:`partial_fit`, save / load.

    Parameters
    ----------
    n_components : int, default=1
        Number of states.
    n_mix : int, default=1
        Number of Gaussians of each state's mixture.
    min_covar : float, default=1e-3
        Added to the diagonal of the data's covariance that the covariances start
        from (and to a full covariance that is not positive definite).
    startprob_prior, transmat_prior : float or array-like, default=1.0
        Dirichlet concentrations of ``startprob_`` and of each row of
        ``transmat_``.
    weights_prior : float or array-like of shape (n_components, n_mix), default=1.0
        Dirichlet concentrations of each state's ``weights_``.
    means_prior, means_weight : float or array-like, default=0.0
        Mean (n_components, n_mix, n_features) and precision (n_components, n_mix)
        of the normal prior of the means.
    covars_prior, covars_weight : float, array-like or None, default=None
        hmmlearn's prior of the covariances: inverse gamma (spherical, diag),
        inverse Wishart (full, tied); None: hmmlearn's defaults, which make the
        update the maximum-likelihood one (spherical: -(n_mix + 2) / 2 and 0; diag:
        -1.5 and 0; full: 0 and -(n_features + 2); tied: 0 and
        -(n_mix + n_features + 1)).
    algorithm : {'viterbi', 'map'}, default='viterbi'
        The decoder of :meth:`predict` and :meth:`decode`.
    covariance_type : {'spherical', 'diag', 'full', 'tied'}, default='diag'
        One variance, a diagonal or a full covariance per mixture component, or
        ('tied') one full covariance shared by the components of each state.
    random_state, n_iter, tol, verbose
        As in :class:`GaussianHMM`.
    params, init_params : str, default='stmcw'
        's' startprob, 't' transmat, 'm' means, 'c' covars, 'w' weights.
    implementation, on_degenerate, learning_offset, learning_decay
        As in :class:`GaussianHMM`.

    Attributes
    ----------
    startprob_, transmat_, monitor_, converged_, n_iter_, lower_bound_, \
lower_bounds_, n_reseeds_, n_features_in_
        As in :class:`GaussianHMM`.
    weights_ : ndarray of shape (n_components, n_mix)
    means_ : ndarray of shape (n_components, n_mix, n_features)
    covars_ : ndarray
        (n_components, n_mix) spherical, (n_components, n_mix, n_features) diag,
        (n_components, n_mix, n_features, n_features) full, (n_components,
        n_features, n_features) tied.
    n_features : int

    Notes
    -----
    The M-step is hmmlearn's, including its covariance update, which takes the
    scatter around the means of the E-step (not the updated ones): the same
    fixed points as exact EM, and hmmlearn's numbers. A state one of whose
    components loses all its mass (or whose parameters become undefined) is
    re-seeded whole at the frames the other states explain worst.
    ``aic`` / ``bic`` count the weights' free parameters as n_components *
    (n_mix - 1) (hmmlearn counts n_mix - 1).

    Examples
    --------
    >>> import numpy as np
    >>> from fastem.hmm import GMMHMM
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 1, (60, 2)), rng.normal(8, 1, (60, 2))])
    >>> model = GMMHMM(2, n_mix=2, random_state=0).fit(X, [60, 60])
    >>> model.weights_.shape, model.means_.shape, model.covars_.shape
    ((2, 2), (2, 2, 2), (2, 2, 2))
    """

    _parameter_constraints: dict = {
        **BaseHMM._parameter_constraints,
        "n_mix": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "min_covar": [Real],
        "weights_prior": ["array-like", Real],
        "means_prior": ["array-like", Real],
        "means_weight": ["array-like", Real],
        "covars_prior": ["array-like", Real, None],
        "covars_weight": ["array-like", Real, None],
    }

    _emission_letters = "mcw"

    def __init__(
        self,
        n_components=1,
        n_mix=1,
        min_covar=1e-3,
        startprob_prior=1.0,
        transmat_prior=1.0,
        weights_prior=1.0,
        means_prior=0.0,
        means_weight=0.0,
        covars_prior=None,
        covars_weight=None,
        algorithm="viterbi",
        covariance_type="diag",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="stmcw",
        init_params="stmcw",
        implementation="log",
        on_degenerate="reseed",
        learning_offset=10.0,
        learning_decay=0.7,
    ):
        self.n_components = n_components
        self.n_mix = n_mix
        self.min_covar = min_covar
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.weights_prior = weights_prior
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight
        self.algorithm = algorithm
        self.covariance_type = covariance_type
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.on_degenerate = on_degenerate
        self.learning_offset = learning_offset
        self.learning_decay = learning_decay

    @property
    def _frames_per_reseed(self):
        return self.n_mix

    # --- hmmlearn's priors, in its shapes --------------------------------------------

    def _priors(self, n_features):
        """The priors broadcast to hmmlearn's shapes, its defaults where None."""
        K, M, d = self.n_components, self.n_mix, n_features
        covariance_type = self.covariance_type
        defaults = {
            "spherical": (-(M + 2.0) / 2.0, 0.0),
            "diag": (-1.5, 0.0),
            "full": (0.0, -(1.0 + d + 1.0)),
            "tied": (0.0, -(M + d + 1.0)),
        }[covariance_type]
        covars_prior = defaults[0] if self.covars_prior is None else self.covars_prior
        covars_weight = (
            defaults[1] if self.covars_weight is None else self.covars_weight
        )
        prior_shape, weight_shape = {
            "spherical": ((K, M), (K, M)),
            "diag": ((K, M, d), (K, M, d)),
            "full": ((K, M, d, d), (K, M)),
            "tied": ((K, d, d), (K,)),
        }[covariance_type]

        def broadcast(value, shape, name):
            try:
                return np.broadcast_to(np.asarray(value, dtype=np.float64), shape)
            except ValueError:
                raise ValueError(
                    f"{name} must broadcast to {shape}, got shape {np.shape(value)}"
                ) from None

        return {
            "weights_prior": broadcast(self.weights_prior, (K, M), "weights_prior"),
            "means_prior": broadcast(self.means_prior, (K, M, d), "means_prior"),
            "means_weight": broadcast(self.means_weight, (K, M), "means_weight"),
            "covars_prior": broadcast(covars_prior, prior_shape, "covars_prior"),
            "covars_weight": broadcast(covars_weight, weight_shape, "covars_weight"),
        }

    # --- the family's hooks -----------------------------------------------------------

    def _validate_frames(self, X, *, reset, fitting):
        n_features = np.shape(self.means_)[2] if hasattr(self, "means_") else None
        return validated_float_frames(self, X, reset, n_features)

    def _initial_emission(self, source, random_state):
        """hmmlearn's start: k-means of the frames into n_components clusters,
        then k-means of each cluster into n_mix means (a cluster of fewer frames
        draws its means from a normal around the clusters' centroid, with
        ``random_state``); uniform weights; the covariances from the data's
        covariance plus ``min_covar``. Frames with NaN are mean-imputed, frames
        weighted by their sequence's weight."""
        K, M, d = self.n_components, self.n_mix, source.n_features
        X, weight = source.X, source.sample_weight
        if source.patterns is not None:
            X = mean_imputed(X, weight)
        covariance = None

        def data_covariance():
            cv = np.cov(X.T, aweights=weight) + self.min_covar * np.eye(d)
            return np.atleast_2d(cv)

        if self._needs_init("w", "weights_"):
            weights = np.full((K, M), 1.0 / M)
        else:
            weights = check_distribution(self.weights_, "weights_", (K, M))
        if self._needs_init("m", "means_"):
            centres, labels = kmeans_centres(X, K, weight, self.random_state)
            centroid = np.mean(centres, axis=0)
            means = np.empty((K, M, d))
            for k in range(K):
                rows = labels == k
                if weight is not None:
                    rows &= weight > 0
                if np.count_nonzero(rows) >= M:
                    cluster_weight = None if weight is None else weight[rows]
                    means[k], _ = kmeans_centres(
                        X[rows], M, cluster_weight, self.random_state
                    )
                else:
                    if covariance is None:
                        covariance = data_covariance()
                    means[k] = random_state.multivariate_normal(
                        centroid, covariance, size=M
                    )
        else:
            means = self._checked_means(d)
        if self._needs_init("c", "covars_"):
            if covariance is None:
                covariance = data_covariance()
            shape = _covars_shape(self.covariance_type, K, M, d)
            compact = {
                "spherical": covariance.mean(),
                "diag": np.diag(covariance),
                "full": covariance,
                "tied": covariance,
            }[self.covariance_type]
            covars = np.array(np.broadcast_to(compact, shape), dtype=np.float64)
        else:
            covars = self._checked_covars(self.covars_, d)
        return weights, means, covars

    def _checked_means(self, n_features):
        means = np.array(self.means_, dtype=np.float64)
        shape = (self.n_components, self.n_mix, n_features)
        if means.shape != shape:
            raise ValueError(
                "means_ must have shape (n_components, n_mix, n_features) = "
                f"{shape}, got {means.shape}"
            )
        if not np.all(np.isfinite(means)):
            raise ValueError("means_ must be finite")
        return means

    def _checked_covars(self, covars, n_features):
        """hmmlearn's checks of ``covars_`` (its shape for the type; positive
        variances, symmetric positive definite matrices)."""
        K, M, covariance_type = self.n_components, self.n_mix, self.covariance_type
        covars = np.array(covars, dtype=np.float64)
        shape = _covars_shape(covariance_type, K, M, n_features)
        if covars.shape != shape:
            raise ValueError(
                f"{covariance_type!r} GMMHMM covars_ must have shape {shape}, got "
                f"{covars.shape}"
            )
        if covariance_type == "tied":
            _validate_covars(covars, "full", K)
        else:
            flat = _component_covars(covars, covariance_type, M)
            _validate_covars(flat, covariance_type, K * M)
        return covars

    def _maximize_emission(self, stats, emission):
        """hmmlearn's M-step of the weights, means and covariances under its priors
        (its covariance update takes the scatter around the E-step's means, which
        are the shifts of fastem's statistics)."""
        weights, means, covars = emission
        K, M, d = means.shape
        covariance_type = self.covariance_type
        priors = self._priors(d)
        post_mix_sum = stats.nk.reshape(K, M)
        post_sum = post_mix_sum.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            if "w" in self.params:
                alphas_minus_one = priors["weights_prior"] - 1
                weights = (post_mix_sum + alphas_minus_one) / (
                    post_sum + alphas_minus_one.sum(axis=1)
                )[:, None]
            lambdas, mus = priors["means_weight"], priors["means_prior"]
            if "m" in self.params:
                sums = (stats.s1 + stats.shift * stats.nk[:, None]).reshape(K, M, d)
                m_n = lambdas[:, :, None] * mus + sums
                m_d = post_mix_sum + lambdas
                # A component of zero weight and no data: any mean (hmmlearn's 0).
                m_d = np.where((weights == 0) & np.all(m_n == 0, axis=-1), 1.0, m_d)
                means = m_n / m_d[:, :, None]
            if "c" not in self.params:
                return weights, means, covars
            centered = means - mus
            alphas, betas = priors["covars_prior"], priors["covars_weight"]
            if covariance_type == "full":
                c_n = np.swapaxes(alphas, -1, -2) + lambdas[:, :, None, None] * _outer(
                    centered
                )
                c_n = c_n + stats.s2.reshape(K, M, d, d)
                c_d = (post_mix_sum + 1 + betas + d + 1)[:, :, None, None]
            elif covariance_type == "diag":
                c_n = lambdas[:, :, None] * centered**2 + 2 * betas
                c_n = c_n + stats.s2.reshape(K, M, d)
                c_d = post_mix_sum[:, :, None] + 1 + 2 * (alphas + 1)
            elif covariance_type == "spherical":
                c_n = lambdas * np.einsum("...i,...i", centered, centered) + 2 * betas
                c_n = c_n + stats.s2.reshape(K, M)
                c_d = d * (post_mix_sum + 1) + 2 * (alphas + 1)
            else:
                c_n = np.einsum("ij,ijkl->ikl", lambdas, _outer(centered))
                c_n = c_n + np.swapaxes(alphas, -1, -2)
                c_n = c_n + stats.s2.reshape(K, M, d, d).sum(axis=1)
                c_d = (post_sum + M + betas + d + 1)[:, None, None]
            covars = c_n / c_d
        return weights, means, covars

    def _state_mass(self, emission_stats):
        return emission_stats.nk.reshape(self.n_components, self.n_mix).sum(axis=1)

    def _components(self, weights, means, covars):
        """The FrozenGaussianMixture of the states' components, state-major."""
        covariance_type = self.covariance_type
        kernel_type = "full" if covariance_type == "tied" else covariance_type
        M = weights.shape[1]
        factors = precision_factors(
            _component_covars(covars, covariance_type, M), kernel_type, self.min_covar
        )
        means = means.reshape(-1, means.shape[-1])
        return FrozenGaussianMixture.from_parameters(
            weights.reshape(-1), means, factors, kernel_type
        )

    def _frozen_emission(self, emission):
        return FrozenStateMixture(self._components(*emission), self.n_mix)

    def _set_emission(self, emission):
        weights, means, covars = emission
        self.weights_ = np.array(weights, dtype=np.float64)
        self.means_ = np.array(means, dtype=np.float64)
        self.covars_ = np.array(covars, dtype=np.float64)
        self.n_features = self.means_.shape[2]

    def _fitted_emission(self):
        if not all(hasattr(self, name) for name in ("weights_", "means_", "covars_")):
            raise ValueError("a fitted GMMHMM needs weights_, means_ and covars_")
        K, M = self.n_components, self.n_mix
        weights = check_distribution(self.weights_, "weights_", (K, M))
        means = self._checked_means(np.shape(self.means_)[-1])
        return weights, means, self._checked_covars(self.covars_, means.shape[2])

    def _emission_n_parameters(self):
        K, M, d = self.n_components, self.n_mix, np.shape(self.means_)[2]
        covars = {
            "spherical": K * M,
            "diag": K * M * d,
            "full": K * M * d * (d + 1) // 2,
            "tied": K * d * (d + 1) // 2,
        }[self.covariance_type]
        return K * M * d + covars + K * (M - 1)

    def _generate_sample_from_state(self, state, random_state, emission):
        """hmmlearn's draw: a component from the state's weights, then its
        Gaussian."""
        weights, means, covars = emission
        component = random_state.choice(self.n_mix, p=weights[state])
        if self.covariance_type == "tied":
            covariance = covars[state]
        elif self.covariance_type == "full":
            covariance = covars[state, component]
        elif self.covariance_type == "diag":
            covariance = np.diag(covars[state, component])
        else:
            covariance = covars[state, component] * np.eye(means.shape[2])
        return random_state.multivariate_normal(means[state, component], covariance)

    def _degenerate_emission(self, emission):
        """States with a weight, mean or covariance that is not finite, a negative
        weight, or a covariance that is not positive definite."""
        weights, means, covars = emission
        K = self.n_components
        bad = ~np.all(np.isfinite(weights) & (weights >= 0), axis=1)
        bad |= ~np.isfinite(means).reshape(K, -1).all(axis=1)
        bad |= ~np.isfinite(covars).reshape(K, -1).all(axis=1)
        kernel_type = "full" if self.covariance_type == "tied" else self.covariance_type
        for k in np.flatnonzero(~bad):
            state_covars = _component_covars(covars[k : k + 1], self.covariance_type, 1)
            try:
                precision_factors(state_covars, kernel_type, self.min_covar)
            except ValueError:
                bad[k] = True
        return bad

    def _emission_subset(self, emission, states):
        weights, means, covars = emission
        return FrozenStateMixture(
            self._components(weights[states], means[states], covars[states]),
            self.n_mix,
        )

    def _reseed_emission(self, emission, degenerate, frames):
        """Each degenerate state's components at n_mix of ``frames`` (a missing
        coordinate takes the sound states' mean), uniform weights, each
        covariance the sound states' mean."""
        weights, means, covars = (np.array(array) for array in emission)
        sound = ~degenerate
        M = self.n_mix
        frames = np.asarray(frames, dtype=np.float64)
        frames = np.resize(frames, (np.count_nonzero(degenerate) * M, frames.shape[1]))
        fallback = np.mean(means[sound].reshape(-1, means.shape[2]), axis=0)
        for i, k in enumerate(np.flatnonzero(degenerate)):
            seeds = frames[i * M : (i + 1) * M]
            means[k] = np.where(np.isnan(seeds), fallback, seeds)
            weights[k] = 1.0 / M
            covars[k] = np.mean(covars[sound], axis=0)
        return weights, means, covars
