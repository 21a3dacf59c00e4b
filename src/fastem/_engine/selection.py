"""Model selection for any fastem model: fit a grid of models and rank them by BIC,
AIC or ICL (:func:`select_models`; ``fastem.select`` is its public face).

Sign conventions (scikit-learn's, lower is better), for a model with p free
parameters fitted to n rows with maximised log-likelihood log L and responsibilities
z_nk at its parameters:

- BIC = -2 log L + p log n
- AIC = -2 log L + 2 p
- ICL = BIC + 2 EN, EN = -sum_n sum_k z_nk log z_nk >= 0 (the entropy of the
  responsibilities: McLachlan & Peel's ICL-BIC).

A model takes part through its estimator's hooks: ``_split_heaviest`` (a warm start
along the number of components), ``_is_degenerate_fit`` (a fit held finite by a
regularisation alone), ``_is_fit_failure`` / ``_fit_failure_message`` (fits that
fail on the data, recorded rather than raised).
"""

import inspect
import warnings
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from scipy.special import xlogy
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ParameterGrid
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import _get_feature_names
from threadpoolctl import threadpool_limits

from .estimator import EMEstimator
from .sequences import checked_lengths
from .threads import effective_n_threads

CRITERIA = ("bic", "aic", "icl")

# Parameters that select chooses itself for each model of the grid.
CHOSEN_PARAMS = frozenset({"n_components", "n_init", "random_state", "warm_start"})

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

    :func:`select` makes it; its fields are read as attributes.

    Parameters
    ----------
    best_estimator_ : estimator
        The fitted model with the lowest criterion.
    best_params_ : dict
        Its ``n_components`` and grid parameters.
    best_index_ : int
        Its row in ``table``.
    table : pandas.DataFrame or numpy structured array
        One row per model of the grid (see :func:`select` for the columns).
    estimators_ : list of estimators or None
        The fitted model of each row (None where the fit failed).
    criterion : str
        The criterion that ranked the models.

    Examples
    --------
    >>> import numpy as np
    >>> import fastem
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-5, 1, (200, 2)), rng.normal(5, 1, (200, 2))])
    >>> result = fastem.select(X, n_components=[1, 2, 3], covariance_types="full")
    >>> result.best_params_["n_components"], result.criterion
    (2, 'bic')
    >>> len(result.table), len(result.estimators_)
    (3, 3)
    """

    best_estimator_: object
    best_params_: dict
    best_index_: int
    table: object
    estimators_: list
    criterion: str


def select_models(
    X,
    estimator,
    grid,
    n_components,
    *,
    criterion,
    n_init,
    random_state,
    n_jobs,
    warm_start,
    lengths=None,
):
    """Fit ``estimator`` with each number of components and each grid point; rank
    the models by ``criterion`` (see ``fastem.select`` for the parameters and the
    table).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    estimator : EMEstimator
        Unfitted, with ``n_components``: every model is a clone of it.
    grid : list of dict
        The grid points: parameters set on each model besides ``n_components``;
        ``[{}]`` for none.
    n_components : int or iterable of int
    criterion : {'bic', 'aic', 'icl'}
    n_init : int
    random_state : int, RandomState instance or None
    n_jobs : int or None
    warm_start : bool
    lengths : array-like of int or None, default=None
        For models over sequences (whose ``fit`` takes ``lengths``): the length of
        each sequence of X.

    Returns
    -------
    SelectionResult
    """
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
    if lengths is not None:
        if "lengths" not in inspect.signature(estimator.fit).parameters:
            raise TypeError(
                f"lengths is for models over sequences; {type(estimator).__name__} "
                "reads rows"
            )
        lengths = checked_lengths(lengths, X.shape[0])
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
    fit_chain_args = dict(
        X=X, estimator=estimator, n_init=n_init, seed=seed, lengths=lengths
    )
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


def grid_points(estimator, param_grid):
    """The points of ``param_grid`` (a dict of lists, as scikit-learn's
    ParameterGrid takes it) for ``estimator``, each checked against its parameters."""
    if not (isinstance(estimator, EMEstimator) and hasattr(estimator, "n_components")):
        raise TypeError(
            f"estimator must be a fastem mixture (unfitted), not {type(estimator)}"
        )
    grid = list(ParameterGrid(param_grid if param_grid is not None else {}))
    known = estimator.get_params()
    for point in grid:
        for name in point:
            if name not in known:
                raise TypeError(f"{type(estimator).__name__} has no parameter {name!r}")
            if name in CHOSEN_PARAMS:
                raise TypeError(f"select() chooses {name!r} itself; do not pass it")
        clone(estimator).set_params(**point)._validate_params()
    estimator._validate_params()
    return grid


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


# --- fitting ------------------------------------------------------------------------


def _fit_chain_limited(point, ks, *, threads, **fit_chain_args):
    """:func:`_fit_chain` in a parallel job: ``threads`` OpenMP threads, one BLAS."""
    with threadpool_limits(limits={"openmp": threads, "blas": 1}):
        return _fit_chain(point, ks, **fit_chain_args)


def _fit_chain(point, ks, *, X, estimator, n_init, seed, lengths):
    """Table rows (dicts) of the models of grid point ``point`` with ``ks``
    components, in order, each warm-started from the previous one where ``ks``
    holds K - 1 and K."""
    rows, previous = [], None
    for k in ks:
        model = clone(estimator).set_params(**point, n_components=k, random_state=seed)
        restarts = _restarts(model, X, lengths, n_init, seed)
        split = None
        if previous is not None and previous.n_components == k - 1:
            start = previous._split_heaviest(X)
            if start is not None:
                split = _fitted_or_none(clone(model).set_params(**start), X)
        # The higher final lower bound wins, as between n_init restarts.
        if split is not None and (
            restarts is None or split.lower_bound_ > restarts.lower_bound_
        ):
            rows.append(_row(split, X, point, warm_started=True, lengths=lengths))
            previous = split
        elif restarts is not None:
            rows.append(_row(restarts, X, point, warm_started=False, lengths=lengths))
            previous = restarts
        else:
            rows.append(_failed_row(k, point, model))
            previous = None
    return rows


def _restarts(model, X, lengths, n_init, seed):
    """The best of ``n_init`` EM runs of ``model`` (its own ``n_init`` where it has
    one; otherwise runs seeded seed, seed + 1, ..., the highest final lower bound
    kept), or None if every run failed."""
    if "n_init" in model.get_params():
        return _fitted_or_none(clone(model).set_params(n_init=n_init), X, lengths)
    best = None
    for run in range(n_init):
        fitted = _fitted_or_none(
            clone(model).set_params(random_state=seed + run), X, lengths
        )
        if fitted is not None and (
            best is None or fitted.lower_bound_ > best.lower_bound_
        ):
            best = fitted
    return best


def _fitted_or_none(estimator, X, lengths=None):
    """The estimator fitted to X (cut by ``lengths`` where given), or None if its fit
    failed as the model can fail (a singular covariance, say); other errors are
    raised."""
    # Convergence goes into the table; select() warns once for the whole grid.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            if lengths is not None:
                return estimator.fit(X, lengths)
            return estimator.fit(X)
        except ValueError as error:
            if not estimator._is_fit_failure(error):
                raise
            return None


# --- the table ------------------------------------------------------------------------


def _log_likelihood_and_entropy(estimator, X, lengths=None):
    """Total log-likelihood of X and entropy of its responsibilities (a model over
    sequences: of its posteriors), in chunks (of whole sequences)."""
    log_likelihood = entropy = 0.0
    if lengths is not None:
        bounds = np.r_[0, np.cumsum(lengths)]
        first = 0
        while first < len(lengths):
            end = np.searchsorted(bounds, bounds[first] + _SCORE_CHUNK_ROWS, "right")
            stop = max(first + 1, int(end) - 1)
            log_prob, posteriors = estimator.score_samples(
                X[bounds[first] : bounds[stop]], lengths[first:stop]
            )
            log_likelihood += log_prob
            entropy -= float(np.sum(xlogy(posteriors, posteriors)))
            first = stop
        return log_likelihood, entropy
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


def _row(estimator, X, point, warm_started, lengths=None):
    n_samples = X.shape[0]
    log_likelihood, entropy = _log_likelihood_and_entropy(estimator, X, lengths)
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
        model = unconverged[0]["_estimator"]
        limit = "max_iter" if "max_iter" in model.get_params() else "n_iter"
        warnings.warn(
            f"{len(unconverged)} of {len(rows)} models did not converge (column "
            f"'converged'). Increase {limit} or tol.",
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
