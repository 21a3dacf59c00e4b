"""Builders of valid Gaussian-mixture parameters, data, memory layouts and kernel
buffers for tests, and a scale-aware comparison of sufficient statistics.

Builders that draw take a ``numpy.random.Generator``, so a test is reproducible
from one seed.
"""

import uuid
from dataclasses import dataclass

import numpy as np

from fastem._families import gaussian as gm
from fastem._families.gaussian_frozen import FrozenGaussianMixture

COVARIANCE_TYPES = gm.COVARIANCE_TYPES

# Memory layouts the kernels must read as they are (see :func:`with_layout`).
LAYOUTS = ("C", "F", "strided", "column subset", "reversed", "read-only", "memmap")

# Row counts around the kernels' boundaries: vectors (2, 4 or 8 rows), padding (16 or
# 32 rows) and chunks (256 rows).
BOUNDARY_ROW_COUNTS = (1, 7, 8, 9, 31, 32, 33, 255, 256, 257, 511, 512, 513)


def random_spd(rng, n_features, scale=1.0):
    """A random symmetric positive-definite matrix, eigenvalues in scale^2 [0.25, 1.25].

    A random rotation of a random diagonal keeps it well conditioned (condition <= 5)
    while its off-diagonal entries are of the same order as its diagonal.
    """
    rotation, _ = np.linalg.qr(rng.normal(size=(n_features, n_features)))
    eigenvalues = scale**2 * rng.uniform(0.25, 1.25, size=n_features)
    return (rotation * eigenvalues) @ rotation.T


def random_covariances(rng, n_components, n_features, covariance_type, scale=1.0):
    """Random valid covariances in the layout of ``covariance_type``.

    Returns
    -------
    covariances : ndarray, float64
        full (K, d, d), tied (d, d), diag (K, d), spherical (K,).
    """
    if covariance_type == "full":
        return np.stack(
            [random_spd(rng, n_features, scale) for _ in range(n_components)]
        )
    if covariance_type == "tied":
        return random_spd(rng, n_features, scale)
    if covariance_type == "diag":
        return scale**2 * rng.uniform(0.25, 1.25, size=(n_components, n_features))
    return scale**2 * rng.uniform(0.25, 1.25, size=n_components)


def dense_covariances(covariances, covariance_type, n_components, n_features):
    """The (K, d, d) covariance matrices that ``covariances`` stand for."""
    if covariance_type == "full":
        return np.asarray(covariances)
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, n_features, n_features))
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return covariances[:, np.newaxis, np.newaxis] * np.eye(n_features)


@dataclass(frozen=True)
class MixtureParams:
    """Valid parameters of a Gaussian mixture, in the layouts the kernels read."""

    covariance_type: str
    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, d) float64, C-contiguous
    covariances: np.ndarray  # layout of covariance_type
    precisions_chol: np.ndarray  # upper-triangular factors, layout of covariance_type
    log_norm: np.ndarray  # (K,)

    @property
    def n_components(self):
        """K."""
        return self.means.shape[0]

    @property
    def n_features(self):
        """d."""
        return self.means.shape[1]

    @property
    def kernel_args(self):
        """(means, precisions_chol, log_norm, covariance_type), as the kernels take."""
        return self.means, self.precisions_chol, self.log_norm, self.covariance_type

    @property
    def frozen(self):
        """The parameters as the engine's sources take them."""
        return FrozenGaussianMixture(*self.kernel_args)

    def dense_covariances(self):
        """(K, d, d) covariance matrices."""
        return dense_covariances(
            self.covariances, self.covariance_type, self.n_components, self.n_features
        )


def make_params(weights, means, covariances, covariance_type):
    """MixtureParams from weights, means and covariances."""
    means = np.ascontiguousarray(means, dtype=np.float64)
    precisions_chol = gm.precision_cholesky(covariances, covariance_type)
    return MixtureParams(
        covariance_type=covariance_type,
        weights=np.asarray(weights, dtype=np.float64),
        means=means,
        covariances=covariances,
        precisions_chol=precisions_chol,
        log_norm=gm.log_norm(weights, precisions_chol, covariance_type, means.shape[1]),
    )


def random_params(
    rng, n_components, n_features, covariance_type, spread=2.0, scale=1.0, centre=0.0
):
    """Random valid parameters: means centre + spread * N(0, 1), covariances of
    ``scale`` (see :func:`random_covariances`), Dirichlet weights."""
    weights = rng.dirichlet(np.full(n_components, 2.0))
    means = centre + spread * rng.normal(size=(n_components, n_features))
    covariances = random_covariances(
        rng, n_components, n_features, covariance_type, scale
    )
    return make_params(weights, means, covariances, covariance_type)


def sample_mixture(rng, params, n_samples):
    """Rows drawn from the mixture, and the component each came from.

    Returns
    -------
    X : ndarray of shape (n_samples, d), float64
    labels : ndarray of shape (n_samples,), intp
    """
    labels = rng.choice(params.n_components, size=n_samples, p=params.weights)
    factors = np.linalg.cholesky(params.dense_covariances())
    noise = rng.normal(size=(n_samples, params.n_features))
    X = params.means[labels] + np.einsum("nij,nj->ni", factors[labels], noise)
    return X, labels


def random_sample_weight(rng, n_samples, zero_fraction=0.25):
    """Non-negative sample weights in [0, 3), about ``zero_fraction`` of them zero."""
    nonzero = rng.uniform(size=n_samples) >= zero_fraction
    return rng.uniform(0.0, 3.0, n_samples) * nonzero


def stats_buffers(n_components, n_features, covariance_type):
    """Preallocated (nk, s1, s2) outputs of ``accumulate`` / ``sufficient_stats``."""
    return (
        np.empty(n_components),
        np.empty((n_components, n_features)),
        np.empty(gm.second_moment_shape(n_components, n_features, covariance_type)),
    )


def score_buffers(n_samples, n_components):
    """Preallocated (log_prob_norm, resp, labels) outputs of ``score``."""
    return (
        np.empty(n_samples),
        np.empty((n_samples, n_components)),
        np.empty(n_samples, dtype=np.intp),
    )


def with_layout(X, layout, directory):
    """The values of ``X`` in the memory layout named ``layout``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    layout : one of LAYOUTS
        'strided' is a view with row and column steps of 2 and 3 into a larger array,
        'column subset' a slice of the middle columns of a wider C array, 'reversed'
        a view with negative strides on both axes, 'memmap' a ``np.memmap`` opened
        with mode 'r'.
    directory : pathlib.Path
        Where the 'memmap' layout writes its file.
    """
    n_samples, n_features = X.shape
    if layout == "C":
        return np.ascontiguousarray(X)
    if layout == "F":
        return np.asfortranarray(X)
    if layout == "strided":
        view = np.zeros((2 * n_samples, 3 * n_features), X.dtype)[::2, ::3]
    elif layout == "column subset":
        view = np.zeros((n_samples, n_features + 2), X.dtype)[:, 1:-1]
    elif layout == "reversed":
        view = np.empty_like(X)[::-1, ::-1]
    elif layout == "read-only":
        view = X.copy()
        view.setflags(write=False)
        return view
    elif layout == "memmap":
        path = directory / f"X-{uuid.uuid4().hex}.bin"
        np.ascontiguousarray(X).tofile(path)
        return np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape)
    else:
        raise ValueError(f"unknown layout {layout!r}")
    view[...] = X
    return view


def assert_stats_close(actual, expected, X, sample_weight, shift, rtol):
    """(nk, s1, s2) equal to ``rtol`` of the sums of the absolute values of their terms.

    Any order of summation is exact to about n * eps of that sum, whatever the
    cancellation between terms, so the tolerance is scale-aware and honest. The bound
    used, total |weight| times the largest |x - c_k| (squared for s2, times d for the
    spherical trace), holds for responsibilities whose rows sum to at most one.
    """
    X = np.asarray(X, dtype=np.float64)
    weights = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight)
    total = np.abs(weights).sum()
    reach = np.max(np.abs(X[:, np.newaxis, :] - shift), initial=0.0)
    scales = (total, total * reach, X.shape[1] * total * reach**2)
    for name, got, want, scale in zip(("nk", "s1", "s2"), actual, expected, scales):
        np.testing.assert_allclose(
            got, want, rtol=rtol, atol=rtol * scale, err_msg=name
        )


class RandomData:
    """Blobs drawn from a known mixture per covariance type (scikit-learn's RandomData).

    Parameters
    ----------
    seed : int
    n_samples, n_components, n_features : int
    spread : float
        Standard deviation of the true means around ``centre``; the covariances have
        unit scale, so a spread of 4 gives well separated blobs.
    centre : float

    Attributes
    ----------
    params : dict of str -> MixtureParams
        The true parameters for each covariance type.
    X : dict of str -> ndarray of shape (n_samples, n_features), float64
    labels : dict of str -> ndarray of shape (n_samples,)
        The component each row of ``X`` was drawn from.
    """

    def __init__(
        self,
        seed=0,
        n_samples=200,
        n_components=3,
        n_features=2,
        spread=4.0,
        centre=0.0,
    ):
        rng = np.random.default_rng(seed)
        self.params, self.X, self.labels = {}, {}, {}
        for covariance_type in COVARIANCE_TYPES:
            params = random_params(
                rng,
                n_components,
                n_features,
                covariance_type,
                spread=spread,
                centre=centre,
            )
            self.params[covariance_type] = params
            self.X[covariance_type], self.labels[covariance_type] = sample_mixture(
                rng, params, n_samples
            )
        self._seed = seed

    def precisions(self, covariance_type):
        """The true precisions in the layout of ``covariance_type``."""
        params = self.params[covariance_type]
        return gm.precisions_from_cholesky(params.precisions_chol, covariance_type)

    def initial_guess(self, covariance_type):
        """A poor but valid start: equal weights, means moved, precisions halved.

        Returns
        -------
        dict
            ``weights_init``, ``means_init`` and ``precisions_init``, ready to pass to
            a GaussianMixture.
        """
        params = self.params[covariance_type]
        rng = np.random.default_rng(self._seed + 1)
        return {
            "weights_init": np.full(params.n_components, 1.0 / params.n_components),
            "means_init": params.means + 0.5 * rng.normal(size=params.means.shape),
            "precisions_init": 0.5 * self.precisions(covariance_type),
        }


# Fitted array attributes of a GaussianMixture, and everything a fit sets.
FITTED_ARRAYS = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
)
FITTED_STATE = FITTED_ARRAYS + (
    "lower_bound_",
    "lower_bounds_",
    "n_iter_",
    "converged_",
)


def assert_identical_fit(got, want):
    """Two fitted GaussianMixtures with the same bits in every fitted attribute."""
    for name in FITTED_STATE:
        np.testing.assert_array_equal(
            getattr(got, name), getattr(want, name), err_msg=name
        )
