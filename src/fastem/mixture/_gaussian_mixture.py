"""GaussianMixture: scikit-learn's estimator on fused EM kernels."""

import math
import warnings
from collections import namedtuple
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._engine.estimator import EMEstimator, FitContext
from .._engine.patterns import MissingValueSource, mean_imputed
from .._engine.persistence import register_model, register_value
from .._engine.sources import ArraySource
from .._families import gaussian as gm
from .._families.gaussian_frozen import FrozenGaussianMixture
from .._families.gaussian_prior import GaussianPrior, as_gaussian_prior
from .._latent.mixture import (
    MIXTURE_PARAMETER_CONSTRAINTS,
    check_enough_rows,
    check_weights,
    initial_labels,
    random_resp_chunks,
    reseeded_weights,
    worst_rows,
)

register_value("prior", GaussianPrior)

# A component is degenerate when, along some direction, its covariance exceeds
# reg_covar by less than this fraction of the data's mean variance per feature (see
# GaussianMixture._is_degenerate_fit).
DEGENERATE_RTOL = np.sqrt(np.finfo(np.float64).eps)

# Rows whose mean centres the sums of a prior's data moments (see _data_moments).
_MOMENTS_SAMPLE_ROWS = 4096

# Parameters during a fit, always float64; the fitted attributes take the data's dtype.
_Params = namedtuple("_Params", "weights means covariances precisions_cholesky")
# The fitted parameters (see _set_fitted), all in one dtype.
_FITTED_PARAMETERS = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
)


class DegenerateComponentWarning(UserWarning):
    """Components collapsed during EM and were re-seeded (on_degenerate="reseed").

    Issued once at the end of a fit that re-seeded; ``n_reseeds_`` counts the
    re-seeds.

    Examples
    --------
    Three components on two distinct rows: one collapses and is re-seeded.

    >>> import warnings
    >>> import numpy as np
    >>> from fastem import DegenerateComponentWarning, GaussianMixture
    >>> X = np.repeat([[0.0, 0.0], [1.0, 1.0]], 10, axis=0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     model = GaussianMixture(3, on_degenerate="reseed", random_state=0).fit(X)
    >>> any(issubclass(w.category, DegenerateComponentWarning) for w in caught)
    True
    """


class _GaussianFit(FitContext):
    """One fit of a GaussianMixture: the rows EM runs on, scaled by 2**-exponent
    (exact) where their magnitude is extreme, and the fit's settings.

    Attributes
    ----------
    exponent : int
        EM runs on X * 2**-exponent (see ``gaussian.scale_exponent``).
    eps : float
        10 machine epsilons of the data's dtype.
    prior : ResolvedPrior or None
    initial : tuple
        The validated ``weights_init``, ``means_init``, ``precisions_init``.
    unit_change : float
        EM's lower bound minus the user's (see ``_log_unit_change``).
    n_reseeds : int
        Components re-seeded so far.
    """

    def __init__(self, source, *, online, exponent, prior, initial, unit_change):
        super().__init__(source, online=online)
        self.exponent = exponent
        self.eps = 10 * np.finfo(source.dtype).eps
        self.prior = prior
        self.initial = initial
        self.unit_change = unit_change
        self.n_reseeds = 0

    def em_params(self, params):
        return _scaled_params(params, self.exponent)

    def user_params(self, params):
        return _scaled_params(params, -self.exponent)

    def lower_bound_change(self):
        return self.unit_change


@register_model
class GaussianMixture(EMEstimator):
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
        Initial weights (positive, summing to 1); None: from ``init_params``.
    means_init : array-like of shape (n_components, n_features), default=None
        Initial means; None: from ``init_params``.
    precisions_init : array-like, default=None
        Initial precisions (inverse covariances), shaped by ``covariance_type``:
        full (n_components, n_features, n_features), tied (n_features, n_features),
        diag (n_components, n_features), spherical (n_components,).
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisations (and :meth:`sample`): an int makes fits
        reproducible, on any number of threads.
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
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
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
        **MIXTURE_PARAMETER_CONSTRAINTS,
        "covariance_type": [StrOptions(set(gm.COVARIANCE_TYPES))],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "prior": [None, StrOptions({"default"}), GaussianPrior, dict],
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

    _fitted_attribute = "means_"

    # --- fitting: the engine's hooks ---------------------------------------------

    def _begin_fit(self, source, online):
        """The fit's context: the rows rescaled where their magnitude is extreme, the
        prior resolved against the data, the initial parameters checked."""
        if online:
            initial = (
                None
                if self._is_fitted()
                else self._check_initial_parameters(source.n_features)
            )
            return _GaussianFit(
                source,
                online=True,
                exponent=0,
                prior=None,
                initial=initial,
                unit_change=0.0,
            )
        check_enough_rows(source, self.n_components)
        initial = self._check_initial_parameters(source.n_features)
        # Data at extreme scales runs on an exactly rescaled copy (2**-exponent):
        # in memory, or each chunk as it is read.
        exponent = gm.scale_exponent(source.largest_magnitude(), source.dtype)
        if exponent:
            source = source.scaled(exponent)
        weights_init, means_init, precisions_init = initial
        initial = (
            weights_init,
            _ldexp(means_init, -exponent),
            _ldexp(precisions_init, 2 * exponent),
        )
        prior = as_gaussian_prior(self.prior)
        if prior is not None:
            prior = prior.resolve(
                source.n_features,
                self.n_components,
                self.covariance_type,
                lambda: _data_moments(source),
                exponent,
            )
        return _GaussianFit(
            source,
            online=False,
            exponent=exponent,
            prior=prior,
            initial=initial,
            unit_change=self._log_unit_change(exponent, prior, source.total_weight),
        )

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

    def _check_initial_parameters(self, n_features):
        """Validated float64 copies of weights_init, means_init, precisions_init."""
        weights = means = precisions = None
        K = self.n_components
        if self.weights_init is not None:
            weights = _checked(self.weights_init, (K,), "weights", ensure_2d=False)
            check_weights(
                weights, np.asarray(self.weights_init).dtype, "The parameter 'weights'"
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

    def _initialize(self, context, random_state):
        """Initial parameters, as scikit-learn chooses them (when without a prior)."""
        weights_init, means_init, precisions_init = context.initial
        weights = means = covariances = None
        prior = context.prior
        if weights_init is None or means_init is None or precisions_init is None:
            sample = context.source.sample(self.init_sample_size, random_state)
            stats = self._initial_stats(sample, random_state)
            mass, means, covariances = gm.maximize(
                stats, self.covariance_type, self.reg_covar, context.eps, prior
            )
            weights = mass / (sample.total_weight if prior is None else mass.sum())
            if self.on_degenerate == "reseed" and precisions_init is None:
                weights, means, covariances = self._reseed(
                    context, sample, stats.nk, weights, means, covariances
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
        """Statistics of the start ``init_params`` names (scikit-learn's), on the
        rows of ``source``, those with NaN mean-imputed."""
        X, K, covariance_type = source.X, self.n_components, self.covariance_type
        sample_weight = source.sample_weight
        if isinstance(source, MissingValueSource):
            X = mean_imputed(X, sample_weight)
        if self.init_params == "random":
            resp = random_resp_chunks(X.shape[0], K, random_state, X.dtype)
            return gm.stats_from_resp_chunks(X, resp, K, covariance_type, sample_weight)
        labels = initial_labels(self.init_params, source, X, K, random_state)
        return gm.stats_from_labels(X, labels, K, covariance_type, sample_weight)

    def _frozen(self, params):
        return FrozenGaussianMixture.from_parameters(
            params.weights,
            params.means,
            params.precisions_cholesky,
            self.covariance_type,
        )

    def _log_prior(self, context, params):
        if context.prior is None:
            return 0.0
        return context.prior.log_density(
            params.weights, params.means, params.precisions_cholesky
        )

    def _maximize(self, context, stats, params):
        """The M-step (MAP under the prior, if any); components that collapsed are
        re-seeded when ``on_degenerate='reseed'`` (not in online EM)."""
        mass, means, covariances = gm.maximize(
            stats, self.covariance_type, self.reg_covar, context.eps, context.prior
        )
        weights = mass / mass.sum()
        if self.on_degenerate == "reseed" and not context.online:
            weights, means, covariances = self._reseed(
                context, context.source, stats.nk, weights, means, covariances, params
            )
        precisions_chol = gm.precision_cholesky(covariances, self.covariance_type)
        return _Params(weights, means, covariances, precisions_chol)

    def _end_fit(self, context, result):
        super()._end_fit(context, result)
        self.n_reseeds_ = context.n_reseeds
        if self.n_reseeds_:
            warnings.warn(
                f"{self.n_reseeds_} degenerate component(s) (collapsed covariance or "
                "no responsibility mass) were re-seeded at the worst-fitted rows "
                "during fit. Consider fewer components, a larger reg_covar or a "
                "prior.",
                DegenerateComponentWarning,
            )

    def _check_online(self):
        if self.prior is not None:
            raise ValueError(
                "partial_fit estimates by maximum likelihood only: set prior=None, "
                "or use fit for a MAP estimate"
            )

    def _reseed(self, context, source, mass, weights, means, covariances, scorer=None):
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
            mass, means, covariances, covariance_type, context.eps, source.total_weight
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
        sound_model = FrozenGaussianMixture.from_parameters(
            sound_weights / sound_weights.sum(), sound_means, factors, covariance_type
        )
        worst = worst_rows(source, sound_model, np.count_nonzero(degenerate))
        means = means.copy()
        # A missing coordinate of the worst row keeps the component's old mean.
        seeds = np.asarray(source.rows(worst), dtype=np.float64)
        means[degenerate] = np.where(np.isnan(seeds), means[degenerate], seeds)
        if not shared:
            covariances = covariances.copy()
            covariances[degenerate] = np.mean(sound_covariances, axis=0)
        context.n_reseeds += int(np.count_nonzero(degenerate))
        return reseeded_weights(weights, degenerate), means, covariances

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

    def _fitted_model(self):
        """The fitted attributes as the kernels read them (float64)."""
        return FrozenGaussianMixture.from_parameters(
            np.asarray(self.weights_, dtype=np.float64),
            self.means_,
            gm.upper_precision_cholesky(
                np.asarray(self.precisions_cholesky_, dtype=np.float64),
                self.covariance_type,
            ),
            self.covariance_type,
        )

    # --- model selection (fastem.select) ------------------------------------

    def _split_heaviest(self, X):
        """weights_init, means_init, precisions_init for K + 1 components: the fitted
        K-component model with its heaviest component split in two.

        The rows the model assigns to that component are cut by the hyperplane through
        their mean normal to their principal axis; each half then gets the mean and
        covariance of its rows (as after a hard-assignment initialisation). None when
        the component holds fewer than two rows or its halves give a singular
        covariance.
        Rows with NaN are placed mean-imputed. (:func:`fastem.select`'s warm start
        along K.)
        """
        labels = self.predict(X)
        if not sp.issparse(X) and np.isnan(X).any():
            X = mean_imputed(X)  # the split's geometry; EM then fits the NaN
        heaviest = int(np.argmax(self.weights_))
        rows = np.flatnonzero(labels == heaviest)
        if rows.size < 2:
            return None
        held = np.asarray(X[rows], dtype=np.float64)
        centred = held - held.mean(axis=0)
        # The principal axis is the first right singular vector of the centred rows.
        axis = np.linalg.svd(centred, full_matrices=False)[2][0]
        side = centred @ axis > 0.0
        if side.all() or not side.any():
            return None
        k = self.n_components
        labels[rows[side]] = k
        stats = gm.stats_from_labels(X, labels, k + 1, self.covariance_type)
        eps = 10 * np.finfo(X.dtype).eps
        try:
            mass, means, covariances = gm.maximize(
                stats, self.covariance_type, self.reg_covar, eps
            )
            precisions_chol = gm.precision_cholesky(covariances, self.covariance_type)
        except ValueError:
            return None
        return {
            "weights_init": mass / mass.sum(),
            "means_init": means,
            "precisions_init": gm.precisions_from_cholesky(
                precisions_chol, self.covariance_type
            ),
        }

    def _is_degenerate_fit(self, data_variance):
        """Whether some component's variance (over directions) exceeds
        ``reg_covar`` by at most DEGENERATE_RTOL times ``data_variance``, the data's
        mean variance per feature: its rows lie on a lower-dimensional set
        (repeated values, collinear rows), where the likelihood grows without bound
        as reg_covar -> 0."""
        floor = self.reg_covar + DEGENERATE_RTOL * data_variance
        covariances = np.asarray(self.covariances_, dtype=np.float64)
        if self.covariance_type in ("full", "tied"):
            covariances = np.linalg.eigvalsh(covariances)
        return bool(np.min(covariances) <= floor)

    def _is_fit_failure(self, error):
        return gm.SINGULAR_COVARIANCE_MESSAGE in str(error)

    def _fit_failure_message(self):
        return gm.SINGULAR_COVARIANCE_MESSAGE

    # --- using a fitted model ------------------------------------------------

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
            X with its NaN filled in; the observed values are unchanged.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> X = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0], [4.0, 8.0]])
        >>> gm = GaussianMixture(reg_covar=1e-3).fit(X)
        >>> gm.impute(np.array([[5.0, np.nan]])).round(1)
        array([[ 5., 10.]])
        """
        return self._impute(X, random_state=None)

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture (the same stream as scikit-learn).

        Parameters
        ----------
        n_samples : int, default=1
            The number of samples to draw (``random_state`` seeds the draws).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), float64
            The samples, grouped by component.
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

    def _check_loaded(self):
        """Check the parameters and fitted attributes of a model read from a file.

        :func:`fastem.load` calls this on the model it decoded: a file may hold
        anything, so the parameters are validated as :meth:`fit` validates them and
        the fitted parameters as strictly as its ``*_init`` arguments, to the
        rounding of their dtype. An unfitted model has none of them.

        Raises
        ------
        ValueError
            Naming the parameter or attribute and what is wrong with it.
        """
        self._validate_params()
        if not any(key in vars(self) for key in _FITTED_PARAMETERS):
            return
        params = self._loaded_parameters()
        dtype = self.weights_.dtype
        check_weights(params["weights_"], dtype, "weights_")
        covariance_type = self.covariance_type
        factors = params["precisions_cholesky_"]
        if covariance_type in ("diag", "spherical"):
            _check_precisions(factors, covariance_type, "precisions_cholesky_")
        elif np.any(np.tril(factors, -1)) or np.any(
            np.diagonal(factors, axis1=-2, axis2=-1) <= 0.0
        ):
            raise ValueError(
                "precisions_cholesky_ must be upper triangular with a positive "
                "diagonal, as fit stores it"
            )
        # covariances_ and precisions_ against the factor, not precisions_ on its
        # own: in float32 a legitimate precisions_ of condition number 1e9 may have
        # a negative eigenvalue. The mismatch is relative to what rounding either
        # to the dtype can cause, whatever the conditioning.
        tolerance = np.sqrt(np.finfo(dtype).eps)
        precisions = {
            "precisions_cholesky_": gm.precisions_from_cholesky(
                factors, covariance_type
            ),
            "precisions_": params["precisions_"],
        }
        for key, value in precisions.items():
            mismatch = np.max(
                gm.inverse_mismatch(params["covariances_"], value, covariance_type)
            )
            if not mismatch <= tolerance:
                raise ValueError(
                    f"covariances_ and {key} disagree: the covariances times the "
                    f"precisions are {mismatch:.2g} (relative) from the identity, "
                    f"more than {dtype} rounding allows ({tolerance:.1g})"
                )

    def _loaded_parameters(self):
        """The fitted parameters as finite float64 copies, once each is present and
        a float32 or float64 array (all of one dtype) of the shape the model needs."""
        missing = [
            key
            for key in (*_FITTED_PARAMETERS, "n_features_in_")
            if key not in vars(self)
        ]
        if missing:
            raise ValueError(
                f"a fitted model needs all its parameters: {missing} missing"
            )
        d = self.n_features_in_
        if not (isinstance(d, Integral) and not isinstance(d, bool) and d >= 1):
            raise ValueError(f"n_features_in_ must be a positive int, not {d!r}")
        for key in _FITTED_PARAMETERS:
            value = getattr(self, key)
            if not isinstance(value, np.ndarray):
                value_type = type(value).__name__
                raise ValueError(
                    f"{key} must be a float32 or float64 array, not {value_type}"
                )
            if value.dtype not in (np.float32, np.float64):
                raise ValueError(
                    f"{key} must be a float32 or float64 array, not {value.dtype}"
                )
        dtype = self.weights_.dtype
        mixed = [key for key in _FITTED_PARAMETERS if getattr(self, key).dtype != dtype]
        if mixed:
            raise ValueError(
                f"{mixed} are not {dtype} as weights_ is: fit stores its parameters "
                "in one dtype"
            )
        K, covariance_type = self.n_components, self.covariance_type
        moment_shape = gm.second_moment_shape(K, d, covariance_type)
        shapes = {
            "weights_": (K,),
            "means_": (K, d),
            "covariances_": moment_shape,
            "precisions_": moment_shape,
            "precisions_cholesky_": moment_shape,
        }
        for key, shape in shapes.items():
            actual = getattr(self, key).shape
            if actual != shape:
                raise ValueError(
                    f"{key} has shape {actual} where n_components={K}, "
                    f"n_features_in_={d} and covariance_type={covariance_type!r} "
                    f"need {shape} (tampered file?)"
                )
        return {
            key: _checked(
                getattr(self, key),
                shape,
                key,
                ensure_2d=False,
                allow_nd=True,
                input_name=key,
            )
            for key, shape in shapes.items()
        }


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
        FrozenGaussianMixture(
            shift, np.eye(n_features)[np.newaxis], np.zeros(1), "full"
        )
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


def _check_precisions(precisions, covariance_type, name=None):
    """Positive (diag, spherical) or symmetric positive-definite (full, tied)."""
    name = f"'{covariance_type} precision'" if name is None else name
    if covariance_type in ("diag", "spherical"):
        if np.any(precisions <= 0.0):
            raise ValueError(f"{name} should be positive")
        return
    for matrix in precisions if covariance_type == "full" else [precisions]:
        if not (
            np.allclose(matrix, matrix.T) and np.all(np.linalg.eigvalsh(matrix) > 0.0)
        ):
            raise ValueError(f"{name} should be symmetric, positive-definite")
