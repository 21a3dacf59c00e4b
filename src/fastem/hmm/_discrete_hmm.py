"""CategoricalHMM and PoissonHMM: hidden Markov models of symbols and of counts,
hmmlearn's API."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import validate_data

from .._engine.persistence import register_model
from .._families.categorical import FrozenCategorical
from .._families.poisson import FrozenPoisson
from .._latent.markov import check_distribution
from ._base import BaseHMM


def _first_bad(X, bad, what):
    row, column = np.unravel_index(int(np.argmax(bad)), bad.shape)
    count = int(np.count_nonzero(bad))
    value = X[row, column]
    value = value.item() if hasattr(value, "item") else value
    return (
        f"X[{row}, {column}] = {value!r} is not {what} "
        f"({count} such entr{'y' if count == 1 else 'ies'})"
    )


@register_model
class CategoricalHMM(BaseHMM):
    """Hidden Markov model with categorical (discrete symbol) emissions: a drop-in
    for hmmlearn's ``CategoricalHMM``.

    Parameters
    ----------
    n_components : int, default=1
        Number of states.
    startprob_prior, transmat_prior : float or array-like, default=1.0
        Dirichlet concentrations of ``startprob_`` and of each row of
        ``transmat_`` (1: maximum likelihood).
    emissionprob_prior : float or array-like, default=1.0
        Dirichlet concentrations of each row of ``emissionprob_``.
    n_features : int or None, default=None
        The number of symbols; None: the largest symbol of the training frames plus
        one (set by ``fit``, as hmmlearn does).
    algorithm, random_state, n_iter, tol, verbose
        As in :class:`GaussianHMM`.
    params, init_params : str, default='ste'
        's' startprob, 't' transmat, 'e' emissionprob.
    implementation, on_degenerate, learning_offset, learning_decay
        As in :class:`GaussianHMM`.

    Attributes
    ----------
    startprob_, transmat_, monitor_, converged_, n_iter_, lower_bound_, \
lower_bounds_, n_reseeds_
        As in :class:`GaussianHMM`.
    emissionprob_ : ndarray of shape (n_components, n_features)
        The probability of each symbol in each state.

    Notes
    -----
    X has shape (n_samples, 1): one integer symbol per frame (an integer array, or
    floats holding integers). NaN in a float X is a missing symbol: the frame
    contributes only the chain.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem.hmm import CategoricalHMM
    >>> X = np.array([[0], [0], [1], [0], [2], [2], [1], [2], [2], [2]])
    >>> model = CategoricalHMM(2, n_iter=20, random_state=0).fit(X, [5, 5])
    >>> model.emissionprob_.shape
    (2, 3)
    >>> model.predict(X, [5, 5]).shape
    (10,)
    """

    _parameter_constraints: dict = {
        **BaseHMM._parameter_constraints,
        "emissionprob_prior": ["array-like", Real],
        "n_features": [Interval(Integral, 1, None, closed="left"), None],
    }

    _emission_letters = "e"

    def __init__(
        self,
        n_components=1,
        startprob_prior=1.0,
        transmat_prior=1.0,
        *,
        emissionprob_prior=1.0,
        n_features=None,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="ste",
        init_params="ste",
        implementation="log",
        on_degenerate="reseed",
        learning_offset=10.0,
        learning_decay=0.7,
    ):
        self.n_components = n_components
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.emissionprob_prior = emissionprob_prior
        self.n_features = n_features
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.on_degenerate = on_degenerate
        self.learning_offset = learning_offset
        self.learning_decay = learning_decay

    def _missing_values(self):
        return "native"  # the family reads a missing symbol itself

    def _validate_frames(self, X, *, reset, fitting):
        X = validate_data(
            self,
            X,
            dtype=None,
            reset=reset,
            ensure_min_samples=1,
            ensure_all_finite="allow-nan",
        )
        if X.dtype.kind not in "iubf":
            raise ValueError(f"Symbols should be integers, got dtype {X.dtype}")
        if X.shape[1] != 1:
            raise ValueError(
                f"X must have one column of integer symbols (n_samples, 1), got "
                f"{X.shape[1]} columns"
            )
        if X.dtype.kind == "f":
            seen = X[~np.isnan(X)]
            if np.any(seen != np.round(seen)):
                raise ValueError(
                    "Symbols should be integers: "
                    + _first_bad(X, (X != np.round(X)) & ~np.isnan(X), "an integer")
                )
        negative = X < 0
        if np.any(negative):
            raise ValueError(
                "Symbols should be nonnegative: "
                + _first_bad(X, negative, "a non-negative symbol")
            )
        largest = np.nanmax(X) if np.any(~np.isnan(X.astype(np.float64))) else -1
        self._check_largest_symbol(largest, fitting)
        return X

    def _check_largest_symbol(self, largest, fitting):
        """The alphabet checked against the largest symbol (-1 for none), and, when
        fitting without ``n_features``, set from it."""
        n_symbols = self._n_symbols(largest if fitting else None)
        if n_symbols is not None and largest >= n_symbols:
            raise ValueError(
                f"Largest symbol is {int(largest)} but the model only emits symbols "
                f"up to {n_symbols - 1}"
            )

    def _largest_frame_value(self, largest):
        self._check_largest_symbol(-1 if np.isnan(largest) else largest, True)

    def _n_symbols(self, largest):
        """The number of symbols: ``n_features``; else, when fitting, the one of a
        kept ``emissionprob_`` or the largest symbol plus one (then set, as hmmlearn
        sets it); else the fitted ``emissionprob_``'s."""
        if self.n_features is not None:
            return self.n_features
        if hasattr(self, "emissionprob_") and (
            largest is None or "e" not in self.init_params
        ):
            return np.shape(self.emissionprob_)[1]
        if largest is None:
            return None
        self.n_features = int(largest) + 1
        return self.n_features

    def _initial_emission(self, source, random_state):
        """hmmlearn's start: uniform draws normalised per state, from a fresh
        RandomState of an int ``random_state`` (hmmlearn's own)."""
        K, M = self.n_components, self._n_symbols(None)
        if self._needs_init("e", "emissionprob_"):
            rng = check_random_state(self.random_state)
            emissionprob = rng.rand(K, M)
            emissionprob /= emissionprob.sum(axis=1, keepdims=True)
            return emissionprob
        return check_distribution(self.emissionprob_, "emissionprob_", (K, M))

    def _maximize_emission(self, stats, emission):
        if "e" not in self.params:
            return emission
        values = np.maximum(
            np.asarray(self.emissionprob_prior, dtype=np.float64) - 1 + stats.counts,
            0,
        )
        total = values.sum(axis=1, keepdims=True)
        return values / np.where(total == 0, 1.0, total)

    def _frozen_emission(self, emission):
        with np.errstate(divide="ignore"):
            return FrozenCategorical(np.log(emission))

    def _set_emission(self, emission):
        self.emissionprob_ = np.array(emission, dtype=np.float64)

    def _fitted_emission(self):
        if not hasattr(self, "emissionprob_"):
            raise ValueError("a fitted CategoricalHMM needs emissionprob_")
        M = np.shape(self.emissionprob_)[-1]
        if self.n_features is not None and self.n_features != M:
            raise ValueError(
                f"emissionprob_ must have shape ({self.n_components}, "
                f"{self.n_features})"
            )
        return check_distribution(
            self.emissionprob_, "emissionprob_", (self.n_components, M)
        )

    def _emission_n_parameters(self):
        return self.n_components * (np.shape(self.emissionprob_)[1] - 1)

    def _generate_sample_from_state(self, state, random_state, emission):
        cdf = np.cumsum(emission[state, :])
        return [(cdf > random_state.rand()).argmax()]

    def _degenerate_emission(self, emission):
        return ~(emission.sum(axis=1) > 0)

    def _emission_subset(self, emission, states):
        return self._frozen_emission(emission[states])

    def _reseed_emission(self, emission, degenerate, frames):
        """Each degenerate state emits one of ``frames``' symbols with probability
        1/2 + 1/(2M), the others 1/(2M) each (uniform where the symbol is
        missing)."""
        emission = np.array(emission)
        M = emission.shape[1]
        for k, frame in zip(np.flatnonzero(degenerate), frames):
            row = np.full(M, 1.0 / M)
            if not np.isnan(np.float64(frame[0])):
                row = 0.5 * row
                row[int(frame[0])] += 0.5
            emission[k] = row
        return emission


@register_model
class PoissonHMM(BaseHMM):
    """Hidden Markov model with Poisson emissions (independent counts per feature):
    a drop-in for hmmlearn's ``PoissonHMM``.

    Parameters
    ----------
    n_components : int, default=1
        Number of states.
    startprob_prior, transmat_prior : float or array-like, default=1.0
        Dirichlet concentrations of ``startprob_`` and of each row of
        ``transmat_`` (1: maximum likelihood).
    lambdas_prior, lambdas_weight : float or array-like, default=0.0
        The gamma prior of the rates (alpha, beta), as hmmlearn applies it:
        lambda_kj = (alpha + n y_kj) / (beta + n), y_kj the state's mean count and
        n the frames' total posterior mass.
    algorithm, random_state, n_iter, tol, verbose
        As in :class:`GaussianHMM`.
    params, init_params : str, default='stl'
        's' startprob, 't' transmat, 'l' lambdas.
    implementation, on_degenerate, learning_offset, learning_decay
        As in :class:`GaussianHMM`.

    Attributes
    ----------
    startprob_, transmat_, monitor_, converged_, n_iter_, lower_bound_, \
lower_bounds_, n_reseeds_, n_features
        As in :class:`GaussianHMM`.
    lambdas_ : ndarray of shape (n_components, n_features)
        Each state's rate of each feature.

    Notes
    -----
    X holds non-negative integer counts; NaN is a missing count, which drops out of
    its frame's likelihood (features are independent given the state).

    Examples
    --------
    >>> import numpy as np
    >>> from fastem.hmm import PoissonHMM
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.poisson(1, (50, 2)), rng.poisson(9, (50, 2))])
    >>> model = PoissonHMM(2, random_state=0).fit(X)
    >>> np.sort(model.lambdas_[:, 0]).round()
    array([1., 9.])
    """

    _parameter_constraints: dict = {
        **BaseHMM._parameter_constraints,
        "lambdas_prior": ["array-like", Real],
        "lambdas_weight": ["array-like", Real],
    }

    _emission_letters = "l"

    def __init__(
        self,
        n_components=1,
        startprob_prior=1.0,
        transmat_prior=1.0,
        lambdas_prior=0.0,
        lambdas_weight=0.0,
        algorithm="viterbi",
        random_state=None,
        n_iter=10,
        tol=1e-2,
        verbose=False,
        params="stl",
        init_params="stl",
        implementation="log",
        on_degenerate="reseed",
        learning_offset=10.0,
        learning_decay=0.7,
    ):
        self.n_components = n_components
        self.startprob_prior = startprob_prior
        self.transmat_prior = transmat_prior
        self.lambdas_prior = lambdas_prior
        self.lambdas_weight = lambdas_weight
        self.algorithm = algorithm
        self.random_state = random_state
        self.n_iter = n_iter
        self.tol = tol
        self.verbose = verbose
        self.params = params
        self.init_params = init_params
        self.implementation = implementation
        self.on_degenerate = on_degenerate
        self.learning_offset = learning_offset
        self.learning_decay = learning_decay

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags

    def _missing_values(self):
        return "native"  # features are independent: a missing count drops out

    def _validate_frames(self, X, *, reset, fitting):
        X = validate_data(
            self,
            X,
            dtype=[np.float64, np.float32],
            reset=reset,
            ensure_min_samples=1,
            ensure_all_finite="allow-nan",
        )
        seen = ~np.isnan(X)
        bad = seen & ((X < 0) | (X != np.round(X)))
        if np.any(bad):
            raise ValueError(
                "PoissonHMM reads counts: "
                + _first_bad(X, bad, "a non-negative integer")
            )
        if fitting and np.any(~seen.any(axis=0)):
            column = int(np.flatnonzero(~seen.any(axis=0))[0])
            raise ValueError(f"Column {column} of X is entirely NaN")
        if not reset and hasattr(self, "lambdas_"):
            n_features = np.shape(self.lambdas_)[1]
            if X.shape[1] != n_features:
                raise ValueError(
                    f"X has {X.shape[1]} features, but the model has {n_features}"
                )
        return X

    def _initial_emission(self, source, random_state):
        """hmmlearn's start: rates drawn from the gamma distribution whose mean and
        variance are the counts' (method of moments), from a fresh RandomState of
        an int ``random_state``."""
        K, d = self.n_components, source.n_features
        if not self._needs_init("l", "lambdas_"):
            lambdas = np.array(self.lambdas_, dtype=np.float64)
            if lambdas.shape != (K, d) or not np.all(lambdas >= 0):
                raise ValueError(
                    f"lambdas_ must be non-negative rates of shape ({K}, {d})"
                )
            return lambdas
        X = source.X
        weight = source.sample_weight
        if weight is None and not np.isnan(X).any():
            mean, var = X.mean(), X.var()
        else:
            values = X.astype(np.float64)
            frame_weight = np.ones(len(X)) if weight is None else weight
            weights = np.where(np.isnan(values), 0.0, frame_weight[:, None])
            values = np.where(np.isnan(values), 0.0, values)
            mean = float(np.sum(weights * values) / np.sum(weights))
            var = float(np.sum(weights * (values - mean) ** 2) / np.sum(weights))
        rng = check_random_state(self.random_state)
        return rng.gamma(shape=mean**2 / var, scale=var / mean, size=(K, d))

    def _maximize_emission(self, stats, emission):
        if "l" not in self.params:
            return emission
        alphas = np.asarray(self.lambdas_prior, dtype=np.float64)
        betas = np.asarray(self.lambdas_weight, dtype=np.float64)
        n = stats.m.sum(axis=0)  # hmmlearn's total mass, per feature for NaN
        with np.errstate(invalid="ignore", divide="ignore"):
            y_bar = stats.s / stats.m
            return (alphas + n * y_bar) / (betas + n)

    def _frozen_emission(self, emission):
        return FrozenPoisson(np.ascontiguousarray(emission, dtype=np.float64))

    def _set_emission(self, emission):
        self.lambdas_ = np.array(emission, dtype=np.float64)
        self.n_features = self.lambdas_.shape[1]

    def _fitted_emission(self):
        if not hasattr(self, "lambdas_"):
            raise ValueError("a fitted PoissonHMM needs lambdas_")
        lambdas = np.atleast_2d(np.array(self.lambdas_, dtype=np.float64))
        if lambdas.shape[0] != self.n_components:
            raise ValueError("lambdas_ must have shape (n_components, n_features)")
        if not np.all(np.isfinite(lambdas)) or np.any(lambdas < 0):
            raise ValueError("lambdas_ must hold finite, non-negative rates")
        return lambdas

    def _emission_n_parameters(self):
        return self.n_components * np.shape(self.lambdas_)[1]

    def _generate_sample_from_state(self, state, random_state, emission):
        return random_state.poisson(emission[state])

    def _degenerate_emission(self, emission):
        return ~np.all(np.isfinite(emission), axis=1)

    def _emission_subset(self, emission, states):
        return self._frozen_emission(emission[states])

    def _reseed_emission(self, emission, degenerate, frames):
        """Each degenerate state's rates at one of ``frames``' counts (missing: the
        sound states' mean rate), at least 1e-3."""
        emission = np.array(emission)
        fallback = np.mean(emission[~degenerate], axis=0)
        frames = np.asarray(frames, dtype=np.float64)
        emission[degenerate] = np.maximum(
            np.where(np.isnan(frames), fallback, frames), 1e-3
        )
        return emission
