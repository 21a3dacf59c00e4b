"""GaussianMixture: scikit-learn's estimator on fused EM kernels."""

import math
import warnings
from collections import namedtuple
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.cluster import KMeans
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from . import _gaussian_math as gm
from ._driver import run_em
from ._missing import MissingValueSource, check_missing, mean_imputed
from ._persistence import save_model
from ._priors import GaussianPrior, as_gaussian_prior
from ._sources import ArraySource, ChunkSource, _is_dask_array, as_source
from ._threads import limit_blas_threads, scikit_learn_openmp_limit

# Rows whose mean centres the sums of a prior's data moments (see _data_moments).
_MOMENTS_SAMPLE_ROWS = 4096

# Parameters during a fit, always float64; the fitted attributes take the data's dtype.
_Params = namedtuple("_Params", "weights means covariances precisions_cholesky")


class DegenerateComponentWarning(UserWarning):
    """Components collapsed during EM and were re-seeded (on_degenerate="reseed")."""


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by EM on fused Cython + OpenMP kernels.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the same
    parameters, attributes, methods and (to rounding) the same numbers. Each EM
    iteration is one pass over X in chunks: the E-step and the M-step's sufficient
    statistics are computed together, in parallel, in float64 whatever the input
    dtype, and no n_samples x n_components array is allocated.

    Beyond scikit-learn, X may hold NaN (missing at random: each row's likelihood is
    the marginal density of its observed coordinates, and EM treats the missing ones
    as latent, one missingness pattern at a time), rows may be weighted
    (``sample_weight`` in :meth:`fit` and :meth:`score`), and :meth:`impute` fills
    the NaN of X with their conditional expectations under the model.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        'full': each component has its own general covariance matrix; 'tied': all
        components share one; 'diag': each has its own diagonal matrix; 'spherical':
        each has its own single variance.
    tol : float, default=1e-3
        Convergence threshold on the change of the mean log-likelihood.
    reg_covar : float, default=1e-6
        Non-negative regularisation added to the diagonal of covariances.
    max_iter : int, default=100
        The number of EM iterations to perform.
    n_init : int, default=1
        The number of initialisations; the best result is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, \
            default='kmeans'
        How the responsibilities that start EM are chosen (as in scikit-learn), with
        the rows' weights; 'random_from_data' draws among rows of positive weight.
        When X has NaN, every method starts from X with each NaN replaced by its
        column's weighted mean.
    weights_init : array-like of shape (n_components,), default=None
    means_init : array-like of shape (n_components, n_features), default=None
    precisions_init : array-like, default=None
        Initial precisions (inverse covariances), shaped by ``covariance_type``:
        full (n_components, n_features, n_features), tied (n_features, n_features),
        diag (n_components, n_features), spherical (n_components,).
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        If True, each fit starts from the previous solution (``n_init`` is ignored).
    verbose : int, default=0
        1 prints each initialisation and iteration, 2 also times and changes.
    verbose_interval : int, default=10
        Iterations between two progress messages.
    prior : None, 'default', GaussianPrior or dict, default=None
        None: maximum likelihood, exactly as scikit-learn. Otherwise a conjugate
        prior (Dirichlet on the weights, Normal-inverse-Wishart on each mean and
        covariance, or the diag / spherical / tied analogues) and EM finds the
        maximum a posteriori fit; 'default' is Fraley & Raftery's data-dependent
        prior (mclust's ``priorControl()``), a dict holds :class:`GaussianPrior`'s
        fields. See :class:`GaussianPrior` for the hyperparameters and the M-step.
    on_degenerate : {'raise', 'reseed'}, default='raise'
        What happens when a component collapses: it holds less than 10 machine
        epsilons (of X's dtype) times n_samples of responsibility mass, or its
        covariance has a variance (eigenvalue) not above (10 machine epsilons times
        its mean's largest coordinate)^2, the resolution of the data where it sits.
        'raise': the ``ValueError`` of scikit-learn that names ``reg_covar``.
        'reseed': the component is moved to the row with the worst log-likelihood
        under the other components, given their mean covariance and weight
        1/n_components (weights renormalised), and EM goes on; a
        :class:`DegenerateComponentWarning` at the end of fit gives the number of
        re-seeds (``n_reseeds_``). A re-seed may lower the
        lower bound once; a fit whose every component collapses still raises.
    init_sample_size : int, default=100_000
        Data that is not in memory (memory maps, HDF5 / Zarr arrays, chunk callables,
        Dask arrays) is initialised from this many distinct rows drawn with
        ``random_state`` (all rows when there are fewer): ``init_params`` runs on
        the sample, and the weights are its responsibility fractions.
    learning_offset : float, default=10.0
        tau_0 >= 0 in the step size of :meth:`partial_fit`.
    learning_decay : float, default=0.7
        kappa in (0.5, 1] in the step size of :meth:`partial_fit`: the t-th batch
        after the first is blended into the running statistics with weight
        eta_t = (learning_offset + t) ** -learning_decay (the names and defaults of
        scikit-learn's LatentDirichletAllocation).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        Shaped like ``precisions_init``.
    precisions_ : ndarray
    precisions_cholesky_ : ndarray
        Upper-triangular factors U with U U^T = precision.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        Mean log-likelihood of the training data at the best run's last E-step; with
        a prior, the mean log posterior (log p(X | theta) + log p(theta)) / n_samples,
        the prior's normalising constant included when it is proper. EM never lowers
        it (up to ``reg_covar`` and re-seeds).
    lower_bounds_ : list of float
        The lower bound at each iteration of the best run.
    n_reseeds_ : int
        Components re-seeded during fit, over all initialisations
        (``on_degenerate='reseed'``; 0 otherwise).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when X has feature names that are all strings.
    n_batch_iter_ : int
        The number of batches :meth:`partial_fit` has seen (set by it only).

    Notes
    -----
    ``fit`` reads data that does not fit in memory in chunks, one pass per EM
    iteration, with the same results as in memory from the same initial parameters:
    a ``numpy.memmap`` or ``np.load(path, mmap_mode="r")`` (its pages are handed back
    to the OS after each chunk, so the resident memory stays ~64 MB), an ``h5py``
    Dataset or ``zarr`` Array (``pip install fastem[hdf5]`` / ``fastem[zarr]``), or
    a callable that returns a fresh iterator of 2-D chunks on each call (the same
    rows in the same order every time; a one-shot iterator is refused by ``fit``,
    read by ``partial_fit`` batch by batch and by the scoring methods). A
    ``dask.array.Array`` (``pip install fastem[dask]``) is persisted on the workers,
    each of which runs the kernel on its blocks; only the statistics travel. On such
    data ``predict``, ``predict_proba`` and ``score_samples`` return ndarrays
    computed chunk by chunk (dask arrays for dask input).

    :meth:`partial_fit` is stepwise online EM (Cappe & Moulines 2009; Liang & Klein
    2009): running statistics per unit weight s are blended with each batch's,
    s <- (1 - eta_t) s + eta_t s_batch / n_batch, and maximized after each batch.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> gm.means_[np.argsort(gm.means_[:, 0])]
    array([[ 1.,  2.],
           [10.,  2.]])
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(gm.COVARIANCE_TYPES))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [
            StrOptions({"kmeans", "random", "random_from_data", "k-means++"})
        ],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "prior": [None, StrOptions({"default"}), GaussianPrior, dict],
        "on_degenerate": [StrOptions({"raise", "reseed"})],
        "init_sample_size": [Interval(Integral, 1, None, closed="left")],
        "learning_offset": [Interval(Real, 0.0, None, closed="left")],
        "learning_decay": [Interval(Real, 0.5, 1.0, closed="right")],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        prior=None,
        on_degenerate="raise",
        init_sample_size=100_000,
        learning_offset=10.0,
        learning_decay=0.7,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.prior = prior
        self.on_degenerate = on_degenerate
        self.init_sample_size = init_sample_size
        self.learning_offset = learning_offset
        self.learning_decay = learning_decay

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # --- fitting -------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM, keeping the best of ``n_init`` runs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            float32 data gives float32 attributes (computed in float64). NaN marks a
            missing value; a row or column that is entirely NaN, or +/-inf, raises
            ValueError.
            Memory maps, HDF5 / Zarr arrays, chunk callables and Dask arrays are
            read in chunks (see Notes).
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; an integer weight is the same as repeating the
            row, a zero weight the same as leaving it out. None: unit weights.

        Returns
        -------
        self : GaussianMixture
        """
        self._fit(X, sample_weight)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the most probable component of each row of X.

        Equal to ``fit(X).predict(X)`` for any ``max_iter`` and ``tol``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            May hold NaN (see :meth:`fit`).
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights (see :meth:`fit`).

        Returns
        -------
        labels : ndarray of shape (n_samples,), int64
            A dask array for a dask X.
        """
        source = self._fit(X, sample_weight)
        # A final E-step with the stored attributes, so fit_predict == fit().predict.
        return source.score(*self._kernel_params(), log_prob=False, labels=True)[2]

    def _fit(self, X, sample_weight):
        """Run EM on X and set the fitted attributes; returns X's data source (in
        the user's units)."""
        source, exponent = self._training_source(X, sample_weight)
        self.__dict__.pop("_online_stats", None)
        n_rows = (
            source.n_samples
            if source.sample_weight is None
            else np.count_nonzero(source.sample_weight)
        )
        if n_rows < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, "
                f"n_samples = {n_rows}"
                + ("" if source.sample_weight is None else " (rows of positive weight)")
            )
        if self.on_degenerate == "reseed" and not isinstance(source, ArraySource):
            raise ValueError(
                "on_degenerate='reseed' needs X in memory (it re-seeds at the rows "
                f"fitted worst), not {type(X).__name__} data read in chunks"
            )
        initial = self._check_initial_parameters(source.n_features)
        # Data at extreme scales runs on an exactly rescaled copy (2**-exponent).
        user_source = source
        if exponent:
            source = _source(np.ldexp(source.X, -exponent), source.sample_weight)
        weights_init, means_init, precisions_init = initial
        initial = (
            weights_init,
            _ldexp(means_init, -exponent),
            _ldexp(precisions_init, 2 * exponent),
        )
        eps = 10 * np.finfo(source.dtype).eps
        prior = as_gaussian_prior(self.prior)
        if prior is not None:
            prior = prior.resolve(
                source.n_features,
                self.n_components,
                self.covariance_type,
                lambda: _data_moments(source),
                exponent,
            )
        self._n_reseeds = 0
        warm = None
        if self.warm_start and hasattr(self, "converged_"):
            warm = (
                _scaled_params(self._fitted_params(), exponent),
                self.lower_bound_
                + self._log_unit_change(exponent, prior, source.total_weight),
            )
        result = run_em(
            lambda random_state: self._initialize(
                source, random_state, initial, eps, prior
            ),
            lambda params: self._em_step(source, params, eps, prior),
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=check_random_state(self.random_state),
            verbose=self.verbose,
            verbose_interval=self.verbose_interval,
            warm=warm,
        )
        self._set_fitted(_scaled_params(result.params, -exponent), source.dtype)
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        unit_change = self._log_unit_change(exponent, prior, source.total_weight)
        self.lower_bound_ = result.lower_bound - unit_change
        self.lower_bounds_ = [value - unit_change for value in result.lower_bounds]
        self.n_reseeds_ = self._n_reseeds
        if self.n_reseeds_:
            warnings.warn(
                f"{self.n_reseeds_} degenerate component(s) (collapsed covariance or "
                "no responsibility mass) were re-seeded at the worst-fitted rows "
                "during fit. Consider fewer components, a larger reg_covar or a "
                "prior.",
                DegenerateComponentWarning,
            )
        return user_source

    def _log_unit_change(self, exponent, prior, total_weight):
        """Lower bound in the rescaled units minus that in the user's units.

        Each row's density gains d * exponent * log 2; a prior's density gains
        exponent * log 2 per mean coordinate and twice that per covariance entry
        (the Jacobian of the rescaling), shared out over the rows' total weight.
        """
        if not exponent:
            return 0.0
        n_features = self.n_features_in_
        change = n_features
        if prior is not None:
            n_free = gm.n_parameters(
                self.n_components, n_features, self.covariance_type
            )
            n_means = self.n_components * n_features
            n_covariance = n_free - n_means - (self.n_components - 1)
            change += (n_means + 2 * n_covariance) / total_weight
        return change * exponent * math.log(2.0)

    def _training_source(self, X, sample_weight):
        """X's data source, with ``n_samples``, ``n_features`` and ``dtype``, and the
        exponent of its rescaling (``gm.scale_exponent``; 0 out of core);
        ``n_features_in_`` (and ``feature_names_in_``) set from X."""
        source = as_source(X)
        if source is None:
            X = validate_data(
                self,
                X,
                dtype=[np.float64, np.float32],
                ensure_min_samples=2,
                ensure_all_finite=False,  # _source checks: one pass for NaN and inf
            )
            sample_weight = _checked_sample_weight(sample_weight, X)
            return _source(X, sample_weight), gm.scale_exponent(X)
        if sample_weight is not None:
            raise ValueError(
                "sample_weight is supported for in-memory X only, not for "
                f"{type(X).__name__} data read in chunks"
            )
        # Out-of-core data is validated chunk by chunk, and has no feature names.
        if source.n_samples < 2:
            raise ValueError(
                f"Found array with {source.n_samples} sample(s) while a minimum of "
                "2 is required."
            )
        self.__dict__.pop("feature_names_in_", None)
        self.n_features_in_ = source.n_features
        return source, 0

    def _check_initial_parameters(self, n_features):
        """Validated float64 copies of weights_init, means_init, precisions_init."""
        weights = means = precisions = None
        K = self.n_components
        if self.weights_init is not None:
            weights = _checked(self.weights_init, (K,), "weights", ensure_2d=False)
            if np.any(weights < 0.0) or np.any(weights > 1.0):
                raise ValueError(
                    "The parameter 'weights' should be in the range [0, 1], but got "
                    f"max value {np.max(weights):.5f}, min value {np.min(weights):.5f}"
                )
            atol = 1e-6 if np.asarray(self.weights_init).dtype == np.float32 else 1e-8
            if not np.isclose(np.sum(weights), 1.0, rtol=0.0, atol=atol):
                raise ValueError(
                    "The parameter 'weights' should be normalized, but got "
                    f"sum(weights) = {np.sum(weights):.5f}"
                )
        if self.means_init is not None:
            means = _checked(self.means_init, (K, n_features), "means", ensure_2d=False)
        if self.precisions_init is not None:
            shape = gm.second_moment_shape(K, n_features, self.covariance_type)
            name = f"{self.covariance_type} precision"
            precisions = _checked(
                self.precisions_init,
                shape,
                name,
                ensure_2d=False,
                allow_nd=self.covariance_type == "full",
            )
            _check_precisions(precisions, self.covariance_type)
        return weights, means, precisions

    def _initialize(self, source, random_state, initial, eps, prior):
        """Initial parameters, as scikit-learn chooses them (when without a prior)."""
        weights_init, means_init, precisions_init = initial
        weights = means = covariances = None
        if weights_init is None or means_init is None or precisions_init is None:
            sample = source.sample(self.init_sample_size, random_state)
            stats = self._initial_stats(sample, random_state)
            mass, means, covariances = gm.maximize(
                stats, self.covariance_type, self.reg_covar, eps, prior
            )
            weights = mass / (sample.total_weight if prior is None else mass.sum())
            if self.on_degenerate == "reseed" and precisions_init is None:
                weights, means, covariances = self._reseed(
                    sample, stats.nk, weights, means, covariances, eps
                )
        if weights_init is not None:
            weights = weights_init
        if means_init is not None:
            means = means_init
        if precisions_init is None:
            precisions_chol = gm.precision_cholesky(covariances, self.covariance_type)
        else:
            precisions_chol = gm.precision_cholesky_from_precisions(
                precisions_init, self.covariance_type
            )
            covariances = gm.covariances_from_precisions(
                precisions_init, self.covariance_type
            )
        return _Params(
            weights, np.ascontiguousarray(means), covariances, precisions_chol
        )

    def _initial_stats(self, source, random_state):
        X, K, covariance_type = source.X, self.n_components, self.covariance_type
        sample_weight = source.sample_weight
        if isinstance(source, MissingValueSource):
            X = mean_imputed(X, sample_weight)
        if self.init_params == "random":
            return gm.stats_from_random_resp(
                X, K, covariance_type, random_state, sample_weight
            )
        if self.init_params == "kmeans":
            # On float64: scikit-learn's KMeans adds its threads' sums in an order
            # that depends on their number, which in float32 changes the labels
            # (in float64, only the last bits of the centres). A copy of our own,
            # so KMeans may centre it in place.
            X_kmeans = np.array(X, dtype=np.float64, order="C")
            with scikit_learn_openmp_limit():
                labels = KMeans(
                    n_clusters=K, n_init=1, random_state=random_state, copy_x=False
                ).fit(X_kmeans, sample_weight=sample_weight)
            labels = labels.labels_
        else:
            if self.init_params == "random_from_data":
                candidates = (
                    X.shape[0]
                    if sample_weight is None
                    else np.flatnonzero(sample_weight > 0)
                )
                indices = random_state.choice(candidates, size=K, replace=False)
            else:
                # scikit-learn's seeds, chosen on the kernels (see _seeding.py).
                _, indices = source.kmeans_plusplus(K, random_state)
            labels = np.full(X.shape[0], -1)
            labels[indices] = np.arange(K)
        return gm.stats_from_labels(X, labels, K, covariance_type, sample_weight)

    def _em_step(self, source, params, eps, prior):
        """E-step on ``params`` fused with the M-step's sums, then the M-step.

        The lower bound is that of ``params``: the mean log-likelihood, plus the log
        prior density over the total weight when there is a prior.
        """
        stats = self._expected_stats(source, params)
        log_posterior = stats.log_likelihood
        if prior is not None:
            log_posterior += prior.log_density(
                params.weights, params.means, params.precisions_cholesky
            )
        lower_bound = log_posterior / source.total_weight
        mass, means, covariances = gm.maximize(
            stats, self.covariance_type, self.reg_covar, eps, prior
        )
        weights = mass / mass.sum()
        if self.on_degenerate == "reseed":
            weights, means, covariances = self._reseed(
                source, stats.nk, weights, means, covariances, eps, params
            )
        precisions_chol = gm.precision_cholesky(covariances, self.covariance_type)
        return _Params(weights, means, covariances, precisions_chol), lower_bound

    def _expected_stats(self, source, params):
        """The E-step on ``params`` fused with the M-step's sums, over ``source``."""
        log_norm = gm.log_norm(
            params.weights,
            params.precisions_cholesky,
            self.covariance_type,
            params.means.shape[1],
        )
        return source.accumulate(
            params.means, params.precisions_cholesky, log_norm, self.covariance_type
        )

    def _reseed(self, source, mass, weights, means, covariances, eps, scorer=None):
        """Degenerate components moved to the rows the others explain worst.

        Each degenerate component (see ``on_degenerate``) gets the row of lowest
        log-likelihood under the mixture of the sound components as its mean, their
        mean covariance, and weight 1 / n_components before renormalising. The rows
        are scored under ``scorer``'s sound components (the parameters of the
        E-step that found the collapse, before the others stretched over the rows
        it left), or under the new ones at initialisation. Nothing changes when
        every component is degenerate (nothing to score against): the precision
        factors then raise the error naming reg_covar.

        Returns
        -------
        weights, means, covariances : ndarray
            New arrays; the inputs are not modified.
        """
        covariance_type = self.covariance_type
        degenerate = gm.degenerate_components(
            mass, means, covariances, covariance_type, eps, source.total_weight
        )
        sound = ~degenerate
        if not degenerate.any() or not sound.any():
            return weights, means, covariances
        shared = covariance_type == "tied"
        sound_covariances = covariances if shared else covariances[sound]
        if scorer is None:
            sound_weights, sound_means = weights[sound], means[sound]
            factors = gm.precision_cholesky(sound_covariances, covariance_type)
        else:
            sound_weights, sound_means = scorer.weights[sound], scorer.means[sound]
            factors = scorer.precisions_cholesky
            factors = factors if shared else factors[sound]
        factors = gm.upper_precision_cholesky(factors, covariance_type)
        log_prob = source.score(
            np.ascontiguousarray(sound_means),
            factors,
            gm.log_norm(
                sound_weights / sound_weights.sum(),
                factors,
                covariance_type,
                means.shape[1],
            ),
            covariance_type,
        )[0]
        if source.sample_weight is not None:
            log_prob[source.sample_weight == 0.0] = np.inf  # absent rows
        worst = np.argsort(log_prob, kind="stable")[: np.count_nonzero(degenerate)]
        means, weights = means.copy(), weights.copy()
        # A missing coordinate of the worst row keeps the component's old mean.
        seeds = np.asarray(source.X[worst], dtype=np.float64)
        means[degenerate] = np.where(np.isnan(seeds), means[degenerate], seeds)
        if not shared:
            covariances = covariances.copy()
            covariances[degenerate] = np.mean(sound_covariances, axis=0)
        weights[degenerate] = 1.0 / len(weights)
        self._n_reseeds += int(np.count_nonzero(degenerate))
        return weights / weights.sum(), means, covariances

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """One step of stepwise online EM per batch: a stream modelled in one pass.

        The first batch (of at least ``n_components`` rows) initialises the model as
        ``fit`` would, unless the model is fitted already; each batch's statistics
        under the current parameters, per row, are blended into running ones
        (s <- (1 - eta_t) s + eta_t s_batch / n_batch, eta_t = (learning_offset +
        t) ** -learning_decay for the t-th batch after the first), which are then
        maximized.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or chunks
            One batch; or an iterator, or a callable returning one, of 2-D chunks,
            or a memory map / HDF5 / Zarr array: each chunk is one batch.
        y : Ignored

        Returns
        -------
        self : GaussianMixture
        """
        if _is_dask_array(X):
            raise TypeError(
                "partial_fit takes in-memory batches or chunks; fit a dask array "
                "with fit"
            )
        if self.prior is not None:
            raise ValueError(
                "partial_fit estimates by maximum likelihood only: set prior=None, "
                "or use fit for a MAP estimate"
            )
        n_features = getattr(self, "n_features_in_", None)
        chunks = as_source(X, n_features=n_features, one_pass=True)
        # As in run_em: BLAS threads spinning beside tiny LAPACK calls cost ~20 ms
        # per batch on a loaded machine.
        with limit_blas_threads():
            if chunks is None:
                self._partial_fit_batch(X)
            else:
                for _, chunk in chunks.validated_chunks():
                    if chunk.shape[0]:
                        self._partial_fit_batch(chunk)
        return self

    def _partial_fit_batch(self, X):
        first = not hasattr(self, "means_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=first)
        if first and X.shape[0] < max(2, self.n_components):
            raise ValueError(
                "The first batch of partial_fit initialises the model: expected "
                f"n_samples >= max(2, n_components) = {max(2, self.n_components)}, "
                f"got {X.shape[0]}"
            )
        source = ArraySource(X)
        eps = 10 * np.finfo(X.dtype).eps
        if first:
            initial = self._check_initial_parameters(X.shape[1])
            random_state = check_random_state(self.random_state)
            params = self._initialize(source, random_state, initial, eps, None)
        else:
            params = self._fitted_params()
        batch = self._expected_stats(source, params)
        running = getattr(self, "_online_stats", None)
        if running is None:
            running, step = batch, 1.0
            self.n_batch_iter_ = 0
        else:
            running = running.recentred(params.means, self.covariance_type)
            step = (self.learning_offset + self.n_batch_iter_) ** -self.learning_decay
        for name in ("nk", "s1", "s2"):
            blended = (1.0 - step) * getattr(running, name) + step * (
                getattr(batch, name) / source.total_weight
            )
            setattr(running, name, blended)
        mass, means, covariances = gm.maximize(
            running, self.covariance_type, self.reg_covar, eps
        )
        precisions_chol = gm.precision_cholesky(covariances, self.covariance_type)
        self._set_fitted(
            _Params(mass / mass.sum(), means, covariances, precisions_chol),
            X.dtype if first else self.means_.dtype,
        )
        self._online_stats = running
        self.n_batch_iter_ += 1
        self.lower_bound_ = batch.log_likelihood / source.total_weight

    def _set_fitted(self, params, dtype):
        """Store the parameters in ``dtype``, or raise if one is not finite there.

        A variance that collapsed to rounding level is positive while EM runs on
        rescaled data yet may underflow in the user's units, and a float32 attribute
        may overflow: the model must not be stored with infinite precisions.
        """
        fitted = {
            "weights_": params.weights.astype(dtype),
            "means_": params.means.astype(dtype),
            "covariances_": params.covariances.astype(dtype),
            "precisions_cholesky_": params.precisions_cholesky.astype(dtype),
            "precisions_": gm.precisions_from_cholesky(
                params.precisions_cholesky, self.covariance_type
            ).astype(dtype),
        }
        if not all(np.all(np.isfinite(value)) for value in fitted.values()):
            raise ValueError(gm.SINGULAR_COVARIANCE_MESSAGE)
        for name, value in fitted.items():
            setattr(self, name, value)

    def _fitted_params(self):
        """The fitted attributes as float64 parameters (for warm starts)."""
        return _Params(
            *(
                np.array(value, dtype=np.float64)
                for value in (
                    self.weights_,
                    self.means_,
                    self.covariances_,
                    self.precisions_cholesky_,
                )
            )
        )

    # --- using a fitted model ------------------------------------------------

    def _kernel_params(self):
        """(means, upper precision factors, log_norm, covariance_type) in float64."""
        means = np.ascontiguousarray(self.means_, dtype=np.float64)
        precisions_chol = gm.upper_precision_cholesky(
            np.asarray(self.precisions_cholesky_, dtype=np.float64),
            self.covariance_type,
        )
        log_norm = gm.log_norm(
            np.asarray(self.weights_, dtype=np.float64),
            precisions_chol,
            self.covariance_type,
            means.shape[1],
        )
        return means, precisions_chol, log_norm, self.covariance_type

    def _scoring_source(self, X):
        """The data source of X to score with the fitted model (NaN allowed)."""
        check_is_fitted(self)
        source = as_source(X, n_features=self.n_features_in_, one_pass=True)
        return self._in_memory_source(X) if source is None else source

    def _in_memory_source(self, X):
        """The source over in-memory X, validated against the fit (NaN allowed)."""
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            reset=False,
            ensure_all_finite=False,  # _source checks: one pass for NaN and inf
        )
        return _source(X, None, fitting=False)

    def _score_rows(self, X, **wanted):
        """X's data source and its ``score`` outputs (``wanted`` selects them)."""
        source = self._scoring_source(X)
        return source, source.score(*self._kernel_params(), **wanted)

    def _mean_log_prob(self, X, sample_weight=None):
        """(Weighted) mean log-likelihood of the rows of X and their number (out of
        core, summed chunk by chunk rather than held per row)."""
        source = self._scoring_source(X)
        if not isinstance(source, ArraySource) and sample_weight is not None:
            raise ValueError(
                "sample_weight is supported for in-memory X only, not for "
                f"{type(X).__name__} data read in chunks"
            )
        if isinstance(source, ChunkSource):
            total = n_samples = 0
            for log_prob, _, _ in source.score_chunks(*self._kernel_params()):
                total += np.sum(log_prob)
                n_samples += log_prob.shape[0]
            return float(total / n_samples), n_samples
        log_prob_norm = source.score(*self._kernel_params())[0]
        if sample_weight is None:
            return float(np.mean(log_prob_norm)), log_prob_norm.shape[0]
        sample_weight = _checked_sample_weight(sample_weight, source.X)
        return float(np.average(log_prob_norm, weights=sample_weight)), (
            log_prob_norm.shape[0]
        )

    def _result_dtype(self, X):
        return np.result_type(X.dtype, np.asarray(self.means_).dtype)

    def score_samples(self, X):
        """Log-likelihood of each row under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            May hold NaN: a row's log-likelihood is then the log of the marginal
            density of its observed coordinates.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        X, (log_prob_norm, _, _) = self._score_rows(X)
        return log_prob_norm.astype(self._result_dtype(X), copy=False)

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood of the rows of X (weighted by ``sample_weight``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            May hold NaN (see :meth:`score_samples`).
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; None: unit weights.

        Returns
        -------
        log_likelihood : float
            sum_n w_n log p(x_n) / sum_n w_n.
        """
        return self._mean_log_prob(X, sample_weight)[0]

    def impute(self, X):
        """A copy of X with each NaN replaced by its expectation under the model.

        A row's missing coordinates x_M get E[x_M | x_O] = sum_k p(k | x_O)
        E[x_M | x_O, k], the posterior-weighted mix of each component's conditional
        mean given the observed coordinates x_O.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            In memory (an array or data frame, not data read in chunks).

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features), of X's dtype
        """
        return self._impute(X, random_state=None)

    def _impute(self, X, random_state):
        """:meth:`impute`, or draws from p(x_M | x_O) with a RandomState."""
        # Checked without building a DaskSource, which would read (persist) the
        # blocks. Memory maps are arrays here: the answer is as large as X anyway.
        if _is_dask_array(X) or (
            not isinstance(X, np.ndarray) and as_source(X, one_pass=True) is not None
        ):
            raise TypeError(
                f"impute needs X in memory, not {type(X).__name__} data read in chunks"
            )
        check_is_fitted(self)
        source = self._in_memory_source(X)
        if isinstance(source, MissingValueSource):
            return source.impute(*self._kernel_params(), random_state=random_state)
        return np.array(source.X)

    def predict(self, X):
        """Most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,), int64
        """
        return self._score_rows(X, log_prob=False, labels=True)[1][2]

    def predict_proba(self, X):
        """Posterior probability of each component for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
        """
        X, (_, resp, _) = self._score_rows(X, log_prob=False, resp=True)
        return resp.astype(self._result_dtype(X), copy=False)

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture (the same stream as scikit-learn).

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), float64
        y : ndarray of shape (n_samples,), int64
            The component each sample was drawn from.
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                "Invalid value for 'n_samples': %d . The sampling requires at "
                "least one sample." % (self.n_components)
            )
        n_features = self.means_.shape[1]
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        if self.covariance_type == "full":
            parts = [
                rng.multivariate_normal(mean, covariance, int(count))
                for mean, covariance, count in zip(
                    self.means_, self.covariances_, counts
                )
            ]
        elif self.covariance_type == "tied":
            parts = [
                rng.multivariate_normal(mean, self.covariances_, int(count))
                for mean, count in zip(self.means_, counts)
            ]
        else:
            parts = [
                mean + rng.standard_normal(size=(count, n_features)) * np.sqrt(cov)
                for mean, cov, count in zip(self.means_, self.covariances_, counts)
            ]
        labels = np.concatenate(
            [np.full(int(count), k, dtype=np.int64) for k, count in enumerate(counts)]
        )
        return np.asarray(np.vstack(parts), dtype=np.float64), labels

    def _n_parameters(self):
        return gm.n_parameters(
            self.n_components, self.means_.shape[1], self.covariance_type
        )

    def bic(self, X):
        """Bayesian information criterion on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        bic : float
        """
        mean_log_prob, n = self._mean_log_prob(X)
        return -2 * mean_log_prob * n + self._n_parameters() * np.log(n)

    def aic(self, X):
        """Akaike information criterion on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        aic : float
        """
        mean_log_prob, n = self._mean_log_prob(X)
        return -2 * mean_log_prob * n + 2 * self._n_parameters()

    def save(self, path):
        """Save the model to ``path`` in fastem's safe format (no pickle).

        The file (an ``.npz`` archive with a JSON header) holds the parameters and
        every fitted attribute exactly; :func:`fastem.load` reads it back.
        ``random_state`` must be an int or None: a RandomState instance has no safe
        saved form.

        Parameters
        ----------
        path : str, path-like or binary file object
            Written as given (no extension is added).
        """
        save_model(self, path)


def _ldexp(array, exponent):
    """array * 2**exponent (exact), or None for None."""
    return None if array is None else np.ldexp(array, exponent)


def _scaled_params(params, exponent):
    """Parameters of the data scaled by 2**-exponent (exact)."""
    if not exponent:
        return params
    return _Params(
        params.weights,
        np.ldexp(params.means, -exponent),
        np.ldexp(params.covariances, -2 * exponent),
        np.ldexp(params.precisions_cholesky, exponent),
    )


def _checked_sample_weight(sample_weight, X):
    """Validated float64 weights, or None for unit weights.

    Raises
    ------
    ValueError
        If the weights are negative, NaN, infinite, all zero or not one per row.
    """
    if sample_weight is None:
        return None
    return _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True
    )


def _source(X, sample_weight, fitting=True):
    """The data source over validated X: per missingness pattern if X has NaN.

    Callers validate X without its finiteness check: ``check_missing`` rejects
    infinities in the same pass (a sum) that finds NaN.
    """
    missing = check_missing(X, fitting)
    if missing is None:
        return ArraySource(X, sample_weight)
    return MissingValueSource(X, missing, sample_weight)


def _data_moments(source):
    """Weighted mean and covariance (``ddof=1``: times n / (n - 1)) of all the rows, the
    data-dependent defaults of a prior, in one kernel pass of a single component.

    Rows with NaN count mean-imputed. The sums are taken around the mean of a sample
    of rows, so that data far from the origin stays exact, and data read in chunks is
    never held in memory at once.
    """
    if isinstance(source, MissingValueSource):
        source = ArraySource(
            mean_imputed(source.X, source.sample_weight), source.sample_weight
        )
    sample = source.sample(_MOMENTS_SAMPLE_ROWS, check_random_state(0)).X
    shift = np.mean(sample, axis=0, dtype=np.float64)[np.newaxis]
    n_features = shift.shape[1]
    # One component: every responsibility is exactly 1, whatever its density.
    stats = source.accumulate(
        shift, np.eye(n_features)[np.newaxis], np.zeros(1), "full"
    )
    mean = shift + stats.s1 / stats.nk[:, np.newaxis]
    n_samples = source.n_samples
    covariance = gm.scatter_around(stats, mean, "full")[0] / stats.nk[0]
    return mean[0], covariance * (n_samples / max(n_samples - 1, 1))


def _checked(value, shape, name, **check_kwargs):
    """An initial parameter as a float64 array of the expected shape."""
    array = check_array(value, dtype=[np.float64, np.float32], **check_kwargs)
    if array.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {shape}, "
            f"but got {array.shape}"
        )
    return np.array(array, dtype=np.float64)


def _check_precisions(precisions, covariance_type):
    if covariance_type in ("diag", "spherical"):
        if np.any(precisions <= 0.0):
            raise ValueError(f"'{covariance_type} precision' should be positive")
        return
    for matrix in precisions if covariance_type == "full" else [precisions]:
        if not (
            np.allclose(matrix, matrix.T) and np.all(np.linalg.eigvalsh(matrix) > 0.0)
        ):
            raise ValueError(
                f"'{covariance_type} precision' should be symmetric, positive-definite"
            )
