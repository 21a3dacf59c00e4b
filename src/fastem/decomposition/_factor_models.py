"""ProbabilisticPCA and FactorAnalysis: low-rank Gaussian models fitted by EM on the
observed entries of each row, dense with NaN or sparse, for dimension reduction,
imputation and recommendation."""

from collections import namedtuple
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._engine.estimator import EMEstimator, FitContext
from .._engine.persistence import register_model
from .._engine.streams import _is_dask_array, as_source
from .._engine.threads import dense_row_equivalents, effective_n_threads
from .._latent import factors
from .._latent.factors import FrozenLowRank

# Parameters during a fit, float64: W (d, q), mu (d,), psi (d,) (sigma^2 in every
# entry for probabilistic PCA).
_Params = namedtuple("_Params", "loadings mean noise_variance")

# SQUAREM's longest step grows (and shrinks) by this factor (Varadhan & Roland 2008,
# the R package's default ``mstep``).
STEP_FACTOR = 4.0

# Rows whose scores a recommendation holds at once (rows x n_features doubles).
RECOMMEND_ROWS = 1024

_SPARSE_NOTE = (
    "X is dense with NaN as missing entries, or a scipy.sparse matrix whose stored "
    "entries are the observed values (an explicit stored 0 is an observed 0) and "
    "whose other entries are missing"
)


class _FactorFit(FitContext):
    """One fit of a factor model: its number of factors, the least noise variance
    (set by the initialisation), its passes over the data and SQUAREM's longest
    step."""

    def __init__(self, source, n_components):
        super().__init__(source)
        self.n_components = n_components
        self.floor = 0.0
        self.n_passes = 0
        self.step_max = 1.0


class _FactorModel(ClassNamePrefixFeaturesOutMixin, TransformerMixin, EMEstimator):
    """What ProbabilisticPCA and FactorAnalysis share; see their docstrings."""

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "alpha": [Interval(Real, 0.0, None, closed="left")],
        "acceleration": [StrOptions({"squarem"}), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "init_sample_size": [Interval(Integral, 1, None, closed="left")],
    }

    _fitted_attribute = "components_"
    _isotropic = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = True
        return tags

    # --- data -----------------------------------------------------------------

    def _missing_values(self):
        # The kernel reads NaN itself: a row's missing entries drop out of its
        # E-step and of the statistics.
        return "native"

    def _validate_rows(self, X, *, reset, fitting):
        """X as the kernel reads it: a float32 / float64 array (NaN missing, no
        infinity) or a canonical CSR matrix (other sparse formats converted)."""
        X = validate_data(
            self,
            X,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            reset=reset,
            ensure_min_samples=2 if fitting else 1,
            ensure_all_finite="allow-nan",
        )
        if sp.issparse(X):
            if not X.has_canonical_format:
                X = X.copy()  # never the caller's matrix
                X.sum_duplicates()
            if not np.all(np.isfinite(X.data)):
                raise ValueError(
                    "X stores NaN or infinity: in a sparse X the stored entries are "
                    "the observed values, the others are missing"
                )
        return X

    def _resolved_components(self, n_features):
        """The number of factors for ``n_features`` features, or ValueError."""
        q = self.n_components
        if q is None:
            q = n_features - 1
        if q >= n_features or q < 1:
            raise ValueError(
                f"n_components={q} must be less than n_features={n_features}: the "
                "noise is what the factors leave of each feature"
            )
        return q

    # --- fitting: the engine's hooks -----------------------------------------

    def _begin_fit(self, source, online):
        return _FactorFit(source, self._resolved_components(source.n_features))

    def _em_settings(self, context):
        # One start (the SVD's), no warm start: the model has neither parameter.
        return {
            "n_init": 1,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "verbose": self.verbose,
            "verbose_interval": 1,
            "warm": False,
        }

    def _initialize(self, context, random_state):
        sample = context.source.sample(self.init_sample_size, random_state)
        loadings, mean, noise, scale = factors.initial_parameters(
            sample.X,
            sample.sample_weight,
            context.n_components,
            isotropic=self._isotropic,
            random_state=random_state,
            **self._svd_options(),
        )
        context.floor = factors.NOISE_FLOOR * scale
        noise = self._initial_noise(noise, context.source.n_features)
        return _Params(loadings, mean, np.maximum(noise, context.floor))

    def _svd_options(self):
        return {}

    def _initial_noise(self, noise, n_features):
        return noise

    def _frozen(self, params):
        return FrozenLowRank.of(*params)

    def _maximize(self, context, stats, params):
        return _Params(
            *factors.maximize(stats, params, self.alpha, self._isotropic, context.floor)
        )

    def _log_prior(self, context, params):
        return factors.log_prior(params.loadings, self.alpha)

    def _em_step(self, context, params):
        """One EM step, or with ``acceleration='squarem'`` one SQUAREM cycle: two EM
        steps, a step along their extrapolation and one EM step from there if it
        does not lower the lower bound (else from the second step). The lower bound
        returned is that of the point whose M-step gave the parameters returned, so
        it never falls from cycle to cycle."""
        if self.acceleration is None:
            return self._plain_step(context, params)
        first, start_bound = self._plain_step(context, params)
        second, first_bound = self._plain_step(context, first)
        r = _difference(first, params)
        v = _difference(second, first) - r
        squared_r, squared_v = float(r @ r), float(v @ v)
        step = 1.0
        if squared_v > 0.0 and np.isfinite(squared_v):
            step = min(max(np.sqrt(squared_r / squared_v), 1.0), context.step_max)
        if step == context.step_max:
            context.step_max *= STEP_FACTOR
        if step > 1.0:
            extrapolated = _moved(params, 2.0 * step * r + step * step * v)
            try:
                landed, bound = self._plain_step(context, extrapolated)
            except ValueError:  # parameters out of scale: a step too long
                bound = -np.inf
            if bound >= first_bound:
                return landed, bound
            context.step_max = max(1.0, context.step_max / STEP_FACTOR)
        return self._plain_step(context, second)

    def _plain_step(self, context, params):
        context.n_passes += 1
        return super()._em_step(context, params)

    def _end_fit(self, context, result):
        super()._end_fit(context, result)
        self.n_passes_ = context.n_passes

    def _set_fitted(self, params, dtype):
        self.components_ = np.ascontiguousarray(params.loadings.T, dtype=dtype)
        self.mean_ = params.mean.astype(dtype)
        if self._isotropic:
            self.noise_variance_ = dtype.type(params.noise_variance[0])
        else:
            self.noise_variance_ = params.noise_variance.astype(dtype)

    def _fitted_params(self):
        d = self.components_.shape[1]
        return _Params(
            np.array(self.components_.T, dtype=np.float64),
            np.array(self.mean_, dtype=np.float64),
            np.broadcast_to(np.asarray(self.noise_variance_, np.float64), (d,)).copy(),
        )

    def _fitted_model(self):
        check_is_fitted(self)
        return self._frozen(self._fitted_params())

    def _n_parameters(self):
        q, d = self.components_.shape
        return factors.n_parameters(d, q, self._isotropic)

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _check_loaded(self):
        """Check the parameters and fitted attributes of a model read from a file
        (see :func:`fastem.load`)."""
        self._validate_params()
        fitted = ("components_", "mean_", "noise_variance_", "n_features_in_")
        present = [key for key in fitted if key in vars(self)]
        if not present:
            return
        if len(present) < len(fitted):
            missing = sorted(set(fitted) - set(present))
            raise ValueError(
                f"a fitted model needs all its parameters: {missing} missing"
            )
        d = self.n_features_in_
        if not (isinstance(d, Integral) and not isinstance(d, bool) and d >= 2):
            raise ValueError(f"n_features_in_ must be an int >= 2, not {d!r}")
        components = self.components_
        if not (
            isinstance(components, np.ndarray)
            and components.dtype in (np.float32, np.float64)
            and components.ndim == 2
            and components.shape[1] == d
            and 1 <= components.shape[0] < d
        ):
            raise ValueError(
                f"components_ must be a float32 or float64 array of shape (q, {d}), "
                f"1 <= q < {d}"
            )
        if self.n_components is not None and components.shape[0] != self.n_components:
            raise ValueError("components_ does not have n_components rows")
        mean = self.mean_
        if not (
            isinstance(mean, np.ndarray)
            and mean.dtype == components.dtype
            and mean.shape == (d,)
        ):
            raise ValueError(f"mean_ must be an array of shape ({d},) like components_")
        noise = np.asarray(self.noise_variance_)
        shape = () if self._isotropic else (d,)
        if noise.shape != shape or noise.dtype != components.dtype:
            raise ValueError(
                f"noise_variance_ must be of shape {shape} and components_'s dtype"
            )
        if not (np.all(np.isfinite(components)) and np.all(np.isfinite(mean))):
            raise ValueError("components_ and mean_ must be finite")
        if not np.all((noise > 0) & np.isfinite(noise)):
            raise ValueError("noise_variance_ must be positive and finite")

    # --- using a fitted model -------------------------------------------------

    def transform(self, X):
        """Posterior means of the factors given each row's observed entries.

        E[z | x_O] = M^-1 W_O^T Psi_O^-1 (x_O - mu_O), M = I + W_O^T Psi_O^-1 W_O;
        a row observing nothing gets 0, the prior's mean.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Dense with NaN as missing entries, or sparse whose stored entries are
            the observed values (the others missing); or data read in chunks.

        Returns
        -------
        factors : ndarray of shape (n_samples, n_components)
            E[z | x_O] of each row (a dask array for a dask X).
        """
        source, (_, means, _) = self._score_rows(X, log_prob=False, resp=True)
        return means.astype(self._result_dtype(source), copy=False)

    def get_covariance(self):
        """The model's covariance of the features, W W^T + Psi.

        Returns
        -------
        cov : ndarray of shape (n_features, n_features)
            The covariance of x under the fitted model, of ``components_``'s dtype.
        """
        check_is_fitted(self)
        components = np.asarray(self.components_, np.float64)
        cov = components.T @ components
        cov.flat[:: cov.shape[0] + 1] += self.noise_variance_
        return cov.astype(self.components_.dtype)

    def get_precision(self):
        """The inverse of :meth:`get_covariance`, by Woodbury's identity:
        Psi^-1 - Psi^-1 W M^-1 W^T Psi^-1, M = I + W^T Psi^-1 W.

        Returns
        -------
        precision : ndarray of shape (n_features, n_features)
            The inverse covariance of x under the fitted model, of
            ``components_``'s dtype.
        """
        check_is_fitted(self)
        params = self._fitted_params()
        inverse_noise = 1.0 / params.noise_variance
        scaled = params.loadings * inverse_noise[:, np.newaxis]
        inner = np.eye(params.loadings.shape[1]) + params.loadings.T @ scaled
        precision = -scaled @ np.linalg.solve(inner, scaled.T)
        precision.flat[:: precision.shape[0] + 1] += inverse_noise
        return precision.astype(self.components_.dtype)

    def _in_memory_rows(self, X, what):
        """Validated in-memory X for ``what`` (a method's name), or TypeError for
        data read in chunks."""
        if _is_dask_array(X) or (
            not isinstance(X, np.ndarray)
            and not sp.issparse(X)
            and as_source(X, one_pass=True) is not None
        ):
            raise TypeError(
                f"{what} needs X in memory, not {type(X).__name__} data read in chunks"
            )
        check_is_fitted(self)
        return self._validate_rows(X, reset=False, fitting=False)

    def _factors(self, X):
        """E[z | x_O] of each row of validated in-memory X, float64 (n, q)."""
        model = self._fitted_model()
        _, means, _ = model.score_rows(
            X,
            model.threads(effective_n_threads(), dense_row_equivalents(X)),
            log_prob=False,
            resp=True,
            labels=False,
        )
        return means

    def impute(self, X):
        """A copy of X with each NaN replaced by E[x_missing | x_observed]
        = W_M E[z | x_O] + mu_M (a row observing nothing gets ``mean_``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Dense, in memory (a sparse matrix has no NaN to fill: see
            :meth:`predict_entries` for its absent entries).

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features), of X's float dtype
            X with each NaN replaced by its expectation; the observed values
            unchanged.
        """
        return self._imputed(X, random_state=None)

    def _imputed(self, X, random_state):
        """:meth:`impute`, or with a RandomState draws of the missing entries from
        p(x_M | x_O): z from its posterior, then x_M = W_M z + mu_M + e_M."""
        if sp.issparse(X):
            raise TypeError(
                "impute needs dense X with NaN as missing values; in a sparse X the "
                "absent entries are missing: predict them with predict_entries"
            )
        X = self._in_memory_rows(X, "impute")
        imputed = np.array(X)
        rows = np.flatnonzero(np.isnan(X).any(axis=1))
        if not len(rows):
            return imputed
        params = self._fitted_params()
        for start in range(0, len(rows), factors.POSTERIOR_CHUNK_ROWS):
            chunk = rows[start : start + factors.POSTERIOR_CHUNK_ROWS]
            if random_state is None:
                latent = self._factors(X[chunk])
            else:
                posterior = factors.row_posteriors(X[chunk], *params)
                latent = factors.draw_factors(posterior, random_state)
            values = latent @ params.loadings.T + params.mean
            if random_state is not None:
                values += random_state.standard_normal(values.shape) * np.sqrt(
                    params.noise_variance
                )
            holes = np.isnan(imputed[chunk])
            imputed[chunk] = np.where(holes, values, imputed[chunk])
        return imputed

    def predict_entries(self, X, rows, cols):
        """E[X[r, c] | the observed entries of row r of X] for each pair (r, c): the
        call a recommender makes for the entries a user has not rated.

        Each row's factors are inferred once from its observed entries; an
        observed entry is predicted like any other (not returned as is).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Dense with NaN as missing entries, or sparse whose stored entries are
            the observed values (the others missing), in memory.
        rows, cols : array-like of int of shape (n_pairs,)
            The entries, 0 <= rows < n_samples and 0 <= cols < n_features.

        Returns
        -------
        values : ndarray of shape (n_pairs,), float64
            The expected entry of each pair.
        """
        X = self._in_memory_rows(X, "predict_entries")
        rows = _indices(rows, X.shape[0], "rows", "n_samples")
        cols = _indices(cols, X.shape[1], "cols", "n_features")
        if rows.shape != cols.shape:
            raise ValueError(
                f"rows and cols must have the same length, not {rows.shape[0]} and "
                f"{cols.shape[0]}"
            )
        params = self._fitted_params()
        unique, inverse = np.unique(rows, return_inverse=True)
        latent = self._factors(X[unique])
        loadings = params.loadings[cols]
        return np.einsum("ij,ij->i", latent[inverse], loadings) + params.mean[cols]

    def recommend(
        self,
        X,
        rows=None,
        n=10,
        exclude_observed=True,
        *,
        columns=None,
        return_scores=False,
    ):
        """The n columns with the highest expected entries for each of ``rows``, or
        the n rows for each of ``columns``.

        A row's entries are expected as in :meth:`predict_entries`. Ranking rows for
        a column serves the layout where rows are items and columns users: fitted
        on the transposed ratings (one row per movie, users as features), the
        movies for user u are the top rows of column u.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Dense with NaN as missing entries, or sparse whose stored entries are
            the observed values (the others missing), in memory.
        rows : array-like of int of shape (n_rows,), or None
            The rows to recommend columns for (0 <= rows < n_samples).
        n : int, default=10
            How many to recommend, at most n_features (n_samples for ``columns``).
        exclude_observed : bool, default=True
            Leave out the entries X observes (the movies a user has rated).
        columns : array-like of int of shape (n_columns,), or None
            Instead of ``rows``: the columns to recommend rows for.
        return_scores : bool, default=False
            Also return the expected entries of the recommendations.

        Returns
        -------
        indices : ndarray of shape (n_rows or n_columns, n), intp
            Best first (ties: the lower index first); -1 where fewer than n
            entries are left to recommend.
        scores : ndarray of shape (n_rows or n_columns, n), float64
            With ``return_scores``: the expected entries (NaN where -1).
        """
        if (rows is None) == (columns is None):
            raise ValueError("give either rows or columns to recommend for")
        if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
            raise ValueError(f"n must be a positive int, not {n!r}")
        X = self._in_memory_rows(X, "recommend")
        params = self._fitted_params()
        if rows is not None:
            rows = _indices(rows, X.shape[0], "rows", "n_samples")
            parts = [
                self._top_columns(
                    X[rows[start : start + RECOMMEND_ROWS]], params, n, exclude_observed
                )
                for start in range(0, len(rows), RECOMMEND_ROWS)
            ]
        else:
            columns = _indices(columns, X.shape[1], "columns", "n_features")
            latent = self._factors(X)
            parts = [
                self._top_rows(
                    X, latent, params, columns[start : start + 64], n, exclude_observed
                )
                for start in range(0, len(columns), 64)
            ]
        indices = np.concatenate([part[0] for part in parts]) if parts else None
        scores = np.concatenate([part[1] for part in parts]) if parts else None
        if indices is None:
            width = min(n, X.shape[1] if rows is not None else X.shape[0])
            indices = np.empty((0, width), dtype=np.intp)
            scores = np.empty((0, width))
        return (indices, scores) if return_scores else indices

    def _top_columns(self, X, params, n, exclude_observed):
        latent = self._factors(X)
        scores = latent @ params.loadings.T + params.mean
        if exclude_observed:
            scores[_observed_mask(X)] = -np.inf
        return _best(scores, n)

    def _top_rows(self, X, latent, params, columns, n, exclude_observed):
        scores = (latent @ params.loadings[columns].T + params.mean[columns]).T
        if exclude_observed:
            scores[_observed_mask(X[:, columns]).T] = -np.inf
        return _best(scores, n)


def _indices(values, size, name, bound):
    """``values`` as a 1-D intp array in [0, size), or a ValueError naming them."""
    array = np.asarray(values)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim != 1 or not (
        array.dtype.kind in "iu" or (array.size == 0 and array.dtype.kind == "f")
    ):
        raise ValueError(f"{name} must be a 1-D array of integers")
    array = array.astype(np.intp)
    bad = (array < 0) | (array >= size)
    if bad.any():
        raise ValueError(
            f"{name} must be in [0, {bound}={size}): got {int(array[bad][0])} "
            f"({int(np.count_nonzero(bad))} out of range)"
        )
    return array


def _observed_mask(X):
    """Where X observes its entries: ~NaN (dense) or its stored entries (sparse)."""
    if sp.issparse(X):
        mask = np.zeros(X.shape, dtype=bool)
        coo = sp.coo_array(X)
        mask[coo.row, coo.col] = True
        return mask
    return ~np.isnan(X)


def _best(scores, n):
    """The n highest scores of each row, best first (ties: lower index first), and
    their indices; -1 and NaN past the finite ones."""
    n_rows, width = scores.shape
    n = min(n, width)
    # A stable sort of the negated scores puts the lower index first among ties.
    order = np.argsort(-scores, axis=1, kind="stable")[:, :n]
    best = np.take_along_axis(scores, order, axis=1)
    missing = ~np.isfinite(best)
    order[missing] = -1
    best[missing] = np.nan
    return order.astype(np.intp), best


def _difference(a, b):
    """a - b of two parameter sets, flat, with the noise on a log scale."""
    return np.concatenate(
        [
            (a.loadings - b.loadings).ravel(),
            a.mean - b.mean,
            np.log(a.noise_variance) - np.log(b.noise_variance),
        ]
    )


def _moved(params, step):
    """``params`` moved by the flat ``step`` (see :func:`_difference`)."""
    d, q = params.loadings.shape
    loadings = params.loadings + step[: d * q].reshape(d, q)
    mean = params.mean + step[d * q : d * q + d]
    noise = params.noise_variance * np.exp(step[d * q + d :])
    return _Params(loadings, mean, noise)


_PARAMETERS_DOC = """n_components : int, default={default}
        q, the number of factors, 1 <= q < n_features.
    tol : float, default={tol}
        Convergence threshold on the change of {tol_of} (with SQUAREM, from one
        cycle to the next).
    max_iter : int, default=1000
        The most EM iterations (SQUAREM cycles).
    alpha : float, default=0.0
        Precision of a Gaussian prior on every loading, W_jk ~ N(0, 1 / alpha):
        EM finds the maximum a posteriori fit (a ridge on W; none on the mean),
        what sparse ratings need to generalise. 0 is maximum likelihood.
    acceleration : {{'squarem', None}}, default='squarem'
        'squarem': each iteration is a SQUAREM cycle (Varadhan & Roland 2008): two
        EM steps, an extrapolation along them whose step is kept only if the lower
        bound does not fall, and one EM step from the point reached; about three
        passes over X, and many fewer iterations where EM is slow (mostly missing
        entries). None: plain EM, one pass per iteration. Either way the lower
        bound never falls.
    random_state : int, RandomState instance or None, default={random_state}
        Seeds the randomized SVD of the start.
    verbose : int, default=0
        1 prints each iteration, 2 also times and changes.
    init_sample_size : int, default=100_000
        Data that is not in memory is initialised from this many distinct rows
        (all rows when there are fewer)."""

_ATTRIBUTES_DOC = """components_ : ndarray of shape (n_components, n_features)
        W^T: the loadings of each factor (scikit-learn's layout).
    mean_ : ndarray of shape (n_features,)
        mu, estimated with the loadings from the observed entries.
    noise_variance_ : {noise_shape}
        {noise_what}
    n_iter_ : int
        Iterations run (SQUAREM cycles with ``acceleration='squarem'``).
    n_passes_ : int
        Passes over X (E-steps) run: ``n_iter_`` for plain EM, about three per
        SQUAREM cycle.
    converged_ : bool
    lower_bound_ : float
        The mean log-likelihood of the training rows' observed entries (weighted),
        plus the log prior density over their total weight when alpha > 0, at the
        last E-step. EM never lowers it.
    lower_bounds_ : list of float
        The lower bound at each iteration.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Defined only when X has feature names that are all strings."""

_NOTES_DOC = """X is dense with NaN as missing entries, or a scipy.sparse matrix whose
    **stored entries are the observed values and whose absent entries are missing**
    (the ratings convention: an explicit stored 0 is an observed 0). Every row's
    E-step uses its observed entries only: M = I + W_O^T Psi_O^-1 W_O, one Cholesky
    factorisation, the posterior mean and covariance of its factors; the M-step
    needs, per feature, sums over the rows that observe it. One pass costs
    O(nnz q^2 + n q^3), in parallel over fixed blocks of rows (the same bits for
    any number of threads), and never builds an n x d dense array from a sparse X.
    A row observing nothing is no error: its factors are 0 and its entries
    ``mean_`` (a new user with no ratings gets the prior's answer); it adds
    nothing to the likelihood. A feature no row observes keeps its start (loadings
    0, the mean and variance of all the observed entries).

    ``fit`` also reads data that is not in memory, as GaussianMixture does: memory
    maps, HDF5 / Zarr arrays, callables returning chunks (dense, or CSR chunks),
    and Dask arrays (of dense or sparse blocks), whose blocks run the same kernel
    where they live; only the statistics travel.

    float32 and float64 X are read as they are; the sums are float64 and the
    fitted attributes have X's dtype."""


@register_model
class ProbabilisticPCA(_FactorModel):
    __doc__ = """Probabilistic PCA by EM on the observed entries (Tipping & Bishop
    1999): x = W z + mu + e, z ~ N(0, I), e ~ N(0, sigma^2 I).

    On complete data EM reaches the closed-form maximum-likelihood solution (W from
    the top eigenvectors of the covariance, sigma^2 the mean of the discarded
    eigenvalues); with missing entries, dense (NaN) or sparse (absent), it fits the
    observed ones only: dimension reduction, imputation (:meth:`impute`) and
    recommendation (:meth:`predict_entries`, :meth:`recommend`).

    Parameters
    ----------
    {parameters}

    Attributes
    ----------
    {attributes}

    Notes
    -----
    {notes}

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import ProbabilisticPCA
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 2)) @ rng.normal(size=(2, 6))
    >>> X += 0.1 * rng.normal(size=X.shape)
    >>> X[rng.random(X.shape) < 0.2] = np.nan
    >>> model = ProbabilisticPCA(2, random_state=0).fit(X)
    >>> model.components_.shape, round(float(model.noise_variance_), 2)
    ((2, 6), 0.01)
    """.format(
        parameters=_PARAMETERS_DOC.format(
            default=2,
            tol="1e-6",
            tol_of="the mean log-likelihood (per row)",
            random_state="None",
        ),
        attributes=_ATTRIBUTES_DOC.format(
            noise_shape="float",
            noise_what="sigma^2, the variance of the noise of every feature.",
        ),
        notes=_NOTES_DOC,
    )

    _isotropic = True

    def __init__(
        self,
        n_components=2,
        *,
        tol=1e-6,
        max_iter=1000,
        alpha=0.0,
        acceleration="squarem",
        random_state=None,
        verbose=0,
        init_sample_size=100_000,
    ):
        self.n_components = n_components
        self.tol = tol
        self.max_iter = max_iter
        self.alpha = alpha
        self.acceleration = acceleration
        self.random_state = random_state
        self.verbose = verbose
        self.init_sample_size = init_sample_size


@register_model
class FactorAnalysis(_FactorModel):
    __doc__ = """Factor analysis by EM on the observed entries: x = W z + mu + e,
    z ~ N(0, I), e ~ N(0, diag(psi)).

    A drop-in for :class:`sklearn.decomposition.FactorAnalysis`: its parameters and
    defaults (``tol`` is on the total log-likelihood, as there), its attributes
    (``components_``, ``noise_variance_``, ``mean_``, ``loglike_``, ``n_iter_``)
    and, on complete data at convergence, its log-likelihood; beyond it, rows may
    miss entries (NaN, or absent from a sparse matrix), rows may be weighted,
    ``alpha`` puts a Gaussian prior on the loadings, and the model imputes
    (:meth:`impute`) and recommends (:meth:`predict_entries`, :meth:`recommend`).

    Parameters
    ----------
    n_components : int or None, default=None
        q, 1 <= q < n_features; None: n_features - 1.
    tol : float, default=1e-2
        Convergence threshold on the change of the total log-likelihood (summed
        over the rows, as scikit-learn's; with SQUAREM, from one cycle to the next).
    copy : bool, default=True
        Kept for scikit-learn's signature: X is never written, whatever its value.
    max_iter : int, default=1000
        The most EM iterations (SQUAREM cycles).
    noise_variance_init : array-like of shape (n_features,), default=None
        The start of psi (positive); None: each feature's variance less its
        communality in the SVD start.
    svd_method : {{'lapack', 'randomized'}}, default='randomized'
        How the SVD of the start (of the centred observed entries) is computed:
        LAPACK's full SVD (of a dense copy) or a randomized one.
    iterated_power : int, default=3
        Power iterations of the randomized SVD.
    rotation : {{'varimax', 'quartimax'}} or None, default=None
        An orthogonal rotation of the fitted loadings (as scikit-learn's), which
        changes no likelihood.
    random_state : int, RandomState instance or None, default=0
        Seeds the randomized SVD of the start.
    alpha : float, default=0.0
        Precision of a Gaussian prior on every loading, W_jk ~ N(0, 1 / alpha):
        EM (ECM) finds the maximum a posteriori fit (a ridge on W; none on the
        mean). 0 is maximum likelihood.
    acceleration : {{'squarem', None}}, default='squarem'
        As in :class:`ProbabilisticPCA`.
    verbose : int, default=0
        1 prints each iteration, 2 also times and changes.
    init_sample_size : int, default=100_000
        As in :class:`ProbabilisticPCA`.

    Attributes
    ----------
    {attributes}
    loglike_ : list of float
        The total log-likelihood of the training rows (sum, not mean; the log
        posterior when alpha > 0) at each iteration, as scikit-learn's.

    Notes
    -----
    {notes}

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import FactorAnalysis
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 2)) @ rng.normal(size=(2, 6))
    >>> X += rng.uniform(0.1, 0.5, size=6) * rng.normal(size=X.shape)
    >>> X[rng.random(X.shape) < 0.2] = np.nan
    >>> model = FactorAnalysis(2).fit(X)
    >>> model.transform(X).shape
    (500, 2)
    """.format(
        attributes=_ATTRIBUTES_DOC.format(
            noise_shape="ndarray of shape (n_features,)",
            noise_what="psi, the variance of each feature's noise.",
        ),
        notes=_NOTES_DOC,
    )

    _isotropic = False

    _parameter_constraints: dict = {
        **_FactorModel._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "copy": ["boolean"],
        "noise_variance_init": ["array-like", None],
        "svd_method": [StrOptions({"lapack", "randomized"})],
        "iterated_power": [Interval(Integral, 0, None, closed="left")],
        "rotation": [StrOptions({"varimax", "quartimax"}), None],
    }

    def __init__(
        self,
        n_components=None,
        *,
        tol=1e-2,
        copy=True,
        max_iter=1000,
        noise_variance_init=None,
        svd_method="randomized",
        iterated_power=3,
        rotation=None,
        random_state=0,
        alpha=0.0,
        acceleration="squarem",
        verbose=0,
        init_sample_size=100_000,
    ):
        self.n_components = n_components
        self.tol = tol
        self.copy = copy
        self.max_iter = max_iter
        self.noise_variance_init = noise_variance_init
        self.svd_method = svd_method
        self.iterated_power = iterated_power
        self.rotation = rotation
        self.random_state = random_state
        self.alpha = alpha
        self.acceleration = acceleration
        self.verbose = verbose
        self.init_sample_size = init_sample_size

    def _em_settings(self, context):
        # scikit-learn's tol is on the total log-likelihood; the driver's on the mean.
        settings = super()._em_settings(context)
        settings["tol"] = self.tol / context.source.total_weight
        return settings

    def _svd_options(self):
        return {"svd_method": self.svd_method, "iterated_power": self.iterated_power}

    def _initial_noise(self, noise, n_features):
        if self.noise_variance_init is None:
            return noise
        init = np.asarray(self.noise_variance_init, dtype=np.float64)
        if init.shape != (n_features,):
            raise ValueError(
                f"noise_variance_init should have the shape ({n_features},), got "
                f"{init.shape}"
            )
        if not np.all((init > 0) & np.isfinite(init)):
            raise ValueError("noise_variance_init must hold positive finite variances")
        return init

    def _end_fit(self, context, result):
        super()._end_fit(context, result)
        total = context.source.total_weight
        self.loglike_ = [bound * total for bound in self.lower_bounds_]
        if self.rotation is not None:
            rotated = _orthogonal_rotation(
                np.asarray(self.components_, np.float64).T, self.rotation
            )
            self.components_ = np.ascontiguousarray(rotated, self.components_.dtype)


def _orthogonal_rotation(loadings, method, tol=1e-6, max_iter=100):
    """The varimax or quartimax rotation of loadings (d, q), as (q, d) components
    (Kaiser 1958; the iteration scikit-learn's FactorAnalysis runs)."""
    d, q = loadings.shape
    rotation = np.eye(q)
    criterion = 0.0
    for _ in range(max_iter):
        rotated = loadings @ rotation
        target = rotated**3
        if method == "varimax":
            target = target - rotated * (np.sum(rotated**2, axis=0) / d)
        u, singular, vt = np.linalg.svd(loadings.T @ target)
        rotation = u @ vt
        new_criterion = float(np.sum(singular))
        if criterion != 0 and new_criterion < criterion * (1 + tol):
            break
        criterion = new_criterion
    return (loadings @ rotation).T
