"""GaussianMixture: scikit-learn's estimator on fused EM kernels."""

from collections import namedtuple
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.cluster import KMeans
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _gaussian_math as gm
from ._driver import run_em
from ._sources import ArraySource, ChunkSource, _is_dask_array, as_source
from ._threads import limit_blas_threads

# Parameters during a fit, always float64; the fitted attributes take the data's dtype.
_Params = namedtuple("_Params", "weights means covariances precisions_cholesky")


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by EM on fused Cython + OpenMP kernels.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the same
    parameters, attributes, methods and (to rounding) the same numbers. Each EM
    iteration is one pass over X in chunks: the E-step and the M-step's sufficient
    statistics are computed together, in parallel, in float64 whatever the input
    dtype, and no n_samples x n_components array is allocated.

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
        How the responsibilities that start EM are chosen (as in scikit-learn).
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
        Mean log-likelihood of the training data at the best run's last E-step.
    lower_bounds_ : list of float
        The lower bound at each iteration of the best run.
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
        self.init_sample_size = init_sample_size
        self.learning_offset = learning_offset
        self.learning_decay = learning_decay

    # --- fitting -------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Estimate the parameters with EM, keeping the best of ``n_init`` runs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or out-of-core data
            float32 data gives float32 attributes (computed in float64). Memory
            maps, HDF5 / Zarr arrays, chunk callables and Dask arrays are read in
            chunks (see Notes).
        y : Ignored

        Returns
        -------
        self : GaussianMixture
        """
        self._fit(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_predict(self, X, y=None):
        """Fit, then return the most probable component of each row of X.

        Equal to ``fit(X).predict(X)`` for any ``max_iter`` and ``tol``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        labels : ndarray of shape (n_samples,), int64
            A dask array for a dask X.
        """
        source = self._fit(X)
        # A final E-step with the stored attributes, so fit_predict == fit().predict.
        return source.score(*self._kernel_params(), log_prob=False, labels=True)[2]

    def _fit(self, X):
        """Run EM on X and set the fitted attributes; returns X's data source."""
        source = self._training_source(X)
        self.__dict__.pop("_online_stats", None)
        if source.n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, "
                f"n_samples = {source.n_samples}"
            )
        initial = self._check_initial_parameters(source.n_features)
        eps = 10 * np.finfo(source.dtype).eps
        warm = None
        if self.warm_start and hasattr(self, "converged_"):
            warm = (self._fitted_params(), self.lower_bound_)
        result = run_em(
            lambda random_state: self._initialize(source, random_state, initial, eps),
            lambda params: self._em_step(source, params, eps),
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=check_random_state(self.random_state),
            verbose=self.verbose,
            verbose_interval=self.verbose_interval,
            warm=warm,
        )
        self._set_fitted(result.params, source.dtype)
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        self.lower_bound_ = result.lower_bound
        self.lower_bounds_ = result.lower_bounds
        return source

    def _training_source(self, X):
        """X's data source, with ``n_samples``, ``n_features`` and ``dtype``;
        ``n_features_in_`` (and ``feature_names_in_``) set from X."""
        source = as_source(X)
        if source is None:
            X = validate_data(
                self, X, dtype=[np.float64, np.float32], ensure_min_samples=2
            )
            return ArraySource(X)
        # Out-of-core data is validated chunk by chunk, and has no feature names.
        if source.n_samples < 2:
            raise ValueError(
                f"Found array with {source.n_samples} sample(s) while a minimum of "
                "2 is required."
            )
        self.__dict__.pop("feature_names_in_", None)
        self.n_features_in_ = source.n_features
        return source

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

    def _initialize(self, source, random_state, initial, eps):
        """Initial parameters, exactly as scikit-learn chooses them."""
        weights_init, means_init, precisions_init = initial
        weights = means = covariances = None
        if weights_init is None or means_init is None or precisions_init is None:
            sample = source.sample(self.init_sample_size, random_state)
            stats = self._initial_stats(sample, random_state)
            mass, means, covariances = gm.maximize(
                stats, self.covariance_type, self.reg_covar, eps
            )
            weights = mass / sample.n_samples
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
        if self.init_params == "random":
            return gm.stats_from_random_resp(X, K, covariance_type, random_state)
        if self.init_params == "kmeans":
            labels = KMeans(n_clusters=K, n_init=1, random_state=random_state).fit(X)
            labels = labels.labels_
        else:
            if self.init_params == "random_from_data":
                indices = random_state.choice(X.shape[0], size=K, replace=False)
            else:
                # scikit-learn's seeds, chosen on the kernels (see _seeding.py).
                _, indices = source.kmeans_plusplus(K, random_state)
            labels = np.full(X.shape[0], -1)
            labels[indices] = np.arange(K)
        return gm.stats_from_labels(X, labels, K, covariance_type)

    def _em_step(self, source, params, eps):
        """E-step on ``params`` fused with the M-step's sums, then the M-step."""
        stats = source.accumulate(
            params.means,
            params.precisions_cholesky,
            gm.log_norm(
                params.weights,
                params.precisions_cholesky,
                self.covariance_type,
                params.means.shape[1],
            ),
            self.covariance_type,
        )
        lower_bound = stats.log_likelihood / source.total_weight
        mass, means, covariances = gm.maximize(
            stats, self.covariance_type, self.reg_covar, eps
        )
        precisions_chol = gm.precision_cholesky(covariances, self.covariance_type)
        return _Params(
            mass / mass.sum(), means, covariances, precisions_chol
        ), lower_bound

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
            params = self._initialize(source, random_state, initial, eps)
        else:
            params = self._fitted_params()
        log_norm = gm.log_norm(
            params.weights,
            params.precisions_cholesky,
            self.covariance_type,
            X.shape[1],
        )
        batch = source.accumulate(
            params.means, params.precisions_cholesky, log_norm, self.covariance_type
        )
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
        self.weights_ = params.weights.astype(dtype)
        self.means_ = params.means.astype(dtype)
        self.covariances_ = params.covariances.astype(dtype)
        self.precisions_cholesky_ = params.precisions_cholesky.astype(dtype)
        self.precisions_ = gm.precisions_from_cholesky(
            params.precisions_cholesky, self.covariance_type
        ).astype(dtype)

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
        """The data source of X to score with the fitted model."""
        check_is_fitted(self)
        source = as_source(X, n_features=self.n_features_in_, one_pass=True)
        if source is None:
            X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
            source = ArraySource(X)
        return source

    def _score_rows(self, X, **wanted):
        """X's data source and its ``score`` outputs (``wanted`` selects them)."""
        source = self._scoring_source(X)
        return source, source.score(*self._kernel_params(), **wanted)

    def _mean_log_prob(self, X):
        """Mean log-likelihood of the rows of X and their number (out of core, summed
        chunk by chunk rather than held per row)."""
        source = self._scoring_source(X)
        if isinstance(source, ChunkSource):
            total = n_samples = 0
            for log_prob, _, _ in source.score_chunks(*self._kernel_params()):
                total += np.sum(log_prob)
                n_samples += log_prob.shape[0]
            return float(total / n_samples), n_samples
        log_prob_norm = source.score(*self._kernel_params())[0]
        return float(np.mean(log_prob_norm)), log_prob_norm.shape[0]

    def _result_dtype(self, X):
        return np.result_type(X.dtype, np.asarray(self.means_).dtype)

    def score_samples(self, X):
        """Log-likelihood of each row under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        X, (log_prob_norm, _, _) = self._score_rows(X)
        return log_prob_norm.astype(self._result_dtype(X), copy=False)

    def score(self, X, y=None):
        """Mean log-likelihood of the rows of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        log_likelihood : float
        """
        return self._mean_log_prob(X)[0]

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
