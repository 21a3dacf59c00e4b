"""LowRankImputer: fill missing values from a low-rank model fitted by EM on the
observed entries."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._engine.estimator import checked_sample_weight
from .._engine.persistence import register_model, save_model
from ._factor_models import FactorAnalysis, ProbabilisticPCA

# The most factors the default n_components asks for.
DEFAULT_COMPONENTS = 10


@register_model
class LowRankImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Replace NaN with their expectation (or a draw) under a low-rank Gaussian
    model: factor analysis or probabilistic PCA fitted by EM on the observed
    entries.

    Like scikit-learn's IterativeImputer, a transformer whose :meth:`transform`
    fills each NaN of a row, here by E[x_M | x_O] = W_M E[z | x_O] + mu_M given the
    row's observed entries x_O, or, with ``sample_posterior=True``, by a draw from
    p(x_M | x_O) (multiple imputation: fit once, transform several times). Observed
    values pass through unchanged. One EM pass costs O(nnz q^2 + n q^3): wide data
    is cheap, where an imputer regressing each feature on the others grows with
    n_features^3.

    Parameters
    ----------
    n_components : int or None, default=None
        q, the rank, 1 <= q < n_features; None: min(10, n_features - 1).
    noise : {'diagonal', 'isotropic'}, default='diagonal'
        'diagonal': a noise variance per feature (:class:`FactorAnalysis`);
        'isotropic': one for all (:class:`ProbabilisticPCA`).
    alpha : float, default=0.0
        Precision of a Gaussian prior on the loadings (see
        :class:`ProbabilisticPCA`).
    tol : float, default=1e-6
        Convergence threshold on the change of the mean log-likelihood per row.
    max_iter : int, default=1000
        The most EM iterations (SQUAREM cycles) of the model's fit.
    acceleration : {'squarem', None}, default='squarem'
        'squarem': SQUAREM cycles; None: plain EM (see :class:`ProbabilisticPCA`).
    random_state : int, RandomState instance or None, default=None
        Seeds the model's start and, with ``sample_posterior=True``, the draws (one
        stream from fit on: successive transforms draw anew).
    sample_posterior : bool, default=False
        Draw each row's missing values from p(x_M | x_O): the factors from their
        posterior N(E[z | x_O], M^-1), then x_M = W_M z + mu_M + noise.
    verbose : int, default=0
        1 prints each iteration of the model's fit, 2 also times and changes.

    Attributes
    ----------
    model_ : FactorAnalysis or ProbabilisticPCA
        The fitted model.
    random_state_ : numpy.random.RandomState
        The stream of the draws.
    n_iter_ : int
        EM iterations of the model's fit.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Defined only when X has feature names that are all strings.

    Notes
    -----
    X is dense, NaN marking the missing entries. A row with every entry missing
    gets ``model_.mean_``.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import LowRankImputer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 1)) @ [[1.0, 2.0, 3.0]]
    >>> X += 0.01 * rng.normal(size=X.shape)
    >>> X[0, 2] = np.nan
    >>> imputed = LowRankImputer(1, random_state=0).fit_transform(X)
    >>> bool(abs(imputed[0, 2] - 1.5 * imputed[0, 1]) < 0.05)
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "noise": [StrOptions({"diagonal", "isotropic"})],
        "alpha": [Interval(Real, 0.0, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "acceleration": [StrOptions({"squarem"}), None],
        "random_state": ["random_state"],
        "sample_posterior": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=None,
        *,
        noise="diagonal",
        alpha=0.0,
        tol=1e-6,
        max_iter=1000,
        acceleration="squarem",
        random_state=None,
        sample_posterior=False,
        verbose=0,
    ):
        self.n_components = n_components
        self.noise = noise
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter
        self.acceleration = acceleration
        self.random_state = random_state
        self.sample_posterior = sample_posterior
        self.verbose = verbose

    # The draws' stream is not saved: a loaded imputer draws from random_state anew.
    _unsaved_attributes = ("random_state_",)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _model(self, n_features, total_weight):
        n_components = self.n_components
        if n_components is None:
            n_components = max(1, min(DEFAULT_COMPONENTS, n_features - 1))
        options = {
            "tol": self.tol,
            "max_iter": self.max_iter,
            "alpha": self.alpha,
            "acceleration": self.acceleration,
            "random_state": self.random_state,
            "verbose": self.verbose,
        }
        if self.noise == "isotropic":
            return ProbabilisticPCA(n_components, **options)
        # FactorAnalysis's tol is on the total log-likelihood, the imputer's on the
        # mean, as every other fastem model's.
        options["tol"] = self.tol * total_weight
        return FactorAnalysis(n_components, **options)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the model on X, NaN left in.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Dense rows, NaN marking the missing entries.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        self : LowRankImputer
            The fitted imputer.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import LowRankImputer
        >>> X = np.outer(np.arange(1.0, 21.0), [1.0, 2.0, 3.0])
        >>> X += np.random.default_rng(0).normal(scale=0.01, size=X.shape)
        >>> X[0, 2] = np.nan
        >>> imputer = LowRankImputer(1, random_state=0).fit(X)
        >>> imputer.model_.components_.shape
        (1, 3)
        """
        X = self._validated(X, reset=True)
        sample_weight = checked_sample_weight(sample_weight, X)
        total_weight = X.shape[0] if sample_weight is None else np.sum(sample_weight)
        self.model_ = self._model(X.shape[1], float(total_weight))
        self.model_.fit(X, sample_weight=sample_weight)
        self.n_iter_ = self.model_.n_iter_
        self.random_state_ = check_random_state(self.random_state)
        return self

    def _validated(self, X, reset):
        """Dense float32 / float64 X, NaN allowed (the model checks it further)."""
        return validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            ensure_all_finite="allow-nan",
            ensure_min_samples=2 if reset else 1,
            reset=reset,
        )

    def transform(self, X):
        """A copy of X with its NaN imputed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Dense rows, NaN marking the missing entries.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features), of X's float dtype
            X with each NaN replaced by its expectation given the row's observed
            entries, or with ``sample_posterior=True`` by a draw; the observed
            values unchanged.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import LowRankImputer
        >>> X = np.outer(np.arange(1.0, 21.0), [1.0, 2.0, 3.0])
        >>> X += np.random.default_rng(0).normal(scale=0.01, size=X.shape)
        >>> X[0, 2] = np.nan
        >>> imputed = LowRankImputer(1, random_state=0).fit(X).transform(X)
        >>> round(float(imputed[0, 2]), 1)
        3.0
        """
        check_is_fitted(self)
        X = self._validated(X, reset=False)
        return self.model_._imputed(
            X, self.random_state_ if self.sample_posterior else None
        )

    def save(self, path):
        """Save the imputer to ``path`` in fastem's safe format (no pickle).

        The fitted model is saved exactly; the stream of ``sample_posterior``
        draws is not: :func:`fastem.load` starts it again from ``random_state``.

        Parameters
        ----------
        path : str, path-like or binary file object
            Written as given (no extension is added).

        Examples
        --------
        >>> import numpy as np
        >>> import fastem
        >>> X = np.outer(np.arange(1.0, 21.0), [1.0, 2.0, 3.0])
        >>> X += np.random.default_rng(0).normal(scale=0.01, size=X.shape)
        >>> X[0, 2] = np.nan
        >>> imputer = fastem.LowRankImputer(1, random_state=0).fit(X)
        >>> imputer.save("imputer.npz")
        >>> loaded = fastem.load("imputer.npz")
        >>> bool(np.array_equal(loaded.transform(X), imputer.transform(X)))
        True
        """
        save_model(self, path)

    def _check_loaded(self):
        """Check an imputer read from a file (its model checked itself on load)."""
        self._validate_params()
        if "model_" not in vars(self):
            return
        if not isinstance(self.model_, (FactorAnalysis, ProbabilisticPCA)):
            raise ValueError("model_ must be a FactorAnalysis or ProbabilisticPCA")
        if getattr(self, "n_features_in_", None) != self.model_.n_features_in_:
            raise ValueError("n_features_in_ differs from the model's")
        self.random_state_ = check_random_state(self.random_state)
