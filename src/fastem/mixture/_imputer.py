"""GaussianMixtureImputer: fill missing values from a Gaussian mixture fitted by EM."""

import inspect

from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._engine.persistence import register_model, save_model
from ._gaussian_mixture import GaussianMixture

# GaussianMixture's parameters, less those of partial_fit (an imputer fits in one go).
_ONLINE_PARAMS = ("learning_offset", "learning_decay")
_MIXTURE_PARAMS = tuple(
    name
    for name in inspect.signature(GaussianMixture).parameters
    if name not in _ONLINE_PARAMS
)


@register_model
class GaussianMixtureImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Replace NaN with their expectation (or a draw) under a Gaussian mixture.

    :meth:`fit` fits a :class:`GaussianMixture` by EM on X with its NaN left in
    (missing at random); :meth:`transform` replaces each NaN of a row by
    E[x_M | x_O] = sum_k p(k | x_O) E[x_M | x_O, k] given its observed
    coordinates x_O, or, with ``sample_posterior=True``, by a draw from
    p(x_M | x_O) (for multiple imputation: fit once, transform several times).
    Observed values pass through unchanged.

    Parameters
    ----------
    n_components, covariance_type, tol, reg_covar, max_iter, n_init, init_params, \
weights_init, means_init, precisions_init
        As in :class:`GaussianMixture`.
    random_state : int, RandomState instance or None, default=None
        Seeds the mixture's initialisation and, with ``sample_posterior=True``, the
        draws (one stream from fit on: successive transforms draw anew).
    warm_start, verbose, verbose_interval, prior, on_degenerate, init_sample_size
        As in :class:`GaussianMixture`.
    sample_posterior : bool, default=False
        Draw each row's missing values from their conditional distribution: a
        component from the responsibilities p(k | x_O), then x_M from that
        component's conditional normal N(E[x_M | x_O, k], Cov[x_M | x_O, k]).

    Attributes
    ----------
    mixture_ : GaussianMixture
        The fitted mixture.
    random_state_ : numpy.random.RandomState
        The stream of the draws.
    n_iter_ : int
        EM iterations of the mixture's best run.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Defined only when X has feature names that are all strings.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import GaussianMixtureImputer
    >>> X = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0], [4.0, np.nan]])
    >>> GaussianMixtureImputer(reg_covar=1e-3).fit_transform(X).round(1)[3]
    array([4., 8.])
    """

    _parameter_constraints: dict = {
        **{
            name: constraint
            for name, constraint in GaussianMixture._parameter_constraints.items()
            if name not in _ONLINE_PARAMS
        },
        "sample_posterior": ["boolean"],
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
        sample_posterior=False,
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
        self.sample_posterior = sample_posterior

    # The draws' stream is not saved: a loaded imputer draws from random_state anew.
    _unsaved_attributes = ("random_state_",)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the mixture on X, NaN left in.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The rows, NaN marking the missing values.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        self : GaussianMixtureImputer
            The fitted imputer.

        Raises
        ------
        ValueError
            As :meth:`GaussianMixture.fit`: for invalid parameters or data (a row
            or column entirely NaN, infinite values, ...).
        """
        params = {name: getattr(self, name) for name in _MIXTURE_PARAMS}
        if self.warm_start and hasattr(self, "mixture_"):
            self.mixture_.set_params(**params)
        else:
            self.mixture_ = GaussianMixture(**params)
        self.mixture_.fit(X, sample_weight=sample_weight)
        self.n_iter_ = self.mixture_.n_iter_
        self.n_features_in_ = self.mixture_.n_features_in_
        if hasattr(self.mixture_, "feature_names_in_"):
            self.feature_names_in_ = self.mixture_.feature_names_in_
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.random_state_ = check_random_state(self.random_state)
        return self

    def transform(self, X):
        """A copy of X with its NaN imputed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            In memory, NaN marking the missing values.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features), of X's float dtype
            X with each NaN replaced by its conditional expectation, or a draw
            (``sample_posterior=True``); the observed values are unchanged.
        """
        check_is_fitted(self)
        return self.mixture_._impute(
            X, self.random_state_ if self.sample_posterior else None
        )

    def save(self, path):
        """Save the imputer to ``path`` in fastem's safe format (no pickle).

        The fitted mixture is saved exactly; the stream of ``sample_posterior``
        draws is not: :func:`fastem.load` starts it again from ``random_state``.

        Parameters
        ----------
        path : str, path-like or binary file object
            Written as given (no extension is added).
        """
        save_model(self, path)

    def _check_loaded(self):
        """Check an imputer read from a file (its mixture checked itself on load)."""
        self._validate_params()
        if "mixture_" not in vars(self):
            return
        if not isinstance(self.mixture_, GaussianMixture):
            raise ValueError("mixture_ must be a GaussianMixture")
        if getattr(self, "n_features_in_", None) != self.mixture_.n_features_in_:
            raise ValueError("n_features_in_ differs from the mixture's")
        self.random_state_ = check_random_state(self.random_state)
