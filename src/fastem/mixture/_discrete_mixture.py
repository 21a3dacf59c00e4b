"""BernoulliMixture and MultinomialMixture: mixtures of discrete data by EM, for
binary features and counts (text clustering), dense or sparse."""

import dataclasses
from collections import namedtuple
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from .._engine.estimator import (
    EMEstimator,
    FitContext,
    LatentClassMixin,
    OnlineEMMixin,
)
from .._engine.patterns import mean_imputed
from .._engine.persistence import register_model
from .._engine.sources import ArraySource
from .._engine.streams import _is_dask_array, as_source
from .._families import discrete
from .._families.discrete import FrozenDiscreteMixture
from .._latent.mixture import (
    MIXTURE_PARAMETER_CONSTRAINTS,
    check_enough_rows,
    check_weights,
    initial_labels,
    one_hot,
    random_resp_chunks,
    reseeded_weights,
    worst_rows,
)

# Parameters during a fit, float64: ``log_complement`` is log(1 - p) (Bernoulli,
# else None), ``mean_count`` the rows' mean total count (the multinomial's samples).
_Params = namedtuple("_Params", "weights log_prob log_complement mean_count")


class _DiscreteFit(FitContext):
    """One fit of a discrete mixture: its initial parameters, the resolution below
    which a component has collapsed, re-seeds, and the rows' mean total count."""

    def __init__(self, source, *, online, initial):
        super().__init__(source, online=online)
        self.initial = initial
        self.eps = 10 * np.finfo(source.dtype).eps
        self.n_reseeds = 0


class _DiscreteMixture(LatentClassMixin, OnlineEMMixin, EMEstimator):
    """What Bernoulli and multinomial mixtures share; see their docstrings."""

    _parameter_constraints: dict = {
        **MIXTURE_PARAMETER_CONSTRAINTS,
        "alpha": [Interval(Real, 0.0, None, closed="left")],
        "feature_prob_init": ["array-like", None],
    }

    _fitted_attribute = "feature_log_prob_"

    def __init__(
        self,
        n_components=1,
        *,
        alpha=1.0,
        tol=1e-3,
        max_iter=100,
        n_init=1,
        init_params="k-means++",
        weights_init=None,
        feature_prob_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        on_degenerate="reseed",
        init_sample_size=100_000,
        learning_offset=10.0,
        learning_decay=0.7,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.feature_prob_init = feature_prob_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.on_degenerate = on_degenerate
        self.init_sample_size = init_sample_size
        self.learning_offset = learning_offset
        self.learning_decay = learning_decay

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = self._bernoulli
        tags.input_tags.positive_only = not self._bernoulli
        return tags

    # --- the family's hooks (set by the subclasses) ---------------------------

    _bernoulli = False  # Bernoulli (NaN in dense X is missing) or multinomial

    def _check_values(self, X):
        raise NotImplementedError

    # --- data -----------------------------------------------------------------

    def _validate_rows(self, X, *, reset, fitting):
        """X as the kernel reads it: a float32 / float64 array or canonical CSR
        matrix (other sparse formats converted), its values checked."""
        X = validate_data(
            self,
            X,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            reset=reset,
            ensure_min_samples=2 if fitting else 1,
            ensure_all_finite="allow-nan" if self._bernoulli else True,
        )
        if sp.issparse(X) and not X.has_canonical_format:
            X = X.copy()  # never the caller's matrix
            X.sum_duplicates()
        X = self._prepared_values(X)
        self._check_values(X)
        return X

    def _prepared_values(self, X):
        """X as the model reads its values (the Bernoulli's binarisation)."""
        return X

    def _missing_values(self):
        # The kernel itself reads NaN: a missing feature drops out of its row.
        return "native" if self._bernoulli else False

    # --- fitting: the engine's hooks -----------------------------------------

    def _begin_fit(self, source, online):
        if not online:
            check_enough_rows(source, self.n_components)
        initial = None
        if not (online and self._is_fitted()):
            initial = self._check_initial_parameters(source.n_features)
        return _DiscreteFit(source, online=online, initial=initial)

    def _check_initial_parameters(self, n_features):
        """Validated float64 copies of weights_init and feature_prob_init."""
        weights = probabilities = None
        K = self.n_components
        if self.weights_init is not None:
            weights = _checked(self.weights_init, (K,), "weights_init")
            check_weights(weights, np.asarray(self.weights_init).dtype, "weights_init")
        if self.feature_prob_init is not None:
            probabilities = _checked(
                self.feature_prob_init, (K, n_features), "feature_prob_init"
            )
            self._check_feature_prob_init(probabilities)
        return weights, probabilities

    def _initialize(self, context, random_state):
        """Initial parameters: the rows assigned by ``init_params``, their smoothed
        counts, then any ``weights_init`` / ``feature_prob_init`` in their place."""
        weights_init, probabilities_init = context.initial
        mean_count = None  # known once rows are seen
        if weights_init is None or probabilities_init is None:
            sample = context.source.sample(self.init_sample_size, random_state)
            nk, s, m = self._initial_counts(sample, random_state)
            stats = self._stats(nk, s, m)
            weights = nk / nk.sum()
            mean_count = float(np.sum(s) / np.sum(nk))
            log_prob, log_complement = self._maximize_family(
                stats, max(self.alpha, discrete.INIT_ALPHA), None
            )
        if weights_init is not None:
            weights = weights_init
        if probabilities_init is not None:
            log_prob = np.log(probabilities_init)
            log_complement = np.log1p(-probabilities_init) if self._bernoulli else None
        return _Params(weights, log_prob, log_complement, mean_count)

    def _initial_counts(self, sample, random_state):
        """Expected counts of the start ``init_params`` names, on in-memory rows."""
        X = sample.X
        K = self.n_components
        with_observed = self._bernoulli
        if self.init_params == "random":
            nk = np.zeros(K)
            s = np.zeros((K, X.shape[1]))
            m = np.zeros((K, X.shape[1])) if with_observed else None
            weights = sample.sample_weight
            for rows, resp in random_resp_chunks(X.shape[0], K, random_state, X.dtype):
                part = discrete.counts_from_resp(
                    X[rows],
                    resp,
                    None if weights is None else weights[rows],
                    with_observed,
                )
                nk += part[0]
                s += part[1]
                if with_observed:
                    m += part[2]
            return nk, s, m
        # Rows with NaN are clustered mean-imputed; their counts skip the NaN.
        dense_complete = X
        if not sp.issparse(X) and self._bernoulli and np.isnan(X).any():
            dense_complete = mean_imputed(X, sample.sample_weight)
        labels = initial_labels(
            self.init_params, sample, dense_complete, K, random_state
        )
        return discrete.counts_from_resp(
            X, one_hot(labels, K), sample.sample_weight, with_observed
        )

    def _maximize(self, context, stats, params):
        if context.online:
            # Running statistics are per unit weight: smoothing weighs against all
            # the rows seen, as in a fit on them.
            stats = stats * context.weight_seen
        weights = stats.nk / stats.nk.sum()
        previous = (params.log_prob, params.log_complement)
        log_prob, log_complement = self._maximize_family(stats, self.alpha, previous)
        mean_count = float(np.sum(stats.s) / np.sum(stats.nk))
        params = _Params(weights, log_prob, log_complement, mean_count)
        degenerate = ~(stats.nk >= context.eps * np.sum(stats.nk))
        if context.online or not degenerate.any():
            return params
        if self.on_degenerate == "raise":
            raise ValueError(
                f"Component(s) {np.flatnonzero(degenerate).tolist()} lost all their "
                "responsibility mass. Try fewer components, another init_params, or "
                "on_degenerate='reseed'."
            )
        return self._reseed(context, params, degenerate)

    def _reseed(self, context, params, degenerate):
        """Degenerate components moved to the rows the others explain worst: each
        takes the smoothed values of its row, and weight 1 / n_components."""
        sound = ~degenerate
        if not sound.any():
            return params
        source = context.source
        sound_weights = params.weights[sound] / params.weights[sound].sum()
        sound_model = self._frozen(
            _Params(
                sound_weights,
                params.log_prob[sound],
                None if params.log_complement is None else params.log_complement[sound],
                params.mean_count,
            )
        )
        rows = worst_rows(source, sound_model, np.count_nonzero(degenerate))
        X = source.rows(rows)
        X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
        log_prob, log_complement = params.log_prob.copy(), params.log_complement
        seeded_prob, seeded_complement = self._row_parameters(X)
        # A missing value of the row keeps the component's old probability.
        log_prob[degenerate] = np.where(
            np.isnan(seeded_prob), log_prob[degenerate], seeded_prob
        )
        if log_complement is not None:
            log_complement = log_complement.copy()
            log_complement[degenerate] = np.where(
                np.isnan(seeded_complement),
                log_complement[degenerate],
                seeded_complement,
            )
        context.n_reseeds += int(np.count_nonzero(degenerate))
        return params._replace(
            weights=reseeded_weights(params.weights, degenerate),
            log_prob=log_prob,
            log_complement=log_complement,
        )

    def _end_fit(self, context, result):
        super()._end_fit(context, result)
        self.n_reseeds_ = context.n_reseeds

    def _set_fitted(self, params, dtype):
        self.weights_ = params.weights.astype(dtype)
        self.feature_log_prob_ = params.log_prob.astype(dtype)

    def _fitted_params(self):
        log_prob = np.array(self.feature_log_prob_, dtype=np.float64)
        log_complement = None
        if self._bernoulli:
            with np.errstate(divide="ignore"):
                log_complement = np.log1p(-np.exp(log_prob))
        return _Params(
            np.array(self.weights_, dtype=np.float64),
            log_prob,
            log_complement,
            getattr(self, "mean_count_", None),
        )

    def _fitted_model(self):
        check_is_fitted(self)
        return self._frozen(self._fitted_params())

    def _check_loaded(self):
        """Check the parameters and fitted attributes of a model read from a file
        (see :func:`fastem.load`) as fit checks its ``*_init`` arguments."""
        self._validate_params()
        fitted = ("weights_", "feature_log_prob_", "n_features_in_")
        present = [key for key in fitted if key in vars(self)]
        if not present:
            return
        if len(present) < len(fitted):
            missing = sorted(set(fitted) - set(present))
            raise ValueError(
                f"a fitted model needs all its parameters: {missing} missing"
            )
        K, d = self.n_components, self.n_features_in_
        if not (isinstance(d, Integral) and not isinstance(d, bool) and d >= 1):
            raise ValueError(f"n_features_in_ must be a positive int, not {d!r}")
        arrays = {"weights_": (K,), "feature_log_prob_": (K, d)}
        for key, shape in arrays.items():
            value = getattr(self, key)
            if not (
                isinstance(value, np.ndarray)
                and value.dtype in (np.float32, np.float64)
                and value.shape == shape
            ):
                raise ValueError(
                    f"{key} must be a float32 or float64 array of shape {shape}"
                )
        weights = self.weights_.astype(np.float64)
        check_weights(weights, self.weights_.dtype, "weights_")
        log_prob = self.feature_log_prob_.astype(np.float64)
        if np.isnan(log_prob).any() or np.any(log_prob > 0.0):
            raise ValueError("feature_log_prob_ must hold log-probabilities (<= 0)")
        self._check_loaded_probabilities(log_prob)
        mean_count = getattr(self, "mean_count_", 0.0)
        if not (isinstance(mean_count, Real) and 0.0 <= mean_count < np.inf):
            raise ValueError(f"mean_count_ must be a finite count, not {mean_count!r}")

    # --- sampling -------------------------------------------------------------

    def _components_of_samples(self, n_samples):
        """The random state of sampling and the number of samples of each component
        (scikit-learn's GaussianMixture.sample draws the same way)."""
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling requires "
                "at least one sample."
            )
        rng = check_random_state(self.random_state)
        return rng, rng.multinomial(n_samples, np.asarray(self.weights_, np.float64))


@register_model
class BernoulliMixture(_DiscreteMixture):
    """Mixture of multivariate Bernoulli distributions (binary features) by EM.

    Each component k draws every feature j independently, equal to 1 with
    probability p_kj. EM runs in one fused, multi-threaded pass over X per
    iteration: dense rows through BLAS-blocked kernels, CSR rows in O(nnz x K)
    without densifying. No n_samples x n_components array is allocated.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.
    alpha : float, default=1.0
        Additive smoothing, as in scikit-learn's BernoulliNB:
        p_kj = (expected ones_kj + alpha) / (expected mass_kj + 2 alpha), the MAP
        estimate under a Beta(alpha + 1, alpha + 1) prior on each p_kj; 0 is
        maximum likelihood.
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound.
    max_iter : int, default=100
        The largest number of EM iterations.
    n_init : int, default=1
        Initialisations; the best lower bound is kept.
    init_params : {'k-means++', 'kmeans', 'random', 'random_from_data'}, \
            default='k-means++'
        The start, as in scikit-learn's GaussianMixture: the rows are assigned to
        components (k-means++ seeds, k-means labels, random rows, or random
        responsibilities), and each component's probabilities are its rows'
        counts smoothed by max(alpha, 1).
    weights_init : array-like of shape (n_components,), default=None
        Initial weights (positive, summing to 1); None: from ``init_params``.
    feature_prob_init : array-like of shape (n_components, n_features), default=None
        Initial probabilities P(x_j = 1 | k), each in (0, 1).
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisations (and :meth:`sample`): an int makes fits
        reproducible, on any number of threads.
    warm_start : bool, default=False
        Each fit starts from the previous solution (``n_init`` is ignored).
    verbose : int, default=0
        1 prints each initialisation and iteration, 2 also times and changes.
    verbose_interval : int, default=10
        Iterations between two progress messages.
    on_degenerate : {'reseed', 'raise'}, default='reseed'
        What happens to a component that loses all its responsibility mass (below
        10 machine epsilons of the total): it is moved to the row the other
        components explain worst ('reseed', counted in ``n_reseeds_``), or the fit
        stops with a ValueError ('raise').
    init_sample_size : int, default=100_000
        Data read in chunks is initialised from this many rows drawn with
        ``random_state``.
    learning_offset, learning_decay : float, default=10.0, 0.7
        The step sizes of :meth:`partial_fit` (see GaussianMixture).
    binarize : float or None, default=None
        None: X must be binary (other values raise a ValueError naming the first
        one). A number: values above it are 1, the others 0 (NaN stays missing),
        as scikit-learn's BernoulliNB does, on a copy of X.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    feature_log_prob_ : ndarray of shape (n_components, n_features)
        log P(x_j = 1 | k), as in scikit-learn's BernoulliNB.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        The mean log-likelihood of the training rows, plus the log prior density
        (when alpha > 0) over their total weight, at the best run's last E-step.
        EM never lowers it (up to re-seeds).
    lower_bounds_ : list of float
    n_reseeds_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    Notes
    -----
    X is binary: bool, 0/1 numbers, or a CSR matrix whose stored values are 1 (an
    explicit stored 0 is a 0). In dense X, NaN is a missing value: features are
    independent given the component, so it drops out of its row's likelihood and
    of the statistics exactly, and :meth:`impute` fills it with
    P(x_j = 1 | the row's observed values). float32 and float64 are read as they
    are; other dtypes are converted to float64.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import BernoulliMixture
    >>> X = np.array([[1, 1, 0, 0]] * 5 + [[0, 0, 1, 1]] * 5)
    >>> model = BernoulliMixture(2, random_state=0).fit(X)
    >>> model.predict(X[[0, -1]]).tolist() in ([0, 1], [1, 0])
    True
    """

    _bernoulli = True

    _parameter_constraints: dict = {
        **_DiscreteMixture._parameter_constraints,
        "binarize": [None, Real],
    }

    def __init__(
        self,
        n_components=1,
        *,
        alpha=1.0,
        tol=1e-3,
        max_iter=100,
        n_init=1,
        init_params="k-means++",
        weights_init=None,
        feature_prob_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        on_degenerate="reseed",
        init_sample_size=100_000,
        learning_offset=10.0,
        learning_decay=0.7,
        binarize=None,
    ):
        super().__init__(
            n_components,
            alpha=alpha,
            tol=tol,
            max_iter=max_iter,
            n_init=n_init,
            init_params=init_params,
            weights_init=weights_init,
            feature_prob_init=feature_prob_init,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
            verbose_interval=verbose_interval,
            on_degenerate=on_degenerate,
            init_sample_size=init_sample_size,
            learning_offset=learning_offset,
            learning_decay=learning_decay,
        )
        self.binarize = binarize

    def _prepared_values(self, X):
        if self.binarize is None:
            return X
        if sp.issparse(X):
            X = X.copy()
            X.data = (X.data > self.binarize).astype(X.dtype)
            X.eliminate_zeros()
            return X
        return np.where(np.isnan(X), np.nan, X > self.binarize).astype(X.dtype)

    def _check_values(self, X):
        values = X.data if sp.issparse(X) else X
        if not sp.issparse(X):
            # One compiled pass where NumPy's two counts took 8-13% of a fit of 10
            # iterations at 1e5 x 100.
            if discrete.count_non_binary(X) == 0:
                return
        elif np.count_nonzero(values) == np.count_nonzero(values == 1):
            # Binary when every stored value is a 1 (NaN is neither).
            return
        bad = ~((values == 0) | (values == 1))
        if not sp.issparse(X):
            bad &= ~np.isnan(values)  # NaN is a missing value in dense rows
        if bad.any():
            raise ValueError(_first_bad_entry(X, bad, "0 or 1 (or NaN when missing)"))

    def _check_feature_prob_init(self, probabilities):
        if np.any(probabilities <= 0.0) or np.any(probabilities >= 1.0):
            raise ValueError("feature_prob_init must hold probabilities in (0, 1)")

    def _check_loaded_probabilities(self, log_prob):
        """Any probability in [0, 1] is valid (its log is checked <= 0)."""

    def _stats(self, nk, s, m):
        return discrete.BernoulliStats(nk, s, m)

    def _maximize_family(self, stats, alpha, previous):
        return discrete.bernoulli_maximize(
            stats, alpha, None if previous is None or previous[0] is None else previous
        )

    def _frozen(self, params):
        return FrozenDiscreteMixture.bernoulli(
            params.weights, params.log_prob, params.log_complement
        )

    def _log_prior(self, context, params):
        return discrete.bernoulli_log_prior(
            params.log_prob, params.log_complement, self.alpha
        )

    def _row_parameters(self, X):
        alpha = max(self.alpha, discrete.INIT_ALPHA)
        return (
            np.log((X + alpha) / (1.0 + 2.0 * alpha)),
            np.log((1.0 - X + alpha) / (1.0 + 2.0 * alpha)),
        )

    def _n_parameters(self):
        return discrete.bernoulli_n_parameters(*self.feature_log_prob_.shape)

    def impute(self, X):
        """A copy of X with each NaN replaced by P(x_j = 1 | the row's observed
        values) = sum_k p(k | x_O) p_kj.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Dense, in memory.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features), of X's float dtype
            X with each NaN replaced by a probability; the observed values are
            unchanged.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import BernoulliMixture
        >>> X = np.array([[1, 1, 0, 0]] * 5 + [[0, 0, 1, 1]] * 5)
        >>> model = BernoulliMixture(2, alpha=0.1, random_state=0).fit(X)
        >>> model.impute(np.array([[1.0, np.nan, 0.0, 0.0]])).round(2)
        array([[1.  , 0.98, 0.  , 0.  ]])
        """
        return self._impute(X, random_state=None)

    def _impute(self, X, random_state):
        """:meth:`impute`, or draws of x_j ~ Bernoulli(P(x_j = 1 | x_O)) with a
        RandomState."""
        if (
            sp.issparse(X)
            or _is_dask_array(X)
            or (
                not isinstance(X, np.ndarray)
                and as_source(X, one_pass=True) is not None
            )
        ):
            raise TypeError(
                "impute needs dense X in memory (a sparse matrix has no missing "
                f"entries), not {type(X).__name__}"
            )
        check_is_fitted(self)
        X = self._validate_rows(X, reset=False, fitting=False)
        imputed = np.array(X)
        rows = np.flatnonzero(np.isnan(X).any(axis=1))
        if len(rows):
            resp = ArraySource(X[rows]).score(
                self._fitted_model(), log_prob=False, resp=True
            )[1]
            values = resp @ np.exp(np.asarray(self.feature_log_prob_, np.float64))
            if random_state is not None:
                values = (random_state.random_sample(values.shape) < values) * 1.0
            holes = np.isnan(imputed[rows])
            imputed[rows] = np.where(holes, values, imputed[rows])
        return imputed

    def sample(self, n_samples=1):
        """Draw rows from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
            The number of rows to draw (``random_state`` seeds the draws).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), float64 of 0 and 1
            The rows, grouped by component.
        y : ndarray of shape (n_samples,), int64
            The component each row was drawn from.
        """
        rng, counts = self._components_of_samples(n_samples)
        probabilities = np.exp(np.asarray(self.feature_log_prob_, np.float64))
        parts = [
            (rng.random_sample((count, probabilities.shape[1])) < p).astype(np.float64)
            for p, count in zip(probabilities, counts)
        ]
        labels = np.repeat(np.arange(self.n_components, dtype=np.int64), counts)
        return np.vstack(parts), labels


@register_model
class MultinomialMixture(_DiscreteMixture):
    """Mixture of multinomial distributions (counts, e.g. bag of words) by EM.

    Given component k, a row's total count n is split among the features as one
    multinomial draw with probabilities theta_kj: the classic model of text
    clustering. EM runs in one fused, multi-threaded pass over X per iteration,
    O(nnz x K) on CSR rows, never densified; no n_samples x n_components array is
    allocated.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.
    alpha : float, default=1.0
        Additive smoothing, as in scikit-learn's MultinomialNB:
        theta_kj = (expected count_kj + alpha) / (expected total_k + alpha
        n_features), the MAP estimate under a symmetric Dirichlet(alpha + 1) prior
        on each component's theta; 0 is maximum likelihood.
    tol, max_iter, n_init, init_params, weights_init
        As in :class:`BernoulliMixture`.
    feature_prob_init : array-like of shape (n_components, n_features), default=None
        Initial theta: rows of positive probabilities summing to 1.
    random_state, warm_start, verbose, verbose_interval, on_degenerate, \
init_sample_size, learning_offset, learning_decay
        As in :class:`BernoulliMixture`.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    feature_log_prob_ : ndarray of shape (n_components, n_features)
        log theta_kj, as in scikit-learn's MultinomialNB.
    mean_count_ : float
        The mean total count of the training rows (weighted): the default
        ``n_trials`` of :meth:`sample`.
    converged_, n_iter_, lower_bound_, lower_bounds_, n_reseeds_, n_features_in_, \
feature_names_in_
        As in :class:`BernoulliMixture`.

    Notes
    -----
    :meth:`score_samples` is the log probability mass of each row, the
    multinomial coefficient log(n! / prod_j x_j!) included, so scores compare
    across models. X holds non-negative counts: a CSR matrix or a dense array
    (float32 and float64 read as they are, integers converted to float64); counts
    need not be integers (the coefficient then uses the gamma function).

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import MultinomialMixture
    >>> X = np.array([[5, 3, 0, 0]] * 5 + [[0, 0, 4, 6]] * 5)
    >>> model = MultinomialMixture(2, random_state=0).fit(X)
    >>> model.predict(X[[0, -1]]).tolist() in ([0, 1], [1, 0])
    True
    """

    def _check_values(self, X):
        values = X.data if sp.issparse(X) else X
        bad = values < 0
        if bad.any():
            # scikit-learn's words for it (check_non_negative), then the entry.
            raise ValueError(
                f"Negative values in data passed to {type(self).__name__}: "
                + _first_bad_entry(X, bad, "a non-negative count")
            )

    def _check_feature_prob_init(self, probabilities):
        if np.any(probabilities <= 0.0) or not np.allclose(
            probabilities.sum(axis=1), 1.0, atol=1e-8
        ):
            raise ValueError(
                "feature_prob_init must hold positive probabilities whose rows sum to 1"
            )

    def _check_loaded_probabilities(self, log_prob):
        tolerance = np.sqrt(np.finfo(self.feature_log_prob_.dtype).eps)
        totals = np.exp(log_prob).sum(axis=1)
        if not np.all(np.abs(totals - 1.0) <= tolerance):
            raise ValueError("each row of exp(feature_log_prob_) must sum to 1")

    def _stats(self, nk, s, m):
        return discrete.MultinomialStats(nk, s)

    def _maximize_family(self, stats, alpha, previous):
        log_prob = discrete.multinomial_maximize(
            stats, alpha, None if previous is None else previous[0]
        )
        return log_prob, None

    def _frozen(self, params):
        return FrozenDiscreteMixture.multinomial(params.weights, params.log_prob)

    def _begin_fit(self, source, online):
        context = super()._begin_fit(source, online)
        if not online:
            # The rows' multinomial coefficients log(n! / prod_j x_j!) change with no
            # parameter: summed once here (a pass of one component with theta = 1),
            # not in every E-step (about a sixth of a CSR pass of text).
            coefficients = FrozenDiscreteMixture.multinomial(
                np.ones(1), np.zeros((1, source.n_features))
            )
            context.constant_log_likelihood = source.accumulate(
                coefficients
            ).log_likelihood
        return context

    def _frozen_for_fit(self, context, params):
        model = self._frozen(params)
        if context.online:
            return model
        return dataclasses.replace(model, coefficient=False)

    def _log_prior(self, context, params):
        return discrete.multinomial_log_prior(params.log_prob, self.alpha)

    def _row_parameters(self, X):
        alpha = max(self.alpha, discrete.INIT_ALPHA)
        counts = X + alpha
        return np.log(counts / counts.sum(axis=1, keepdims=True)), None

    def _n_parameters(self):
        return discrete.multinomial_n_parameters(*self.feature_log_prob_.shape)

    def _set_fitted(self, params, dtype):
        super()._set_fitted(params, dtype)
        if params.mean_count is not None:
            self.mean_count_ = params.mean_count

    def sample(self, n_samples=1, n_trials=None):
        """Draw rows of counts from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
            The number of rows to draw (``random_state`` seeds the draws).
        n_trials : int or None, default=None
            The total count of each row; None: ``mean_count_`` rounded.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), float64 counts
            The rows, grouped by component.
        y : ndarray of shape (n_samples,), int64
            The component each row was drawn from.
        """
        rng, counts = self._components_of_samples(n_samples)
        if n_trials is None:
            n_trials = int(round(getattr(self, "mean_count_", 1.0)))
        if not isinstance(n_trials, Integral) or n_trials < 0:
            raise ValueError(
                f"n_trials must be a non-negative integer, got {n_trials!r}"
            )
        theta = np.exp(np.asarray(self.feature_log_prob_, np.float64))
        theta /= theta.sum(axis=1, keepdims=True)
        parts = [
            rng.multinomial(n_trials, probabilities, size=count).astype(np.float64)
            for probabilities, count in zip(theta, counts)
        ]
        labels = np.repeat(np.arange(self.n_components, dtype=np.int64), counts)
        return np.vstack(parts), labels


def _checked(value, shape, name):
    """An initial parameter as a float64 array of the expected shape, finite."""
    array = check_array(value, dtype=np.float64, ensure_2d=False)
    if array.shape != shape:
        raise ValueError(f"{name} should have the shape {shape}, got {array.shape}")
    return np.array(array, dtype=np.float64)


def _first_bad_entry(X, bad, expected):
    """'X[i, j] = v is not <expected>' for the first entry ``bad`` marks."""
    if sp.issparse(X):
        first = int(np.argmax(bad))
        row = int(np.searchsorted(X.indptr, first, side="right") - 1)
        column, value = int(X.indices[first]), X.data[first]
        count = int(np.count_nonzero(bad))
    else:
        row, column = np.unravel_index(int(np.argmax(bad)), bad.shape)
        value, count = X[row, column], int(np.count_nonzero(bad))
    return (
        f"X[{row}, {column}] = {float(value)!r} is not {expected} "
        f"({count} such entr{'y' if count == 1 else 'ies'})"
    )
