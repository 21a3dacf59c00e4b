"""The estimator shell every EM model shares: scikit-learn's API over the engine.

:class:`EMEstimator` owns what a user calls (``fit``, ``fit_predict``,
``partial_fit``, ``score_samples``, ``score``, ``predict``, ``predict_proba``,
``bic``, ``aic``, ``save``) and what every fit does (validation, data sources, the EM
driver, warm starts, online EM). A model fills a handful of private hooks with its
maths; the shell never looks inside its parameters.
"""

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from .driver import run_em
from .patterns import MissingValueSource, rows_source
from .persistence import save_model
from .sources import ArraySource
from .streams import ChunkSource, Reading, _is_dask_array, as_source
from .threads import limit_blas_threads

# Row weights may sum to at most this: the weighted log-likelihood (|log p| of a row
# can reach thousands) must stay within float64.
MAX_TOTAL_WEIGHT = 1e300


class FitContext:
    """What one fit (or one ``partial_fit`` batch) needs beyond the parameters.

    Models subclass it to keep their settings for the fit (a resolved prior, the
    data's scale) and may override the conversions between the units EM runs in
    and the user's (identities here).

    Parameters
    ----------
    source : data source
        The rows EM runs on.
    online : bool
        Whether this is a ``partial_fit`` batch.

    Attributes
    ----------
    weight_seen : float
        Online only: the total weight of the batches so far, this one included (the
        running statistics are per unit weight; a prior weighs against this).
    constant_log_likelihood : float
        A term of the rows' log-likelihood that no parameter changes, which the
        model computed once for the fit and leaves out of every E-step's passes
        (EM adds it to their lower bounds); 0 by default.
    """

    def __init__(self, source, *, online=False):
        self.source = source
        self.online = online
        self.weight_seen = source.total_weight if online else None
        self.constant_log_likelihood = 0.0

    def em_params(self, params):
        """Parameters in the user's units -> in EM's (for warm starts)."""
        return params

    def user_params(self, params):
        """Parameters in EM's units -> in the user's."""
        return params

    def lower_bound_change(self):
        """EM's lower bound minus the user's (0 where the units are the same)."""
        return 0.0


class EMEstimator(DensityMixin, BaseEstimator):
    """Base class of fastem's EM estimators.

    A subclass implements the hooks below and sets ``_fitted_attribute``, the name
    of an attribute ``fit`` sets whose dtype is that of the fitted model.

    - ``_begin_fit(source, online)``: a :class:`FitContext` (checks that need the
      data, the model's settings for this fit);
    - ``_initialize(context, random_state)``: initial parameters;
    - ``_frozen(params)``: a :class:`~fastem._engine.model.FrozenModel` of them
      (``_frozen_for_fit(context, params)`` the one EM's passes run, by default the
      same);
    - ``_maximize(context, stats, params)``: the M-step;
    - ``_log_prior(context, params)``: log p(params) (0 without a prior);
    - ``_set_fitted(params, dtype)`` / ``_fitted_params()``: parameters to fitted
      attributes and back;
    - ``_n_parameters()``: free parameters, for BIC and AIC;
    - ``_end_fit(context, result)`` (optional): extra attributes and warnings.

    Parameters of the EM loop are read from ``n_init``, ``max_iter``, ``tol``,
    ``random_state``, ``warm_start``, ``verbose``, ``verbose_interval``,
    ``learning_offset`` and ``learning_decay`` where the subclass has them.
    """

    _fitted_attribute = None

    # --- hooks with defaults ------------------------------------------------

    def _missing_values(self):
        """What NaN in X is: an error (False), or a missing value handled one
        missingness pattern at a time by the model's marginals ('patterns', where
        the scikit-learn tags allow NaN) or by its kernel itself ('native')."""
        return "patterns" if self.__sklearn_tags__().input_tags.allow_nan else False

    def _validate_rows(self, X, *, reset, fitting):
        """In-memory X validated as the model reads it (float32 / float64 arrays
        here; NaN left for ``check_missing`` where the model accepts it)."""
        return validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            reset=reset,
            ensure_min_samples=2 if fitting else 1,
            # check_missing finds NaN and rejects infinities in one pass.
            ensure_all_finite=not self._missing_values(),
        )

    def _in_memory_source(self, X, sample_weight, *, fitting):
        """The source over validated in-memory X: per missingness pattern if X has
        NaN and the model's marginals handle it."""
        if self._missing_values() == "patterns":
            return rows_source(X, sample_weight, fitting)
        return ArraySource(X, sample_weight)

    def _as_source(self, X, **options):
        """:func:`as_source` with the way this model reads rows."""
        reading = Reading(
            missing_values=self._missing_values(),
            sparse=self.__sklearn_tags__().input_tags.sparse,
        )
        return as_source(X, reading=reading, **options)

    def _log_prior(self, context, params):
        return 0.0

    def _frozen_for_fit(self, context, params):
        return self._frozen(params)

    def _end_fit(self, context, result):
        """Set the fitted attributes from the driver's best run."""
        self._set_fitted(context.user_params(result.params), context.source.dtype)
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        change = context.lower_bound_change()
        self.lower_bound_ = result.lower_bound - change
        self.lower_bounds_ = [value - change for value in result.lower_bounds]

    def _is_fit_failure(self, error):
        """Whether ``error``, a ValueError from fit, is a way this model's fit can
        fail on data (which :func:`fastem.select` records as a failed model)."""
        return False

    def _fit_failure_message(self):
        """What to tell a user whose fits failed so (see ``_is_fit_failure``)."""
        return ""

    def _is_fitted(self):
        return hasattr(self, self._fitted_attribute)

    def _fitted_dtype(self):
        return np.asarray(getattr(self, self._fitted_attribute)).dtype

    # --- fitting ------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Estimate the parameters with EM, keeping the best of ``n_init`` runs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows, in memory or read in chunks (memory maps, HDF5 / Zarr arrays,
            chunk callables, Dask arrays: see the class's Notes).
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; an integer weight is the same as repeating the
            row, a zero weight the same as leaving it out. None: unit weights.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        ValueError
            For invalid parameters or data (fewer rows than components, infinite
            values, NaN where the model takes none, a row or column entirely NaN),
            and when a component collapses and ``on_degenerate='raise'``: the
            message says which, and what to change.
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
            The rows, in memory or read in chunks, as :meth:`fit` takes them.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights (see :meth:`fit`).

        Returns
        -------
        labels : ndarray of shape (n_samples,), int64
            A dask array for a dask X.
        """
        source = self._fit(X, sample_weight)
        # A final E-step with the stored attributes, so fit_predict == fit().predict.
        return source.score(self._fitted_model(), log_prob=False, labels=True)[2]

    def _fit(self, X, sample_weight):
        """Run EM on X and set the fitted attributes; returns X's data source."""
        source = self._training_source(X, sample_weight)
        self._fit_source(source)
        return source

    def _em_settings(self):
        """The EM loop's settings for :func:`run_em`, read from the parameters: a
        model whose EM differs (a fixed number of runs, another stopping rule)
        returns its own."""
        return {
            "n_init": self.n_init,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "verbose": self.verbose,
            "verbose_interval": self.verbose_interval,
            "warm": self.warm_start,
        }

    def _fit_source(self, source):
        """Run EM on the rows of ``source`` and set the fitted attributes."""
        self.__dict__.pop("_online_stats", None)
        self.__dict__.pop("_online_weight", None)
        context = self._begin_fit(source, online=False)
        settings = self._em_settings()
        warm = None
        if settings.pop("warm") and hasattr(self, "converged_"):
            warm = (
                context.em_params(self._fitted_params()),
                self.lower_bound_ + context.lower_bound_change(),
            )
        result = run_em(
            lambda random_state: self._initialize(context, random_state),
            lambda params: self._em_step(context, params),
            random_state=check_random_state(self.random_state),
            warm=warm,
            **settings,
        )
        self._end_fit(context, result)

    def _em_step(self, context, params):
        """E-step on ``params`` fused with the M-step's sums, then the M-step.

        The lower bound is that of ``params``: the mean log-likelihood, plus the log
        prior density over the total weight when there is a prior.
        """
        stats = context.source.accumulate(self._frozen_for_fit(context, params))
        log_likelihood = stats.log_likelihood + context.constant_log_likelihood
        log_posterior = log_likelihood + self._log_prior(context, params)
        lower_bound = log_posterior / context.source.total_weight
        return self._maximize(context, stats, params), lower_bound

    def _training_source(self, X, sample_weight):
        """X's data source, with ``n_samples``, ``n_features`` and ``dtype``;
        ``n_features_in_`` (and ``feature_names_in_``) set from X."""
        source = self._as_source(X)
        if source is None:
            X = self._validate_rows(X, reset=True, fitting=True)
            sample_weight = checked_sample_weight(sample_weight, X)
            return self._in_memory_source(X, sample_weight, fitting=True)
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
        return source

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
            or a memory map / HDF5 / Zarr array: each chunk is one batch. Where the
            model accepts NaN in ``fit``, batches may hold it too.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The estimator, updated.
        """
        if _is_dask_array(X):
            raise TypeError(
                "partial_fit takes in-memory batches or chunks; fit a dask array "
                "with fit"
            )
        self._check_online()
        n_features = getattr(self, "n_features_in_", None)
        chunks = self._as_source(X, n_features=n_features, one_pass=True)
        # As in run_em: BLAS threads spinning beside tiny LAPACK calls cost ~20 ms
        # per batch on a loaded machine.
        with limit_blas_threads():
            if chunks is None:
                self._partial_fit_batch(X)
            else:
                for _, chunk in chunks.validated_chunks():
                    if chunk.n_samples:
                        self._partial_fit_batch(chunk.X)
        return self

    def _check_online(self):
        """Raise if the settings rule out online EM (nothing to check here)."""

    def _partial_fit_batch(self, X):
        first = not self._is_fitted()
        X = self._validate_rows(X, reset=first, fitting=False)
        n_required = max(2, getattr(self, "n_components", 1))
        if first and X.shape[0] < n_required:
            raise ValueError(
                "The first batch of partial_fit initialises the model: expected "
                f"n_samples >= max(2, n_components) = {n_required}, "
                f"got {X.shape[0]}"
            )
        context = self._begin_fit(
            self._in_memory_source(X, None, fitting=first), online=True
        )
        if first:
            params = self._initialize(context, check_random_state(self.random_state))
        else:
            params = self._fitted_params()
        source = context.source
        batch = source.accumulate(self._frozen(params)) / source.total_weight
        running = getattr(self, "_online_stats", None)
        if running is None:
            running = batch
            self.n_batch_iter_ = 0
        else:
            step = (self.learning_offset + self.n_batch_iter_) ** -self.learning_decay
            running = running.blend(batch, step)
            context.weight_seen += self._online_weight
        self._set_fitted(
            self._maximize(context, running, params),
            X.dtype if first else self._fitted_dtype(),
        )
        self._online_stats = running
        self._online_weight = context.weight_seen
        self.n_batch_iter_ += 1
        self.lower_bound_ = batch.log_likelihood

    # --- using a fitted model -----------------------------------------------

    def _scoring_source(self, X):
        """The data source of X to score with the fitted model."""
        check_is_fitted(self)
        source = self._as_source(X, n_features=self.n_features_in_, one_pass=True)
        if source is not None:
            return source
        X = self._validate_rows(X, reset=False, fitting=False)
        return self._in_memory_source(X, None, fitting=False)

    def _score_rows(self, X, **wanted):
        """X's data source and its ``score`` outputs (``wanted`` selects them)."""
        source = self._scoring_source(X)
        return source, source.score(self._fitted_model(), **wanted)

    def _mean_log_prob(self, X, sample_weight=None):
        """(Weighted) mean log-likelihood of the rows of X and their number (out of
        core, summed chunk by chunk rather than held per row)."""
        source = self._scoring_source(X)
        if not isinstance(source, ArraySource) and sample_weight is not None:
            raise ValueError(
                "sample_weight is supported for in-memory X only, not for "
                f"{type(X).__name__} data read in chunks"
            )
        model = self._fitted_model()
        if isinstance(source, ChunkSource):
            total = n_samples = 0
            for log_prob, _, _ in source.score_chunks(model):
                total += np.sum(log_prob)
                n_samples += log_prob.shape[0]
            return float(total / n_samples), n_samples
        log_prob = source.score(model)[0]
        if sample_weight is None:
            return float(np.mean(log_prob)), log_prob.shape[0]
        sample_weight = checked_sample_weight(sample_weight, source.X)
        return float(np.average(log_prob, weights=sample_weight)), log_prob.shape[0]

    def _result_dtype(self, source):
        return np.result_type(source.dtype, self._fitted_dtype())

    def score_samples(self, X):
        """Log-likelihood of each row under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Where the model accepts NaN, a row's log-likelihood is that of its
            observed values.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            log p(x_n) of each row (a dask array for a dask X).
        """
        source, (log_prob, _, _) = self._score_rows(X)
        return log_prob.astype(self._result_dtype(source), copy=False)

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood of the rows of X (weighted by ``sample_weight``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows, in memory or read in chunks, as :meth:`fit` takes them.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; None: unit weights.

        Returns
        -------
        log_likelihood : float
            sum_n w_n log p(x_n) / sum_n w_n.
        """
        return self._mean_log_prob(X, sample_weight)[0]

    def predict(self, X):
        """Most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows, in memory or read in chunks, as :meth:`fit` takes them.

        Returns
        -------
        labels : ndarray of shape (n_samples,), int64
            The index of each row's most probable component (a dask array for a
            dask X).
        """
        return self._score_rows(X, log_prob=False, labels=True)[1][2]

    def predict_proba(self, X):
        """Posterior probability of each component for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows, in memory or read in chunks, as :meth:`fit` takes them.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            p(k | x_n): each row sums to 1 (a dask array for a dask X).
        """
        source, (_, resp, _) = self._score_rows(X, log_prob=False, resp=True)
        return resp.astype(self._result_dtype(source), copy=False)

    def _impute(self, X, random_state):
        """A copy of in-memory X with each NaN replaced by its expectation under the
        model (``random_state`` None) or a draw from its conditional distribution."""
        # Checked without building a DaskSource, which would read (persist) the
        # blocks. Memory maps are arrays here: the answer is as large as X anyway.
        if _is_dask_array(X) or (
            not isinstance(X, np.ndarray) and as_source(X, one_pass=True) is not None
        ):
            raise TypeError(
                f"impute needs X in memory, not {type(X).__name__} data read in chunks"
            )
        check_is_fitted(self)
        X = self._validate_rows(X, reset=False, fitting=False)
        source = self._in_memory_source(X, None, fitting=False)
        if isinstance(source, MissingValueSource):
            return source.impute(self._fitted_model(), random_state=random_state)
        return np.array(source.X)

    def bic(self, X):
        """Bayesian information criterion on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows, in memory or read in chunks, as :meth:`fit` takes them.

        Returns
        -------
        bic : float
            -2 log L + p log n, with log L the log-likelihood of X's n rows and p
            the model's number of free parameters.
        """
        mean_log_prob, n = self._mean_log_prob(X)
        return -2 * mean_log_prob * n + self._n_parameters() * np.log(n)

    def aic(self, X):
        """Akaike information criterion on X (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows, in memory or read in chunks, as :meth:`fit` takes them.

        Returns
        -------
        aic : float
            -2 log L + 2 p, with log L the log-likelihood of X and p the model's
            number of free parameters.
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


def checked_sample_weight(sample_weight, X):
    """Validated float64 weights, or None for unit weights.

    Raises
    ------
    ValueError
        If the weights are negative, NaN, infinite, all zero or not one per row,
        or sum beyond ``MAX_TOTAL_WEIGHT``.
    """
    if sample_weight is None:
        return None
    sample_weight = _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True
    )
    total = float(np.sum(sample_weight))
    if not total <= MAX_TOTAL_WEIGHT:
        raise ValueError(
            f"sample_weight sums to {total:.3g}: weighted sums of log-likelihoods "
            "would overflow float64. Divide the weights by a constant (without a "
            "prior the fit does not depend on their scale)."
        )
    return sample_weight
