"""GaussianHMM: hidden Markov models with Gaussian emissions, hmmlearn's API."""

from numbers import Real

import numpy as np
from scipy import linalg
from sklearn.cluster import KMeans
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import validate_data
from threadpoolctl import threadpool_limits

from .._engine.patterns import mean_imputed
from .._engine.persistence import register_model
from .._families import gaussian as gm
from .._families.gaussian_frozen import FrozenGaussianMixture
from ._base import BaseHMM

COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")

SINGULAR_MESSAGE = (
    "a state's covariance is not positive definite (a state collapsed onto "
    "repeated frames?): raise covars_prior or min_covar, use fewer states, or "
    "scale the data"
)


def _validate_covars(covars, covariance_type, n_components):
    """hmmlearn's checks of ``covars_`` in its compact layout; returns the float64
    compact covariances (spherical (K,), diag (K, d), full (K, d, d), tied (d, d))."""
    covars = np.array(covars, dtype=np.float64)
    if covariance_type == "spherical":
        if covars.ndim == 2 and len(covars) == n_components:
            # hmmlearn keeps spherical variances tiled over the features.
            if not np.all(covars == covars[:, :1]):
                raise ValueError("'spherical' covars hold one variance per state")
            covars = covars[:, 0]
        if covars.shape != (n_components,):
            raise ValueError("'spherical' covars have length n_components")
        if np.any(covars <= 0) or not np.all(np.isfinite(covars)):
            raise ValueError("'spherical' covars must be positive")
    elif covariance_type == "tied":
        if covars.ndim != 2 or covars.shape[0] != covars.shape[1]:
            raise ValueError("'tied' covars must have shape (n_dim, n_dim)")
        if (
            not np.all(np.isfinite(covars))
            or not np.allclose(covars, covars.T)
            or np.any(linalg.eigvalsh(covars) <= 0)
        ):
            raise ValueError("'tied' covars must be symmetric, positive-definite")
    elif covariance_type == "diag":
        if covars.ndim != 2 or len(covars) != n_components:
            raise ValueError("'diag' covars must have shape (n_components, n_dim)")
        if np.any(covars <= 0) or not np.all(np.isfinite(covars)):
            raise ValueError("'diag' covars must be positive")
    else:
        if (
            covars.ndim != 3
            or len(covars) != n_components
            or covars.shape[1] != covars.shape[2]
        ):
            raise ValueError(
                "'full' covars must have shape (n_components, n_dim, n_dim)"
            )
        for n, cv in enumerate(covars):
            if (
                not np.all(np.isfinite(cv))
                or not np.allclose(cv, cv.T)
                or np.any(linalg.eigvalsh(cv) <= 0)
            ):
                raise ValueError(
                    "component %d of 'full' covars must be symmetric, "
                    "positive-definite" % n
                )
    return covars


def _full_covars(covars, covariance_type, n_components, n_features):
    """The (K, d, d) matrices of compact covariances."""
    if covariance_type == "full":
        return np.array(covars)
    if covariance_type == "tied":
        return np.tile(covars, (n_components, 1, 1))
    if covariance_type == "diag":
        return np.stack([np.diag(row) for row in covars])
    return covars[:, None, None] * np.eye(n_features)[None]


def _initial_covars(cv, covariance_type, n_components):
    """hmmlearn's (scikit-learn 0.19's) covariances of every state from the data's
    covariance ``cv`` (d, d), in the compact layout."""
    if covariance_type == "spherical":
        return np.full(n_components, cv.mean())
    if covariance_type == "tied":
        return cv
    if covariance_type == "diag":
        return np.tile(np.diag(cv), (n_components, 1))
    return np.tile(cv, (n_components, 1, 1))


def validated_float_frames(estimator, X, reset, n_features):
    """Frames of a Gaussian model validated: float32 / float64, NaN allowed (for
    ``check_missing``), ``n_features`` columns where the model has them."""
    X = validate_data(
        estimator,
        X,
        dtype=[np.float64, np.float32],
        reset=reset,
        ensure_min_samples=1,
        ensure_all_finite=False,
    )
    if not reset and n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, but the model has {n_features}")
    return X


def kmeans_centres(X, n_clusters, sample_weight, random_state):
    """hmmlearn's k-means start (n_init=10, ``random_state`` as given): the
    float64 centres (n_clusters, d) and each row's label, on one OpenMP thread
    (KMeans adds its threads' sums in an order that depends on their number, and
    the centres' last bits with it)."""
    kmeans = KMeans(n_clusters=n_clusters, random_state=random_state, n_init=10)
    with threadpool_limits(limits=1, user_api="openmp"):
        labels = kmeans.fit_predict(X, sample_weight=sample_weight)
    return np.array(kmeans.cluster_centers_, dtype=np.float64), labels


def precision_factors(covars, covariance_type, min_covar):
    """Upper precision factors of covariances in fastem's layout of the type; a
    full covariance that is not positive definite takes ``min_covar`` on its
    diagonal first (as hmmlearn's density does)."""
    try:
        return gm.precision_cholesky(covars, covariance_type)
    except ValueError:
        if covariance_type not in ("full", "tied"):
            raise ValueError(SINGULAR_MESSAGE) from None
    d = covars.shape[-1]
    stacked = covars if covariance_type == "full" else covars[None]
    repaired = np.array(stacked)
    for k, cv in enumerate(stacked):
        try:
            np.linalg.cholesky(cv)
        except np.linalg.LinAlgError:
            repaired[k] = cv + min_covar * np.eye(d)
    repaired = repaired if covariance_type == "full" else repaired[0]
    try:
        return gm.precision_cholesky(repaired, covariance_type)
    except ValueError:
        raise ValueError(SINGULAR_MESSAGE) from None


@register_model
class GaussianHMM(BaseHMM):
    """Hidden Markov model with Gaussian emissions: a drop-in for hmmlearn's
    ``GaussianHMM``, fitted on fastem's compiled, multi-threaded kernels.

    The same parameters, defaults, attributes and methods as hmmlearn 0.3, and from
    the same starting parameters the same fit (``monitor_.history`` and the
    parameters, to rounding). Beyond hmmlearn: frames may hold NaN (a frame's
    emission density is that of its observed features; :meth:`impute` fills them),
    one weight per sequence, OpenMP threads across sequences and frames with the same
    bits for any thread count, states that lose all their mass re-seeded, online EM
    (:meth:`partial_fit`), save / load and ``fastem.select``.

    Parameters
    ----------
    n_components : int, default=1
        Number of states.
    covariance_type : {'spherical', 'diag', 'full', 'tied'}, default='diag'
        One variance per state, a diagonal or a full covariance per state, or one
        full covariance shared by all states.
    min_covar : float, default=1e-3
        Added to the diagonal of the data's covariance that the covariances start
        from (and to a full covariance that is not positive definite).
    startprob_prior, transmat_prior : float or array-like, default=1.0
        Dirichlet concentrations of ``startprob_`` and of each row of
        ``transmat_`` (1: maximum likelihood).
    means_prior, means_weight : float or array-like, default=0
        Mean and precision (in units of frames) of the normal prior of the means.
    covars_prior, covars_weight : float or array-like, default=1e-2, 1
        The inverse-gamma ('spherical', 'diag') or inverse-Wishart ('full',
        'tied') prior of the covariances, in hmmlearn's parametrisation.
    algorithm : {'viterbi', 'map'}, default='viterbi'
        The decoder of :meth:`predict` and :meth:`decode`.
    random_state : int, RandomState instance or None, default=None
        Seed of the start (k-means and the Dirichlet draws, as hmmlearn's) and
        of :meth:`sample`.
    n_iter : int, default=10
        Maximum number of EM iterations.
    tol : float, default=1e-2
        EM stops once the log-likelihood gains less than this.
    verbose : bool, default=False
        Print hmmlearn's report of each iteration to stderr.
    params, init_params : str, default='stmc'
        The parameters updated by EM (``params``) and initialised before it
        (``init_params``): 's' startprob, 't' transmat, 'm' means, 'c' covars.
        Parameters not in ``init_params`` that are set are kept.
    implementation : {'log', 'scaling'}, default='log'
        Accepted for hmmlearn's sake; fastem always runs forward-backward in scaled
        probability space, and in log space for the sequences where a scale would
        underflow, so both give the same (log-space-accurate) results.
    on_degenerate : {'reseed', 'raise'}, default='reseed'
        What happens to a state that loses all its posterior mass (a zero row of
        ``transmat_`` and NaN means in hmmlearn): it is moved to the frame the
        other states explain worst ('reseed', counted in ``n_reseeds_``), or the
        fit stops with a ValueError ('raise').
    learning_offset, learning_decay : float, default=10.0, 0.7
        The step sizes of :meth:`partial_fit`.

    Attributes
    ----------
    startprob_ : ndarray of shape (n_components,)
    transmat_ : ndarray of shape (n_components, n_components)
    means_ : ndarray of shape (n_components, n_features)
    covars_ : ndarray of shape (n_components, n_features, n_features)
        Each state's covariance matrix, as hmmlearn's ``covars_`` returns it; set
        it in the compact layout of ``covariance_type``: (n_components,) spherical,
        (n_components, n_features) diag, (n_components, n_features, n_features) full,
        (n_features, n_features) tied.
    n_features : int
        Dimensionality of the emissions (hmmlearn's attribute).
    monitor_ : ConvergenceMonitor
        ``history`` (the log-likelihood of the training sequences before each
        iteration's M-step), ``iter``, ``converged`` (hmmlearn's: also when n_iter
        was reached).
    converged_ : bool
        Whether EM stopped by itself before ``n_iter``.
    n_iter_ : int
    lower_bound_ : float
        The last log-likelihood of ``monitor_.history``.
    lower_bounds_ : list of float
    n_reseeds_ : int
    n_features_in_ : int

    Notes
    -----
    X holds the frames of all sequences one after the other, ``lengths`` their
    lengths, as in hmmlearn. float32 X is read as it is (parameters are float64).
    A frame with NaN has the density of its observed features (the exact marginal
    of the observed block); a frame with nothing observed contributes only the
    chain.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem.hmm import GaussianHMM
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 1, (50, 1)), rng.normal(8, 1, (50, 1))])
    >>> model = GaussianHMM(2, random_state=0).fit(X)
    >>> len(set(model.predict(X[[0, -1]])))
    2
    """

    _parameter_constraints: dict = {
        **BaseHMM._parameter_constraints,
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "min_covar": [Real],
        "means_prior": ["array-like", Real],
        "means_weight": ["array-like", Real],
        "covars_prior": ["array-like", Real],
        "covars_weight": ["array-like", Real],
    }

    _emission_letters = "mc"

    def __init__(
        self,
        n_components=1,
        covariance_type="diag",
        min_covar=1e-3,
        startprob_prior=1.0,
        transmat_prior=1.0,
        means_prior=0,
        means_weight=0,
        covars_prior=1e-2,
        covars_weight=1,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="stmc",
        init_params="stmc",
        implementation="log",
        on_degenerate="reseed",
        learning_offset=10.0,
        learning_decay=0.7,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.min_covar = min_covar
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.means_prior = means_prior
        self.means_weight = means_weight
        self.covars_prior = covars_prior
        self.covars_weight = covars_weight
        self.algorithm = algorithm
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

    # --- covars_, as hmmlearn's ---------------------------------------------------

    @property
    def covars_(self):
        """Each state's covariance matrix, (n_components, n_features,
        n_features)."""
        return _full_covars(
            self._covars_,
            self.covariance_type,
            self.n_components,
            np.shape(self.means_)[1],
        )

    @covars_.setter
    def covars_(self, covars):
        self._covars_ = _validate_covars(
            covars, self.covariance_type, self.n_components
        )

    def _saved_properties(self):
        """``covars_`` is saved in its compact layout, and set back through the
        property on load."""
        return {"covars_": self._covars_} if hasattr(self, "_covars_") else {}

    # --- the family's hooks -------------------------------------------------------

    def _validate_frames(self, X, *, reset, fitting):
        n_features = np.shape(self.means_)[1] if hasattr(self, "means_") else None
        return validated_float_frames(self, X, reset, n_features)

    def _initial_emission(self, source, random_state):
        """hmmlearn's start: the means from k-means (n_init=10, on one thread) of
        the frames, the covariances from their covariance plus ``min_covar``;
        frames with NaN mean-imputed, frames weighted by their sequence's
        weight."""
        X = source.X
        weight = source.sample_weight
        needs_means = self._needs_init("m", "means_")
        needs_covars = self._needs_init("c", "covars_")
        if (needs_means or needs_covars) and source.patterns is not None:
            X = mean_imputed(X, weight)
        if needs_means:
            means, _ = kmeans_centres(X, self.n_components, weight, self.random_state)
        else:
            means = self._checked_means(source.n_features)
        if needs_covars:
            cv = np.cov(X.T, aweights=weight) + self.min_covar * np.eye(X.shape[1])
            cv = np.atleast_2d(cv)
            covars = _initial_covars(cv, self.covariance_type, self.n_components)
        else:
            covars = _validate_covars(
                self._covars_, self.covariance_type, self.n_components
            )
            self._check_covars_features(covars, source.n_features)
        return means, np.array(covars, dtype=np.float64)

    def _checked_means(self, n_features):
        means = np.array(self.means_, dtype=np.float64)
        if means.shape != (self.n_components, n_features):
            raise ValueError(
                f"means_ must have shape ({self.n_components}, {n_features}), got "
                f"{means.shape}"
            )
        if not np.all(np.isfinite(means)):
            raise ValueError("means_ must be finite")
        return means

    def _check_covars_features(self, covars, n_features):
        expected = gm.second_moment_shape(
            self.n_components, n_features, self.covariance_type
        )
        if covars.shape != expected:
            raise ValueError(
                f"covars_ ({self.covariance_type}) must have shape {expected}, got "
                f"{covars.shape}"
            )

    def _maximize_emission(self, stats, emission):
        """hmmlearn's M-step of the means and covariances (Huang, Acero & Hon,
        pp. 443-445), from fastem's sums around the current means, so the scatter
        around the new means is exact (hmmlearn's raw moments cancel)."""
        means, covars = emission
        covariance_type = self.covariance_type
        means_prior = np.asarray(self.means_prior, dtype=np.float64)
        means_weight = np.asarray(self.means_weight, dtype=np.float64)
        post = stats.nk
        denom = post[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            if "m" in self.params:
                obs = stats.s1 + stats.shift * post[:, None]
                means = (means_weight * means_prior + obs) / (means_weight + denom)
            if "c" not in self.params:
                return means, covars
            covars_prior = np.asarray(self.covars_prior, dtype=np.float64)
            covars_weight = np.asarray(self.covars_weight, dtype=np.float64)
            meandiff = means - means_prior
            d = means.shape[1]
            if covariance_type == "diag":
                scatter = gm.scatter_around(stats, means, "diag")
                c_n = means_weight * meandiff**2 + scatter
                c_d = np.maximum(covars_weight - 1, 0) + denom
                covars = (covars_prior + c_n) / np.maximum(c_d, 1e-5)
            elif covariance_type == "spherical":
                # hmmlearn's diagonal update averaged over the features: linear in
                # the numerator, whose per-feature scatter averages to the trace / d.
                shape = means.shape
                c_n = np.mean(np.broadcast_to(means_weight * meandiff**2, shape), 1)
                c_n += gm.scatter_around(stats, means, "spherical") / d
                prior = np.mean(np.broadcast_to(covars_prior, shape), axis=1)
                c_d = np.broadcast_to(np.maximum(covars_weight - 1, 0) + denom, shape)
                covars = (prior + c_n) / np.maximum(c_d[:, 0], 1e-5)
            elif covariance_type == "tied":
                c_n = _state_outer(means_weight, meandiff).sum(axis=0)
                c_n += gm.scatter_around(stats, means, "tied")
                cvweight = np.maximum(covars_weight - d, 0)
                covars = (covars_prior + c_n) / (cvweight + post.sum())
            else:
                c_n = _state_outer(means_weight, meandiff)
                c_n += gm.scatter_around(stats, means, "full")
                cvweight = np.maximum(covars_weight - d, 0)
                covars = (covars_prior + c_n) / (cvweight + post[:, None, None])
        return means, covars

    def _frozen_emission(self, emission):
        means, covars = emission
        factors = precision_factors(covars, self.covariance_type, self.min_covar)
        return FrozenGaussianMixture.from_parameters(
            np.ones(self.n_components), means, factors, self.covariance_type
        )

    def _set_emission(self, emission):
        means, covars = emission
        self.means_ = np.array(means, dtype=np.float64)
        self._covars_ = np.array(covars, dtype=np.float64)
        self.n_features = self.means_.shape[1]

    def _fitted_emission(self):
        if not hasattr(self, "means_") or not hasattr(self, "_covars_"):
            raise ValueError("a fitted GaussianHMM needs means_ and covars_")
        means = self._checked_means(np.shape(self.means_)[1])
        covars = _validate_covars(
            self._covars_, self.covariance_type, self.n_components
        )
        self._check_covars_features(covars, means.shape[1])
        return means, covars

    def _emission_n_parameters(self):
        K, d = self.n_components, np.shape(self.means_)[1]
        covars = {
            "spherical": K,
            "diag": K * d,
            "full": K * d * (d + 1) // 2,
            "tied": d * (d + 1) // 2,
        }[self.covariance_type]
        return K * d + covars

    def _generate_sample_from_state(self, state, random_state, emission):
        means, covars = emission
        full = _full_covars(
            covars, self.covariance_type, self.n_components, means.shape[1]
        )
        return random_state.multivariate_normal(means[state], full[state])

    def _degenerate_emission(self, emission):
        means, covars = emission
        bad = ~np.all(np.isfinite(means), axis=1)
        if self.covariance_type == "tied":
            return bad | (not np.all(np.isfinite(covars)))
        finite = np.isfinite(covars).reshape(self.n_components, -1).all(axis=1)
        positive = np.ones(self.n_components, dtype=bool)
        if self.covariance_type == "full":
            for k in np.flatnonzero(finite):
                positive[k] = np.all(np.linalg.eigvalsh(covars[k]) > 0)
        else:
            positive = (covars > 0).reshape(self.n_components, -1).all(axis=1)
        return bad | ~finite | ~positive

    def _emission_subset(self, emission, states):
        means, covars = emission
        if self.covariance_type != "tied":
            covars = covars[states]
        factors = gm.precision_cholesky(covars, self.covariance_type)
        return FrozenGaussianMixture.from_parameters(
            np.ones(np.count_nonzero(states)),
            means[states],
            factors,
            self.covariance_type,
        )

    def _reseed_emission(self, emission, degenerate, frames):
        """Each degenerate state's mean at one of ``frames`` (a missing coordinate
        keeps the mean of the sound states), its covariance the sound states'
        mean."""
        means, covars = (np.array(array) for array in emission)
        sound = ~degenerate
        frames = np.asarray(frames, dtype=np.float64)
        fallback = np.mean(means[sound], axis=0)
        means[degenerate] = np.where(np.isnan(frames), fallback, frames)
        if self.covariance_type != "tied":
            covars[degenerate] = np.mean(covars[sound], axis=0)
        return means, covars


def _state_outer(means_weight, meandiff):
    """means_weight * (m_k - mu_0)(m_k - mu_0)^T per state, (K, d, d)."""
    outer = np.einsum("ki,kj->kij", meandiff, meandiff)
    if means_weight.ndim == 0:
        return means_weight * outer
    return np.reshape(means_weight, (-1, 1, 1)) * outer
