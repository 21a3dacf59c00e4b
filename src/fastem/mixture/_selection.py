"""``fastem.select`` (Gaussian mixtures by default, any fastem mixture over a grid)
and GaussianMixtureIC, its scikit-learn estimator; the engine's ``select_models``
fits and ranks the models (see ``fastem._engine.selection`` for the criteria).
"""

from sklearn.base import BaseEstimator, DensityMixin, clone
from sklearn.utils.validation import check_is_fitted

from .._engine.selection import (
    CHOSEN_PARAMS,
    grid_points,
    select_models,
)
from .._families import gaussian as gm
from ._gaussian_mixture import GaussianMixture


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
    lengths=None,
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
    ``priors``; any other fastem mixture or hidden Markov model (``estimator``)
    over ``param_grid``.

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
    lengths : array-like of int or None, default=None
        For hidden Markov models (``estimator`` from :mod:`fastem.hmm`): the
        length of each sequence of X, as their ``fit`` takes it. The criteria
        then use the log-likelihood of the sequences (n the number of frames, as
        hmmlearn's ``bic``) and the entropy of the states' posteriors; restarts
        (``n_init``) are runs seeded ``seed``, ``seed + 1``, ...
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
    return select_models(
        X,
        estimator,
        grid,
        n_components,
        criterion=criterion,
        n_init=n_init,
        random_state=random_state,
        n_jobs=n_jobs,
        warm_start=warm_start,
        lengths=lengths,
    )


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
    return clone(estimator), grid_points(estimator, param_grid)


def _check_params(estimator, params, grid_names):
    known = estimator.get_params()
    for name in params:
        if name in CHOSEN_PARAMS or name in grid_names or name.endswith("_init"):
            raise TypeError(f"select() chooses {name!r} itself; do not pass it")
        if name not in known:
            raise TypeError(f"select() got an unexpected keyword argument {name!r}")
    estimator.set_params(**params)._validate_params()  # bad values fail here, once


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
        The numbers of components to try.
    covariance_types : str or iterable of str, default=all four
        The covariance types to try, among 'full', 'tied', 'diag', 'spherical'.
    criterion : {'bic', 'aic', 'icl'}, default='bic'
        The criterion that picks the best model (lower is better).
    priors : iterable, default=(None,)
        The values of ``prior`` to try (None is maximum likelihood).
    n_init : int, default=1
        EM restarts of each model.
    random_state : int, RandomState instance or None, default=None
        The seed of every model's fit (see :func:`select`).
    n_jobs : int or None, default=None
        Models fitted in parallel (joblib; None is 1, -1 all CPUs).
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
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
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
            The rows, as :func:`select` takes them.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : GaussianMixtureIC
            The fitted estimator.

        Raises
        ------
        ValueError
            When every model of the grid fails to fit (see :func:`select`).
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
        """Most probable component of each row (see GaussianMixture.predict).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows, as the best model's method takes them.

        Returns
        -------
        labels : ndarray of shape (n_samples,), int64
            The index of each row's most probable component.
        """
        return self._best(X).predict(X)

    def predict_proba(self, X):
        """Responsibilities (see GaussianMixture.predict_proba).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows, as the best model's method takes them.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            p(k | x_n) under the best model: each row sums to 1.
        """
        return self._best(X).predict_proba(X)

    def score_samples(self, X):
        """Log-likelihood of each row (see GaussianMixture.score_samples).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows, as the best model's method takes them.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            log p(x_n) under the best model.
        """
        return self._best(X).score_samples(X)

    def score(self, X, y=None):
        """Mean log-likelihood of the rows (see GaussianMixture.score).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows, as the best model's method takes them.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        log_likelihood : float
            The mean of log p(x_n) under the best model.
        """
        return self._best(X).score(X)

    def sample(self, n_samples=1):
        """Samples of the best model (see GaussianMixture.sample).

        Parameters
        ----------
        n_samples : int, default=1
            The number of samples to draw.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The samples, grouped by component.
        y : ndarray of shape (n_samples,), int64
            The component each sample was drawn from.
        """
        return self._best().sample(n_samples)

    def bic(self, X):
        """BIC of the best model on X (see GaussianMixture.bic).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows, as the best model's method takes them.

        Returns
        -------
        bic : float
            -2 log L + p log n of the best model on X.
        """
        return self._best(X).bic(X)

    def aic(self, X):
        """AIC of the best model on X (see GaussianMixture.aic).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows, as the best model's method takes them.

        Returns
        -------
        aic : float
            -2 log L + 2 p of the best model on X.
        """
        return self._best(X).aic(X)
