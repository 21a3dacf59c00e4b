"""The twin and the model maths against independent oracles: ``scipy.stats``, explicit
loops over rows, NumPy's linear algebra, and scikit-learn's private helpers."""

import inspect

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import multivariate_normal
from sklearn.mixture import GaussianMixture
from sklearn.mixture import _gaussian_mixture as sk

from _builders import (
    COVARIANCE_TYPES,
    assert_stats_close,
    dense_covariances,
    random_covariances,
    random_params,
    random_sample_weight,
    sample_mixture,
    stats_buffers,
)
from fastem._families import gaussian as gm
from fastem._kernels import TWIN
from fastem._latent.mixture import INIT_CHUNK_ROWS, random_resp_chunks

DTYPES = (np.float32, np.float64)

# The twin computes in float64 whatever the input dtype; these oracles too (except
# scikit-learn, which is only compared on float64 data).
RTOL = {np.float32: 1e-12, np.float64: 1e-12}

# Against scikit-learn's M-step, relative to the scales of assert_matches_sklearn
# (differences of about 2e-15 are seen).
SKLEARN_RTOL = 1e-12


def sklearn_eps(dtype):
    """The mass scikit-learn adds to each component: 10 eps of the responsibilities."""
    return 10 * np.finfo(dtype).eps


def assert_matches_sklearn(got, want, X):
    """(nk, means, covariances) equal to scikit-learn's, to SKLEARN_RTOL of their scale.

    scikit-learn forms tied, diag and spherical covariances as E[x x^T] - m m^T, which
    loses digits relative to the data's second moment, so that is their scale.
    """
    scales = (np.max(got[0]), np.max(np.abs(X)), np.max(X**2))
    for name, a, b, scale in zip(("nk", "means", "covariances"), got, want, scales):
        assert_allclose(
            a, b, rtol=SKLEARN_RTOL, atol=SKLEARN_RTOL * scale, err_msg=name
        )


def random_resp(rng, n_samples, n_components):
    """Random responsibilities, rows on the simplex."""
    return rng.dirichlet(np.ones(n_components), size=n_samples)


# --- log-densities and statistics -----------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_weighted_log_prob_matches_scipy(covariance_type):
    rng = np.random.default_rng(0)
    params = random_params(rng, 3, 4, covariance_type)
    X = 3.0 * rng.normal(size=(50, 4))

    got = TWIN.gaussian.weighted_log_prob(X, *params.kernel_args)

    want = np.stack(
        [
            multivariate_normal(mean, covariance).logpdf(X) + np.log(weight)
            for mean, covariance, weight in zip(
                params.means, params.dense_covariances(), params.weights
            )
        ],
        axis=1,
    )
    assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.max(np.abs(want)))


def looped_stats(X, sample_weight, resp, shift, covariance_type):
    """(nk, s1, s2) by one explicit loop over rows and components."""
    n_samples, n_features = X.shape
    n_components = shift.shape[0]
    nk, s1, s2 = stats_buffers(n_components, n_features, covariance_type)
    full = np.zeros((n_components, n_features, n_features))
    nk[:], s1[:] = 0.0, 0.0
    for n in range(n_samples):
        weight = 1.0 if sample_weight is None else sample_weight[n]
        x = X[n].astype(np.float64)
        for k in range(n_components):
            mass = weight * resp[n, k]
            nk[k] += mass
            s1[k] += mass * (x - shift[k])
            full[k] += mass * np.outer(x - shift[k], x - shift[k])
    s2[...] = {
        "full": full,
        "tied": full.sum(axis=0),
        "diag": np.diagonal(full, axis1=1, axis2=2),
        "spherical": np.trace(full, axis1=1, axis2=2),
    }[covariance_type]
    return nk, s1, s2


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_sufficient_stats_match_explicit_loops(covariance_type, dtype, weighted):
    rng = np.random.default_rng(1)
    X = (5.0 + rng.normal(size=(30, 3))).astype(dtype)
    sample_weight = random_sample_weight(rng, 30) if weighted else None
    resp = random_resp(rng, 30, 4)
    shift = rng.normal(size=(4, 3))

    got = stats_buffers(4, 3, covariance_type)
    gm.sufficient_stats(X, sample_weight, resp, shift, covariance_type, *got)

    want = looped_stats(X, sample_weight, resp, shift, covariance_type)
    assert_stats_close(got, want, X, sample_weight, shift, RTOL[dtype])


# --- M-step ---------------------------------------------------------------------------


def shifts(kind, rng, X, n_components):
    """Points c_k to take moments around: the result must not depend on them."""
    if kind == "origin":
        return np.zeros((n_components, X.shape[1]))
    if kind == "data mean":
        return np.tile(X.mean(axis=0), (n_components, 1))
    return X.mean(axis=0) + 3.0 * rng.normal(size=(n_components, X.shape[1]))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("shift_kind", ["origin", "data mean", "random points"])
@pytest.mark.parametrize("reg_covar", [0.0, 1e-3])
def test_maximize_matches_sklearn(covariance_type, shift_kind, reg_covar):
    rng = np.random.default_rng(2)
    params = random_params(rng, 3, 4, covariance_type)
    X, _ = sample_mixture(rng, params, 200)
    resp = random_resp(rng, 200, 3)
    stats = gm.GaussianStats.empty(shifts(shift_kind, rng, X, 3), covariance_type)
    gm.sufficient_stats(
        X, None, resp, stats.shift, covariance_type, stats.nk, stats.s1, stats.s2
    )

    nk, means, covariances = gm.maximize(
        stats, covariance_type, reg_covar, sklearn_eps(np.float64)
    )

    want = sk._estimate_gaussian_parameters(X, resp, reg_covar, covariance_type)
    assert_matches_sklearn((nk, means, covariances), want, X)


# --- precision factors and log-determinants -------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_precision_cholesky_inverts_the_covariances(covariance_type):
    rng = np.random.default_rng(3)
    covariances = random_covariances(rng, 3, 4, covariance_type)

    factors = gm.precision_cholesky(covariances, covariance_type)

    assert_allclose(
        factors,
        sk._compute_precision_cholesky(covariances, covariance_type),
        rtol=1e-12,
        atol=1e-14,
    )
    dense_factors = dense_covariances(factors, covariance_type, 3, 4)
    assert_array_equal(dense_factors, np.triu(dense_factors))
    precisions = dense_factors @ np.swapaxes(dense_factors, 1, 2)
    assert_allclose(
        precisions @ dense_covariances(covariances, covariance_type, 3, 4),
        np.broadcast_to(np.eye(4), (3, 4, 4)),
        atol=1e-12,
    )


def random_precisions(rng, covariance_type):
    """Random valid precisions of 3 components in 4 dimensions (inverse covariances)."""
    covariances = random_covariances(rng, 3, 4, covariance_type)
    return gm.covariances_from_precisions(covariances, covariance_type)


# scikit-learn >= 1.8 takes the array namespace of its private helpers.
SKLEARN_XP = (
    {"xp": np}
    if "xp"
    in inspect.signature(sk._compute_precision_cholesky_from_precisions).parameters
    else {}
)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_precision_cholesky_from_precisions(covariance_type):
    precisions = random_precisions(np.random.default_rng(4), covariance_type)

    factors = gm.precision_cholesky_from_precisions(precisions, covariance_type)

    assert_allclose(
        factors,
        sk._compute_precision_cholesky_from_precisions(
            precisions, covariance_type, **SKLEARN_XP
        ),
        rtol=1e-12,
        atol=1e-14,
    )
    assert_allclose(
        gm.precisions_from_cholesky(factors, covariance_type),
        precisions,
        rtol=1e-12,
        atol=1e-12 * np.max(np.abs(precisions)),
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_covariances_from_cholesky_invert_the_factorisation(covariance_type):
    covariances = random_covariances(np.random.default_rng(7), 3, 4, covariance_type)
    factors = gm.precision_cholesky(covariances, covariance_type)

    assert_allclose(
        gm.covariances_from_cholesky(factors, covariance_type),
        covariances,
        rtol=1e-12,
        atol=1e-12 * np.max(np.abs(covariances)),
    )


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_upper_precision_cholesky_refactors_lower_factors(covariance_type):
    precisions = random_precisions(np.random.default_rng(5), covariance_type)
    lower = np.linalg.cholesky(precisions)
    assert np.any(np.tril(lower, -1))

    upper = gm.upper_precision_cholesky(lower, covariance_type)

    assert upper.flags.c_contiguous and upper.dtype == np.float64
    assert_array_equal(upper, np.triu(upper))
    assert_allclose(
        gm.precisions_from_cholesky(upper, covariance_type),
        precisions,
        rtol=1e-12,
        atol=1e-12 * np.max(np.abs(precisions)),
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_upper_precision_cholesky_keeps_upper_factors(covariance_type):
    covariances = random_covariances(np.random.default_rng(6), 3, 4, covariance_type)
    factors = gm.precision_cholesky(covariances, covariance_type)

    kept = gm.upper_precision_cholesky(np.asfortranarray(factors), covariance_type)

    assert kept.flags.c_contiguous and kept.dtype == np.float64
    assert_array_equal(kept, factors)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_det_cholesky_matches_slogdet(covariance_type):
    covariances = random_covariances(np.random.default_rng(7), 3, 4, covariance_type)
    factors = gm.precision_cholesky(covariances, covariance_type)

    got = gm.log_det_cholesky(factors, covariance_type, 4)

    dense = dense_covariances(covariances, covariance_type, 3, 4)
    sign, log_det = np.linalg.slogdet(dense)
    assert np.all(sign == 1)
    # log |U| = log det(precision) / 2 = -log det(covariance) / 2.
    assert_allclose(np.broadcast_to(got, (3,)), -0.5 * log_det, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_components, n_features", [(1, 1), (3, 4), (7, 2)])
def test_n_parameters_matches_sklearn(covariance_type, n_components, n_features):
    model = GaussianMixture(n_components=n_components, covariance_type=covariance_type)
    model.means_ = np.zeros((n_components, n_features))

    got = gm.n_parameters(n_components, n_features, covariance_type)

    assert got == model._n_parameters()


# Per defect, a broken full (or tied) covariance, diagonal and spherical variance.
BROKEN_COVARIANCES = {
    "rank deficient": (np.ones((3, 3)), np.array([1.0, 0.0, 1.0]), 0.0),
    "negative": (-np.eye(3), np.array([1.0, -1.0, 1.0]), -1.0),
    "not finite": (np.full((3, 3), np.nan), np.array([1.0, np.inf, 1.0]), np.nan),
}


def singular_covariances(covariance_type, defect):
    """Covariances in 3 dimensions; of 2 components, the second broken by ``defect``."""
    full, diag, spherical = BROKEN_COVARIANCES[defect]
    if covariance_type == "tied":
        return full
    good, bad = {
        "full": (np.eye(3), full),
        "diag": (np.ones(3), diag),
        "spherical": (1.0, spherical),
    }[covariance_type]
    return np.stack([good, bad])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("defect", list(BROKEN_COVARIANCES))
def test_singular_covariance_error_names_reg_covar(covariance_type, defect):
    covariances = singular_covariances(covariance_type, defect)

    with pytest.raises(ValueError, match="reg_covar"):
        gm.precision_cholesky(covariances, covariance_type)


# --- statistics of initial assignments ------------------------------------------------


def labelling(kind, rng, n_samples, n_components):
    """Hard assignments as scikit-learn's initialisations make them (-1: none).

    'every row' as after 'kmeans'; 'an empty component' the same but the last
    component gets no row; 'one row each' as 'k-means++' and 'random_from_data' make
    them, every other row belonging to no component.
    """
    if kind == "one row each":
        labels = np.full(n_samples, -1)
        labels[rng.choice(n_samples, n_components, replace=False)] = range(n_components)
        return labels
    n_used = n_components if kind == "every row" else n_components - 1
    return rng.integers(0, n_used, n_samples)


def one_hot(labels, n_components, dtype):
    """The dense responsibilities scikit-learn builds from labels."""
    resp = np.zeros((len(labels), n_components), dtype=dtype)
    labelled = labels >= 0
    resp[np.flatnonzero(labelled), labels[labelled]] = 1
    return resp


LABELLINGS = ["every row", "one row each", "an empty component"]


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", LABELLINGS)
def test_stats_from_labels_match_one_hot_responsibilities(covariance_type, dtype, kind):
    rng = np.random.default_rng(8)
    X = (10.0 + rng.normal(size=(300, 3))).astype(dtype)
    labels = labelling(kind, rng, 300, 4)

    stats = gm.stats_from_labels(X, labels, 4, covariance_type)

    want = stats_buffers(4, 3, covariance_type)
    gm.sufficient_stats(
        X, None, one_hot(labels, 4, dtype), stats.shift, covariance_type, *want
    )
    if covariance_type == "tied":
        # scikit-learn's tied formula counts the uncentred x x^T of unassigned rows.
        unassigned = X[labels < 0].astype(np.float64)
        want[2][...] += unassigned.T @ unassigned
    assert_stats_close(
        (stats.nk, stats.s1, stats.s2), want, X, None, stats.shift, RTOL[dtype]
    )


def random_init_resp(n_samples, n_components, dtype, seed):
    """BaseMixture._initialize_parameters' responsibilities for init_params='random'."""
    resp = np.random.RandomState(seed).uniform(size=(n_samples, n_components))
    resp = resp.astype(dtype)
    resp /= resp.sum(axis=1)[:, np.newaxis]
    return resp


def random_start_stats(X, n_components, covariance_type, random_state):
    """The statistics of scikit-learn's 'random' start, as GaussianMixture takes it."""
    resp = random_resp_chunks(X.shape[0], n_components, random_state, X.dtype)
    return gm.stats_from_resp_chunks(X, resp, n_components, covariance_type)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_samples", [100, 2 * INIT_CHUNK_ROWS + 5])
def test_stats_from_random_resp_match_sklearn_random_init(
    covariance_type, dtype, n_samples
):
    rng = np.random.default_rng(9)
    X = (10.0 + rng.normal(size=(n_samples, 3))).astype(dtype)

    stats = random_start_stats(X, 4, covariance_type, np.random.RandomState(0))

    resp = random_init_resp(n_samples, 4, dtype, seed=0)
    want = stats_buffers(4, 3, covariance_type)
    gm.sufficient_stats(X, None, resp, stats.shift, covariance_type, *want)
    data_mean = X.mean(axis=0, dtype=np.float64)
    assert_allclose(stats.shift, np.broadcast_to(data_mean, (4, 3)))
    assert_stats_close(
        (stats.nk, stats.s1, stats.s2), want, X, None, stats.shift, RTOL[dtype]
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init", LABELLINGS + ["random"])
def test_initial_parameters_match_sklearn(covariance_type, init):
    """The M-step on an initial assignment gives scikit-learn's initial parameters.

    'one row each' is how 'k-means++' and 'random_from_data' start: rows that belong
    to no component have all-zero responsibilities.
    """
    rng = np.random.default_rng(10)
    X = 10.0 + rng.normal(size=(300, 3))
    if init == "random":
        stats = random_start_stats(X, 4, covariance_type, np.random.RandomState(0))
        resp = random_init_resp(300, 4, np.float64, seed=0)
    else:
        labels = labelling(init, rng, 300, 4)
        stats = gm.stats_from_labels(X, labels, 4, covariance_type)
        resp = one_hot(labels, 4, np.float64)

    got = gm.maximize(stats, covariance_type, 1e-6, sklearn_eps(np.float64))

    want = sk._estimate_gaussian_parameters(X, resp, 1e-6, covariance_type)
    assert_matches_sklearn(got, want, X)
