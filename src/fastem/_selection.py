"""Model selection: fit a grid of Gaussian mixtures and rank them by BIC, AIC or ICL.

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
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import assert_all_finite, check_array, check_random_state
from sklearn.utils.validation import _get_feature_names, check_is_fitted
from threadpoolctl import threadpool_limits

from ._engine.sources import ArraySource
from ._families import gaussian as gm
from ._gaussian_mixture import GaussianMixture
from ._threads import effective_n_threads

CRITERIA = ("bic", "aic", "icl")

# GaussianMixture parameters that select() chooses itself, for each model of the grid.
_GRID_PARAMS = frozenset(
    {
        "n_components",
        "covariance_type",
        "prior",
        "n_init",
        "random_state",
        "warm_start",
        "weights_init",
        "means_init",
        "precisions_init",
    }
)

# Rows scored at once for the log-likelihood and entropy of a fitted model: keeps the
# responsibilities' memory bounded (chunk x K) whatever the number of rows.
_SCORE_CHUNK_ROWS = 65536

_TABLE_COLUMNS = (
    ("n_components", np.int64),
    ("covariance_type", str),
    ("prior", object),  # None, as in best_params_, or the prior's label
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

# A component is degenerate when, along some direction, its covariance exceeds
# reg_covar by less than this fraction of the data's mean variance per feature: the
# rows it holds lie in a lower-dimensional set (repeated values, collinear rows), and
# its likelihood grows without bound as reg_covar -> 0.
DEGENERATE_RTOL = np.sqrt(np.finfo(np.float64).eps)


@dataclass
class SelectionResult:
    """What :func:`select` found.

    Attributes
    ----------
    best_estimator_ : GaussianMixture
        The fitted model with the lowest criterion.
    best_params_ : dict
        Its ``n_components``, ``covariance_type`` and ``prior``.
    best_index_ : int
        Its row in ``table``.
    table : pandas.DataFrame or numpy structured array
        One row per model of the grid (see :func:`select` for the columns).
    estimators_ : list of GaussianMixture or None
        The fitted model of each row (None where the fit failed).
    criterion : str
        The criterion that ranked the models.
    """

    best_estimator_: GaussianMixture
    best_params_: dict
    best_index_: int
    table: object
    estimators_: list
    criterion: str


def select(
    X,
    n_components=range(1, 10),
    covariance_types=("full", "tied", "diag", "spherical"),
    *,
    criterion="bic",
    priors=(None,),
    n_init=1,
    random_state=None,
    n_jobs=None,
    warm_start=True,
    **gm_params,
):
    """Fit Gaussian mixtures over a grid and keep the one with the best criterion.

    Every combination of ``n_components`` x ``covariance_types`` x ``priors`` is fitted
    with :class:`GaussianMixture` (``n_init`` restarts each) and scored by BIC, AIC
    and ICL, all lower-is-better:

    - BIC = -2 log L + p log n, AIC = -2 log L + 2 p, with log L the log-likelihood
      of X at the fitted parameters (the data's, also under a prior) and p
      ``n_parameters``;
    - ICL = BIC + 2 EN, with EN = -sum_n sum_k z_nk log z_nk the entropy of the
      responsibilities z (ICL-BIC of McLachlan & Peel, 2000).

    Covariance types and R's mclust models: 'spherical' is mclust's VII, 'diag' VVI,
    'tied' EEE and 'full' VVV; for K = 1 they are E, X / XII, XXI, XXX, XXX. mclust's
    BIC is 2 log L - p log n (higher is better), i.e. minus the BIC here, with the same
    p and log L; mclust's ICL uses hard MAP labels: -ICL_mclust = BIC - 2 sum_n log
    max_k z_nk, which is at most the ICL here.

    Warm start along K: when ``warm_start`` and K - 1 is also in the grid, the model
    with K components also gets one extra run that starts from the K - 1 solution with
    its heaviest component split in two along the principal axis of the rows it
    holds; the run with the higher final lower bound (mean log-likelihood, or log
    posterior under a prior) is kept, as ``n_init`` keeps its best restart. The
    ``n_init`` restarts are the same as without warm start, so warm starting can only
    raise the likelihood reached; the column ``warm_started`` says where the split won.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        float32 or float64 data (other dtypes are converted to float64).
    n_components : int or iterable of int, default=range(1, 10)
        The numbers of components to try, each in [1, n_samples].
    covariance_types : str or iterable of str, default=all four
        Among 'full', 'tied', 'diag', 'spherical'.
    criterion : {'bic', 'aic', 'icl'}, default='bic'
        The criterion that picks ``best_estimator_``, the lowest among the models
        not degenerate (see Returns); ties go to the first row.
    priors : iterable, default=(None,)
        Values of GaussianMixture's ``prior`` parameter: None is maximum likelihood.
    n_init : int, default=1
        EM restarts of each model.
    random_state : int, RandomState instance or None, default=None
        Every model is fitted with the same seed (an int, drawn once from a
        RandomState or None), so a row not warm-started is reproduced by
        ``GaussianMixture(n_components, covariance_type=..., n_init=n_init,
        random_state=seed, **gm_params)``.
    n_jobs : int or None, default=None
        Models fitted in parallel (joblib; None is 1, -1 all CPUs). Each job's
        OpenMP kernels get ``threads // n_jobs`` threads and BLAS one, so the machine
        is not oversubscribed; the results are the same for any ``n_jobs``. With
        ``warm_start``, each covariance type x prior fits its K in order (one job),
        so no more jobs than those are busy.
    warm_start : bool, default=True
        Also start K components from the split K - 1 solution (see above).
    **gm_params
        Other parameters of :class:`GaussianMixture` (``tol``, ``reg_covar``,
        ``max_iter``, ``init_params``, ...), the same for every model.

    Returns
    -------
    SelectionResult
        ``best_estimator_``, ``best_params_``, ``best_index_``, ``estimators_`` and
        ``table``: a pandas DataFrame when pandas is installed, else a NumPy structured
        array, with one row per model, ordered by prior, covariance type and number
        of components, and the columns n_components, covariance_type, prior (None
        as in ``best_params_``, a prior's name, or the repr of a GaussianPrior; an
        object column), log_likelihood (total over the rows, not the mean),
        n_parameters, bic, aic, icl, converged, n_iter, warm_started and degenerate.
        A model is degenerate when some component's covariance exceeds
        ``reg_covar`` by less than sqrt(eps) times the data's mean variance along
        some direction: its rows lie on a lower-dimensional set (repeated values),
        where the likelihood is unbounded and only ``reg_covar`` holds it finite.
        Such models (mclust reports them as NA) are not chosen unless all are,
        with a warning. A model whose fit failed (a singular covariance, see
        ``reg_covar``) has NaN criteria and raises a warning; if all fail, a
        ValueError.

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
    feature_names = _get_feature_names(X)
    X = check_array(X, dtype=[np.float64, np.float32], ensure_min_samples=2)
    ks = _checked_n_components(n_components, X.shape[0])
    covariance_types = _checked_covariance_types(covariance_types)
    priors = list(priors)
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if not isinstance(n_init, Integral) or n_init < 1:
        raise ValueError(f"n_init must be an integer >= 1, got {n_init!r}")
    _check_gm_params(gm_params, priors)
    seed = random_state
    if not isinstance(random_state, Integral):
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))

    chains = [
        (covariance_type, prior)
        for prior in priors
        for covariance_type in covariance_types
    ]
    # A warm-started chain runs its K in order; otherwise every model is a task.
    if warm_start:
        tasks = [(cov, prior, ks) for cov, prior in chains]
    else:
        tasks = [(cov, prior, [k]) for cov, prior in chains for k in ks]
    fit_chain_args = dict(X=X, n_init=n_init, seed=seed, gm_params=gm_params)
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
    reg_covar = GaussianMixture(**gm_params).reg_covar
    data_variance = _mean_variance(X)
    for row in rows:
        row["degenerate"] = row["_estimator"] is not None and _is_degenerate(
            row["_estimator"], reg_covar + DEGENERATE_RTOL * data_variance
        )
    return _result(rows, criterion, feature_names)


# --- argument checks --------------------------------------------------------------


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


def _check_gm_params(gm_params, priors):
    known = GaussianMixture().get_params()
    for name in gm_params:
        if name in _GRID_PARAMS:
            raise TypeError(f"select() chooses {name!r} itself; do not pass it")
        if name not in known:
            raise TypeError(f"select() got an unexpected keyword argument {name!r}")
    GaussianMixture(**gm_params)._validate_params()  # bad values fail here, once
    if not priors:
        raise ValueError("priors is empty; use (None,) for maximum likelihood")
    for prior in priors:
        GaussianMixture(prior=prior)._validate_params()


# --- fitting ------------------------------------------------------------------------


def _fit_chain_limited(covariance_type, prior, ks, *, threads, **fit_chain_args):
    """:func:`_fit_chain` in a parallel job: ``threads`` OpenMP threads, one BLAS."""
    with threadpool_limits(limits={"openmp": threads, "blas": 1}):
        return _fit_chain(covariance_type, prior, ks, **fit_chain_args)


def _fit_chain(covariance_type, prior, ks, *, X, n_init, seed, gm_params):
    """Table rows (dicts) of the models with ``ks`` components, in order, each
    warm-started from the previous one where ``ks`` holds K - 1 and K."""
    params = dict(gm_params, covariance_type=covariance_type)
    if prior is not None:
        params["prior"] = prior
    rows, previous = [], None
    for k in ks:
        restarts = _fitted_or_none(
            GaussianMixture(k, n_init=n_init, random_state=seed, **params), X
        )
        split = None
        if previous is not None and previous.n_components == k - 1:
            start = _split_start(previous, X)
            if start is not None:
                split = _fitted_or_none(
                    GaussianMixture(k, random_state=seed, **start, **params), X
                )
        # The higher final lower bound wins, as between n_init restarts.
        if split is not None and (
            restarts is None or split.lower_bound_ > restarts.lower_bound_
        ):
            rows.append(_row(split, X, prior, warm_started=True))
            previous = split
        elif restarts is not None:
            rows.append(_row(restarts, X, prior, warm_started=False))
            previous = restarts
        else:
            rows.append(_failed_row(k, covariance_type, prior))
            previous = None
    return rows


def _fitted_or_none(estimator, X):
    """The estimator fitted to X, or None if a covariance became singular."""
    # Convergence goes into the table; select() warns once for the whole grid.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            return estimator.fit(X)
        except ValueError as error:
            if gm.SINGULAR_COVARIANCE_MESSAGE not in str(error):
                raise
            return None


def _split_start(estimator, X):
    """weights_init, means_init, precisions_init for K + 1 components: the fitted
    K-component model with its heaviest component split in two.

    The rows the model assigns to that component are cut by the hyperplane through
    their mean normal to their principal axis; each half then gets the mean and
    covariance of its rows (as after a hard-assignment initialisation). None when the
    component holds fewer than two rows or its halves give a singular covariance.
    """
    labels = estimator.predict(X)
    heaviest = int(np.argmax(estimator.weights_))
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
    k = estimator.n_components
    labels[rows[side]] = k
    stats = gm.stats_from_labels(X, labels, k + 1, estimator.covariance_type)
    eps = 10 * np.finfo(X.dtype).eps
    try:
        mass, means, covariances = gm.maximize(
            stats, estimator.covariance_type, estimator.reg_covar, eps
        )
        precisions_chol = gm.precision_cholesky(covariances, estimator.covariance_type)
    except ValueError:
        return None
    return {
        "weights_init": mass / mass.sum(),
        "means_init": means,
        "precisions_init": gm.precisions_from_cholesky(
            precisions_chol, estimator.covariance_type
        ),
    }


# --- the table ------------------------------------------------------------------------


def _log_likelihood_and_entropy(estimator, X):
    """Total log-likelihood of X and entropy of its responsibilities, in chunks."""
    model = estimator._fitted_model()
    log_likelihood = entropy = 0.0
    for start in range(0, X.shape[0], _SCORE_CHUNK_ROWS):
        chunk = ArraySource(X[start : start + _SCORE_CHUNK_ROWS])
        log_prob, resp, _ = chunk.score(model, resp=True)
        log_likelihood += float(np.sum(log_prob))
        entropy -= float(np.sum(xlogy(resp, resp)))
    return log_likelihood, entropy


def _prior_label(prior):
    """The table's prior: None and names as they are, a GaussianPrior by its repr."""
    return prior if prior is None or isinstance(prior, str) else repr(prior)


def _row(estimator, X, prior, warm_started):
    n_samples = X.shape[0]
    log_likelihood, entropy = _log_likelihood_and_entropy(estimator, X)
    n_parameters = estimator._n_parameters()
    bic = -2.0 * log_likelihood + n_parameters * np.log(n_samples)
    return {
        "n_components": estimator.n_components,
        "covariance_type": estimator.covariance_type,
        "prior": _prior_label(prior),
        "log_likelihood": log_likelihood,
        "n_parameters": n_parameters,
        "bic": bic,
        "aic": -2.0 * log_likelihood + 2.0 * n_parameters,
        "icl": bic + 2.0 * entropy,
        "converged": estimator.converged_,
        "n_iter": estimator.n_iter_,
        "warm_started": warm_started,
        "_estimator": estimator,
        "_prior": prior,
    }


def _failed_row(k, covariance_type, prior):
    nan = float("nan")
    return {
        "n_components": k,
        "covariance_type": covariance_type,
        "prior": _prior_label(prior),
        "log_likelihood": nan,
        "n_parameters": -1,
        "bic": nan,
        "aic": nan,
        "icl": nan,
        "converged": False,
        "n_iter": 0,
        "warm_started": False,
        "_estimator": None,
        "_prior": prior,
    }


def _mean_variance(X):
    """Mean over the features of their variance, in float64, chunk by chunk."""
    mean = np.mean(X, axis=0, dtype=np.float64)
    squares = sum(
        np.sum(np.square(X[start : start + _SCORE_CHUNK_ROWS] - mean), axis=0)
        for start in range(0, X.shape[0], _SCORE_CHUNK_ROWS)
    )
    return float(np.mean(squares) / X.shape[0])


def _is_degenerate(estimator, variance_floor):
    """Whether some component's smallest variance (over directions) is at most
    ``variance_floor``."""
    covariances = np.asarray(estimator.covariances_, dtype=np.float64)
    if estimator.covariance_type in ("full", "tied"):
        covariances = np.linalg.eigvalsh(covariances)
    return bool(np.min(covariances) <= variance_floor)


def _pandas_or_none():
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _table(rows):
    """The rows as a pandas DataFrame, or a NumPy structured array without pandas."""
    columns = {name: [row[name] for row in rows] for name, _ in _TABLE_COLUMNS}
    pd = _pandas_or_none()
    if pd is None:
        dtype = [
            (name, f"U{max(map(len, columns[name]))}" if kind is str else kind)
            for name, kind in _TABLE_COLUMNS
        ]
        return np.array(list(zip(*columns.values())), dtype=dtype)
    return pd.DataFrame(
        {
            name: pd.Series(values, dtype=object if kind is str else kind)
            for (name, kind), values in zip(_TABLE_COLUMNS, columns.values())
        }
    )


def _warn_about(rows):
    """Warn once for the failed and the unconverged models; raise if all failed."""
    failed = [row for row in rows if row["_estimator"] is None]
    if len(failed) == len(rows):
        raise ValueError(
            "Every model of the grid failed: " + gm.SINGULAR_COVARIANCE_MESSAGE
        )
    if failed:
        names = ", ".join(
            f"({row['n_components']}, {row['covariance_type']!r}, {row['prior']!r})"
            for row in failed
        )
        warnings.warn(
            f"{len(failed)} of {len(rows)} models failed with a singular covariance "
            f"and have NaN criteria: {names}. Increase reg_covar to fit them.",
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


def _result(rows, criterion, feature_names):
    _warn_about(rows)
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
            "covariance_type": rows[best]["covariance_type"],
            "prior": rows[best]["_prior"],
        },
        best_index_=best,
        table=_table(rows),
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

    def _best(self, X=None):
        """The best model; X, where given, must be finite: :func:`select` fits
        complete data, so NaN is refused here as in fit."""
        check_is_fitted(self)
        if X is not None:
            assert_all_finite(X, estimator_name=type(self).__name__, input_name="X")
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
