"""Model selection: fit a grid of models and rank them by BIC, AIC or ICL.

Any fastem mixture can be selected over its number of components and a grid of its
other parameters; Gaussian mixtures, the default, over covariance types and priors.

Sign conventions (scikit-learn's, lower is better), for a model with p free
parameters fitted to n rows with maximised log-likelihood log L and responsibilities
z_nk at its parameters:

- BIC = -2 log L + p log n
- AIC = -2 log L + 2 p
- ICL = BIC + 2 EN, EN = -sum_n sum_k z_nk log z_nk >= 0 (the entropy of the
  responsibilities: McLachlan & Peel's ICL-BIC).

R's mclust reports the opposite sign (higher is better): its BIC is 2 log L - p log n
= -BIC here, and its ``icl`` uses hard MAP labels, BIC_mclust + 2 sum_n log max_k z_nk,
so -ICL_mclust = BIC - 2 sum_n log max_k z_nk <= ICL here (the soft entropy is at least
the entropy of the MAP labels).
"""

import warnings
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from scipy.special import xlogy
from sklearn.base import BaseEstimator, DensityMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ParameterGrid
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import _get_feature_names, check_is_fitted
from threadpoolctl import threadpool_limits

from ._engine.estimator import EMEstimator
from ._families import gaussian as gm
from ._gaussian_mixture import GaussianMixture
from ._threads import effective_n_threads

CRITERIA = ("bic", "aic", "icl")

# Parameters that select() chooses itself for each model of the grid (with the
# grid's own and every ``*_init``).
_CHOSEN_PARAMS = frozenset({"n_components", "n_init", "random_state", "warm_start"})

# Rows scored at once for the log-likelihood and entropy of a fitted model: keeps the
# responsibilities' memory bounded (chunk x K) whatever the number of rows.
_SCORE_CHUNK_ROWS = 65536

# The table's columns after n_components and the grid's parameters.
_CRITERIA_COLUMNS = (
    ("log_likelihood", np.float64),
    ("n_parameters", np.int64),
    ("bic", np.float64),
    ("aic", np.float64),
    ("icl", np.float64),
    ("converged", np.bool_),
    ("n_iter", np.int64),
    ("warm_started", np.bool_),
    ("degenerate", np.bool_),
)


@dataclass
class SelectionResult:
    """What :func:`select` found.

    Attributes
    ----------
    best_estimator_ : estimator
        The fitted model with the lowest criterion.
    best_params_ : dict
        Its ``n_components`` and grid parameters (for Gaussian mixtures,
        ``covariance_type`` and ``prior``).
    best_index_ : int
        Its row in ``table``.
    table : pandas.DataFrame or numpy structured array
        One row per model of the grid (see :func:`select` for the columns).
    estimators_ : list of estimators or None
        The fitted model of each row (None where the fit failed).
    criterion : str
        The criterion that ranked the models.
    """

    best_estimator_: object
    best_params_: dict
    best_index_: int
    table: object
    estimators_: list
    criterion: str


def select(
    X,
    n_components=range(1, 10),
    covariance_types=None,
    *,
    criterion="bic",
    priors=None,
    n_init=1,
    random_state=None,
    n_jobs=None,
    warm_start=True,
    estimator=None,
    param_grid=None,
    **params,
):
    """Fit mixtures over a grid and keep the one with the best criterion.

    Every combination of ``n_components`` x the grid of other parameters is fitted
    (``n_init`` restarts each) and scored by BIC, AIC and ICL, all lower-is-better:

    - BIC = -2 log L + p log n, AIC = -2 log L + 2 p, with log L the log-likelihood
      of X at the fitted parameters (the data's, also under a prior) and p
      ``n_parameters``;
    - ICL = BIC + 2 EN, with EN = -sum_n sum_k z_nk log z_nk the entropy of the
      responsibilities z (ICL-BIC of McLachlan & Peel, 2000).

    The models are :class:`GaussianMixture` by default, over ``covariance_types`` x
    ``priors``; any other fastem mixture (``estimator``) over ``param_grid``.

    Gaussian covariance types and R's mclust models: 'spherical' is mclust's VII,
    'diag' VVI, 'tied' EEE and 'full' VVV; for K = 1 they are E, X / XII, XXI, XXX,
    XXX. mclust's BIC is 2 log L - p log n (higher is better), i.e. minus the BIC
    here, with the same p and log L; mclust's ICL uses hard MAP labels:
    -ICL_mclust = BIC - 2 sum_n log max_k z_nk, which is at most the ICL here.

    Warm start along K (Gaussian mixtures): when ``warm_start`` and K - 1 is also
    in the grid, the model with K components also gets one extra run that starts
    from the K - 1 solution with its heaviest component split in two along the
    principal axis of the rows it holds; the run with the higher final lower bound
    (mean log-likelihood, or log posterior under a prior) is kept, as ``n_init``
    keeps its best restart. The ``n_init`` restarts are the same as without warm
    start, so warm starting can only raise the likelihood reached; the column
    ``warm_started`` says where the split won.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        float32 or float64 data (other dtypes are converted to float64); NaN as a
        missing value and sparse matrices where the estimator takes them.
    n_components : int or iterable of int, default=range(1, 10)
        The numbers of components to try, each in [1, n_samples].
    covariance_types : str or iterable of str, default=all four
        Gaussian mixtures: among 'full', 'tied', 'diag', 'spherical'.
    criterion : {'bic', 'aic', 'icl'}, default='bic'
        The criterion that picks ``best_estimator_``, the lowest among the models
        not degenerate (see Returns); ties go to the first row.
    priors : iterable, default=(None,)
        Gaussian mixtures: values of the ``prior`` parameter (None is maximum
        likelihood).
    n_init : int, default=1
        EM restarts of each model.
    random_state : int, RandomState instance or None, default=None
        Every model is fitted with the same seed (an int, drawn once from a
        RandomState or None), so a row not warm-started is reproduced by the
        estimator with ``n_components``, its grid parameters, ``n_init=n_init``,
        ``random_state=seed`` and ``**params``.
    n_jobs : int or None, default=None
        Models fitted in parallel (joblib; None is 1, -1 all CPUs). Each job's
        OpenMP kernels get ``threads // n_jobs`` threads and BLAS one, so the machine
        is not oversubscribed; the results are the same for any ``n_jobs``. With
        ``warm_start``, each grid point fits its K in order (one job), so no more
        jobs than grid points are busy.
    warm_start : bool, default=True
        Also start K components from the split K - 1 solution (see above).
    estimator : fastem mixture or None, default=None
        An unfitted model whose parameters (other than those select chooses) every
        model of the grid shares; None: ``GaussianMixture(**params)``.
    param_grid : dict of lists or None, default=None
        Other parameters to select over, as scikit-learn's ParameterGrid takes
        them, for an ``estimator`` (for Gaussian mixtures, use
        ``covariance_types`` and ``priors``).
    **params
        Other parameters of :class:`GaussianMixture` (``tol``, ``reg_covar``,
        ``max_iter``, ``init_params``, ...), the same for every model, when
        ``estimator`` is None.

    Returns
    -------
    SelectionResult
        ``best_estimator_``, ``best_params_``, ``best_index_``, ``estimators_`` and
        ``table``: a pandas DataFrame when pandas is installed, else a NumPy
        structured array, with one row per model, ordered by the grid's parameters
        and the number of components, and the columns n_components, the grid's
        parameters (for Gaussian mixtures covariance_type and prior: None as in
        ``best_params_``, or a prior's label), log_likelihood (total over the rows,
        not the mean), n_parameters, bic, aic, icl, converged, n_iter,
        warm_started and degenerate. A Gaussian model is degenerate when some
        component's covariance exceeds ``reg_covar`` by less than sqrt(eps) times
        the data's mean variance along some direction: its rows lie on a
        lower-dimensional set (repeated values), where the likelihood is unbounded
        and only ``reg_covar`` holds it finite. Such models (mclust reports them as
        NA) are not chosen unless all are, with a warning. A model whose fit failed
        (a singular covariance, see ``reg_covar``) has NaN criteria and raises a
        warning; if all fail, a ValueError.

    Examples
    --------
    >>> import numpy as np
    >>> import fastem
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-5, 1, (200, 2)), rng.normal(5, 1, (200, 2))])
    >>> result = fastem.select(X, n_components=range(1, 5), random_state=0)
    >>> result.best_params_["n_components"]
    2
    """
    estimator, grid = _checked_grid(
        estimator, param_grid, covariance_types, priors, params
    )
    tags = estimator.__sklearn_tags__()
    feature_names = _get_feature_names(X)
    X = check_array(
        X,
        accept_sparse="csr" if tags.input_tags.sparse else False,
        dtype=[np.float64, np.float32],
        ensure_min_samples=2,
        # The model checks NaN (and refuses infinity) as fit does.
        ensure_all_finite=not tags.input_tags.allow_nan,
    )
    ks = _checked_n_components(n_components, X.shape[0])
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if not isinstance(n_init, Integral) or n_init < 1:
        raise ValueError(f"n_init must be an integer >= 1, got {n_init!r}")
    seed = random_state
    if not isinstance(random_state, Integral):
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))

    # A warm-started chain runs its K in order; otherwise every model is a task.
    if warm_start and hasattr(estimator, "_split_heaviest"):
        tasks = [(point, ks) for point in grid]
    else:
        tasks = [(point, [k]) for point in grid for k in ks]
    fit_chain_args = dict(X=X, estimator=estimator, n_init=n_init, seed=seed)
    n_parallel = min(effective_n_jobs(n_jobs), len(tasks))
    if n_parallel == 1:
        chain_results = [_fit_chain(*task, **fit_chain_args) for task in tasks]
    else:
        threads = max(1, effective_n_threads() // n_parallel)
        chain_results = Parallel(n_jobs=n_parallel)(
            delayed(_fit_chain_limited)(*task, threads=threads, **fit_chain_args)
            for task in tasks
        )
    rows = [row for chain in chain_results for row in chain]
    data_variance = (
        _mean_variance(X) if hasattr(estimator, "_is_degenerate_fit") else None
    )
    for row in rows:
        model = row["_estimator"]
        row["degenerate"] = (
            model is not None
            and data_variance is not None
            and model._is_degenerate_fit(data_variance)
        )
    return _result(rows, list(grid[0]), criterion, feature_names)


# --- argument checks --------------------------------------------------------------


def _checked_grid(estimator, param_grid, covariance_types, priors, params):
    """The estimator every model is cloned from, and the grid points (dicts of the
    parameters other than n_components) in the table's order."""
    if estimator is None:
        _check_params(GaussianMixture(), params, {"covariance_type", "prior"})
        estimator = GaussianMixture(**params)
        if param_grid is not None:
            raise TypeError(
                "select() takes covariance_types and priors for Gaussian mixtures, "
                "not param_grid"
            )
        covariance_types = _checked_covariance_types(
            gm.COVARIANCE_TYPES if covariance_types is None else covariance_types
        )
        priors = [None] if priors is None else list(priors)
        if not priors:
            raise ValueError("priors is empty; use (None,) for maximum likelihood")
        for prior in priors:
            GaussianMixture(prior=prior)._validate_params()
        grid = [
            {"covariance_type": covariance_type, "prior": prior}
            for prior in priors
            for covariance_type in covariance_types
        ]
        return estimator, grid
    if not (isinstance(estimator, EMEstimator) and hasattr(estimator, "n_components")):
        raise TypeError(
            f"estimator must be a fastem mixture (unfitted), not {type(estimator)}"
        )
    if params:
        raise TypeError(
            f"select() got parameters {sorted(params)} for GaussianMixture, but an "
            "estimator: set them on the estimator"
        )
    if covariance_types is not None or priors is not None:
        raise TypeError(
            "covariance_types and priors are GaussianMixture's: pass param_grid "
            f"for {type(estimator).__name__}"
        )
    grid = list(ParameterGrid(param_grid if param_grid is not None else {}))
    known = estimator.get_params()
    for point in grid:
        for name in point:
            if name not in known:
                raise TypeError(f"{type(estimator).__name__} has no parameter {name!r}")
            if name in _CHOSEN_PARAMS:
                raise TypeError(f"select() chooses {name!r} itself; do not pass it")
        clone(estimator).set_params(**point)._validate_params()
    estimator._validate_params()
    return clone(estimator), grid


def _check_params(estimator, params, grid_names):
    known = estimator.get_params()
    for name in params:
        if name in _CHOSEN_PARAMS or name in grid_names or name.endswith("_init"):
            raise TypeError(f"select() chooses {name!r} itself; do not pass it")
        if name not in known:
            raise TypeError(f"select() got an unexpected keyword argument {name!r}")
    estimator.set_params(**params)._validate_params()  # bad values fail here, once


def _checked_n_components(n_components, n_samples):
    values = [n_components] if isinstance(n_components, Integral) else n_components
    try:
        values = list(values)
    except TypeError:
        raise TypeError(
            f"n_components must be an int or an iterable of ints, got {n_components!r}"
        ) from None
    if not values:
        raise ValueError("n_components is empty")
    for value in values:
        if not isinstance(value, Integral) or isinstance(value, bool):
            raise TypeError(f"n_components must hold ints, got {value!r}")
        if not 1 <= value <= n_samples:
            raise ValueError(
                f"each n_components must be in [1, n_samples = {n_samples}], "
                f"got {value}"
            )
    return sorted(set(int(value) for value in values))


def _checked_covariance_types(covariance_types):
    if isinstance(covariance_types, str):
        covariance_types = [covariance_types]
    covariance_types = list(dict.fromkeys(covariance_types))
    if not covariance_types:
        raise ValueError("covariance_types is empty")
    for covariance_type in covariance_types:
        if covariance_type not in gm.COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_types must be among {gm.COVARIANCE_TYPES}, "
                f"got {covariance_type!r}"
            )
    return covariance_types


# --- fitting ------------------------------------------------------------------------


def _fit_chain_limited(point, ks, *, threads, **fit_chain_args):
    """:func:`_fit_chain` in a parallel job: ``threads`` OpenMP threads, one BLAS."""
    with threadpool_limits(limits={"openmp": threads, "blas": 1}):
        return _fit_chain(point, ks, **fit_chain_args)


def _fit_chain(point, ks, *, X, estimator, n_init, seed):
    """Table rows (dicts) of the models of grid point ``point`` with ``ks``
    components, in order, each warm-started from the previous one where ``ks``
    holds K - 1 and K."""
    rows, previous = [], None
    for k in ks:
        model = clone(estimator).set_params(**point, n_components=k, random_state=seed)
        restarts = _fitted_or_none(clone(model).set_params(n_init=n_init), X)
        split = None
        if previous is not None and previous.n_components == k - 1:
            start = previous._split_heaviest(X)
            if start is not None:
                split = _fitted_or_none(clone(model).set_params(**start), X)
        # The higher final lower bound wins, as between n_init restarts.
        if split is not None and (
            restarts is None or split.lower_bound_ > restarts.lower_bound_
        ):
            rows.append(_row(split, X, point, warm_started=True))
            previous = split
        elif restarts is not None:
            rows.append(_row(restarts, X, point, warm_started=False))
            previous = restarts
        else:
            rows.append(_failed_row(k, point, model))
            previous = None
    return rows


def _fitted_or_none(estimator, X):
    """The estimator fitted to X, or None if its fit failed as the model can fail
    (a singular covariance, say); other errors are raised."""
    # Convergence goes into the table; select() warns once for the whole grid.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            return estimator.fit(X)
        except ValueError as error:
            if not estimator._is_fit_failure(error):
                raise
            return None


# --- the table ------------------------------------------------------------------------


def _log_likelihood_and_entropy(estimator, X):
    """Total log-likelihood of X and entropy of its responsibilities, in chunks."""
    log_likelihood = entropy = 0.0
    for start in range(0, X.shape[0], _SCORE_CHUNK_ROWS):
        _, (log_prob, resp, _) = estimator._score_rows(
            X[start : start + _SCORE_CHUNK_ROWS], resp=True
        )
        log_likelihood += float(np.sum(log_prob))
        entropy -= float(np.sum(xlogy(resp, resp)))
    return log_likelihood, entropy


def grid_label(value):
    """The table's cell for a grid value: None, numbers and names as they are, other
    objects (a GaussianPrior) by their repr."""
    plain = (str, int, float)
    return value if value is None or isinstance(value, plain) else repr(value)


def _grid_labels(point):
    return {name: grid_label(value) for name, value in point.items()}


def _row(estimator, X, point, warm_started):
    n_samples = X.shape[0]
    log_likelihood, entropy = _log_likelihood_and_entropy(estimator, X)
    n_parameters = estimator._n_parameters()
    bic = -2.0 * log_likelihood + n_parameters * np.log(n_samples)
    return {
        "n_components": estimator.n_components,
        **_grid_labels(point),
        "log_likelihood": log_likelihood,
        "n_parameters": n_parameters,
        "bic": bic,
        "aic": -2.0 * log_likelihood + 2.0 * n_parameters,
        "icl": bic + 2.0 * entropy,
        "converged": estimator.converged_,
        "n_iter": estimator.n_iter_,
        "warm_started": warm_started,
        "_estimator": estimator,
        "_point": point,
    }


def _failed_row(k, point, model):
    nan = float("nan")
    return {
        "n_components": k,
        **_grid_labels(point),
        "log_likelihood": nan,
        "n_parameters": -1,
        "bic": nan,
        "aic": nan,
        "icl": nan,
        "converged": False,
        "n_iter": 0,
        "warm_started": False,
        "_estimator": None,
        "_point": point,
        "_model": model,
    }


def _mean_variance(X):
    """Mean over the features of their variance (NaN ignored), in float64, chunk by
    chunk."""
    mean = np.nanmean(X, axis=0, dtype=np.float64)
    squares = sum(
        np.nansum(np.square(X[start : start + _SCORE_CHUNK_ROWS] - mean), axis=0)
        for start in range(0, X.shape[0], _SCORE_CHUNK_ROWS)
    )
    observed = X.shape[0] - np.sum(np.isnan(X), axis=0)
    return float(np.mean(squares / np.maximum(observed, 1)))


def _pandas_or_none():
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _table(rows, grid_names):
    """The rows as a pandas DataFrame, or a NumPy structured array without pandas."""
    kinds = [("n_components", np.int64)]
    kinds += [(name, object) for name in grid_names]  # None, names, labels
    kinds += list(_CRITERIA_COLUMNS)
    columns = {name: [row[name] for row in rows] for name, _ in kinds}
    pd = _pandas_or_none()
    if pd is None:
        return np.array(list(zip(*columns.values())), dtype=kinds)
    return pd.DataFrame(
        {
            name: pd.Series(values, dtype=kind)
            for (name, kind), values in zip(kinds, columns.values())
        }
    )


def _describe(row, grid_names):
    return (
        "(" + ", ".join(repr(row[name]) for name in ("n_components", *grid_names)) + ")"
    )


def _warn_about(rows, grid_names):
    """Warn once for the failed and the unconverged models; raise if all failed."""
    failed = [row for row in rows if row["_estimator"] is None]
    failure = failed[0]["_model"]._fit_failure_message() if failed else None
    if len(failed) == len(rows):
        raise ValueError(f"Every model of the grid failed: {failure}")
    if failed:
        names = ", ".join(_describe(row, grid_names) for row in failed)
        warnings.warn(
            f"{len(failed)} of {len(rows)} models failed and have NaN criteria: "
            f"{names}. {failure}",
            UserWarning,
        )
    unconverged = [
        row for row in rows if row["_estimator"] is not None and not row["converged"]
    ]
    if unconverged:
        warnings.warn(
            f"{len(unconverged)} of {len(rows)} models did not converge (column "
            "'converged'). Increase max_iter or tol.",
            ConvergenceWarning,
        )


def _result(rows, grid_names, criterion, feature_names):
    _warn_about(rows, grid_names)
    fitted = [row["_estimator"] is not None for row in rows]
    eligible = [ok and not row["degenerate"] for ok, row in zip(fitted, rows)]
    if not any(eligible):
        warnings.warn(
            "Every fitted model of the grid is degenerate (column 'degenerate'); the "
            "best is chosen among them. Scale the data, remove repeated rows or "
            "constant columns, or use fewer components.",
            UserWarning,
        )
        eligible = fitted
    scores = np.where(eligible, [row[criterion] for row in rows], np.nan)
    estimators = [row["_estimator"] for row in rows]
    if feature_names is not None:
        for estimator in estimators:
            if estimator is not None:
                estimator.feature_names_in_ = feature_names
    best = int(np.nanargmin(scores))
    return SelectionResult(
        best_estimator_=estimators[best],
        best_params_={
            "n_components": rows[best]["n_components"],
            **rows[best]["_point"],
        },
        best_index_=best,
        table=_table(rows, grid_names),
        estimators_=estimators,
        criterion=criterion,
    )


# --- the estimator --------------------------------------------------------------------


class GaussianMixtureIC(DensityMixin, BaseEstimator):
    """A Gaussian mixture whose number of components and covariance type are chosen
    by an information criterion: :func:`select` as a scikit-learn estimator.

    ``fit`` runs :func:`select` with the parameters below; the fitted model is
    ``best_estimator_``, to which ``predict``, ``predict_proba``, ``score_samples``,
    ``score``, ``sample``, ``bic`` and ``aic`` delegate.

    Parameters
    ----------
    n_components : int or iterable of int, default=(1, ..., 9)
    covariance_types : str or iterable of str, default=all four
    criterion : {'bic', 'aic', 'icl'}, default='bic'
    priors : iterable, default=(None,)
    n_init : int, default=1
    random_state : int, RandomState instance or None, default=None
    n_jobs : int or None, default=None
    warm_start : bool, default=True
        As in :func:`select` (the split start along K, not scikit-learn's refit).
    gm_params : dict or None, default=None
        Other parameters of every :class:`GaussianMixture` (``reg_covar``, ...).

    Attributes
    ----------
    best_estimator_ : GaussianMixture
    best_params_ : dict
    best_index_ : int
    table_ : pandas.DataFrame or numpy structured array
        The table of :func:`select`.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when X has feature names that are all strings.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import GaussianMixtureIC
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-5, 1, (200, 2)), rng.normal(5, 1, (200, 2))])
    >>> model = GaussianMixtureIC(range(1, 5), random_state=0).fit(X)
    >>> model.best_params_["n_components"]
    2
    """

    def __init__(
        self,
        n_components=(1, 2, 3, 4, 5, 6, 7, 8, 9),
        *,
        covariance_types=("full", "tied", "diag", "spherical"),
        criterion="bic",
        priors=(None,),
        n_init=1,
        random_state=None,
        n_jobs=None,
        warm_start=True,
        gm_params=None,
    ):
        self.n_components = n_components
        self.covariance_types = covariance_types
        self.criterion = criterion
        self.priors = priors
        self.n_init = n_init
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.warm_start = warm_start
        self.gm_params = gm_params

    def fit(self, X, y=None):
        """Fit the grid of :func:`select` and keep the best model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : GaussianMixtureIC
        """
        result = select(
            X,
            self.n_components,
            self.covariance_types,
            criterion=self.criterion,
            priors=self.priors,
            n_init=self.n_init,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            warm_start=self.warm_start,
            **(self.gm_params or {}),
        )
        self.best_estimator_ = result.best_estimator_
        self.best_params_ = result.best_params_
        self.best_index_ = result.best_index_
        self.table_ = result.table
        self.n_features_in_ = self.best_estimator_.n_features_in_
        if hasattr(self.best_estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.best_estimator_.feature_names_in_
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _best(self, X=None):
        """The best model (X, the rows a method is called on, is its to check)."""
        check_is_fitted(self)
        return self.best_estimator_

    def predict(self, X):
        """Most probable component of each row (see GaussianMixture.predict)."""
        return self._best(X).predict(X)

    def predict_proba(self, X):
        """Responsibilities (see GaussianMixture.predict_proba)."""
        return self._best(X).predict_proba(X)

    def score_samples(self, X):
        """Log-likelihood of each row (see GaussianMixture.score_samples)."""
        return self._best(X).score_samples(X)

    def score(self, X, y=None):
        """Mean log-likelihood of the rows (see GaussianMixture.score)."""
        return self._best(X).score(X)

    def sample(self, n_samples=1):
        """Samples of the best model (see GaussianMixture.sample)."""
        return self._best().sample(n_samples)

    def bic(self, X):
        """BIC of the best model on X (see GaussianMixture.bic)."""
        return self._best(X).bic(X)

    def aic(self, X):
        """AIC of the best model on X (see GaussianMixture.aic)."""
        return self._best(X).aic(X)
