"""MAP estimation: the M-step against the closed-form posterior mode, the log prior
against scipy.stats, the vanishing prior against maximum likelihood, and the
promises of EM on the log posterior.
"""

import math
import shutil
import subprocess
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats as sps
from sklearn.base import clone
from sklearn.datasets import load_iris

from _builders import (
    COVARIANCE_TYPES,
    RandomData,
    dense_covariances,
    random_covariances,
)
from fastem import GaussianMixture, GaussianPrior
from fastem._engine.patterns import MissingValueSource, mean_imputed
from fastem._engine.sources import ArraySource
from fastem._engine.streams import ChunkSource, as_source
from fastem._families import gaussian as gm
from fastem._families.gaussian import sufficient_stats
from fastem._families.gaussian_prior import as_gaussian_prior, flat_degrees_of_freedom
from fastem.mixture._gaussian_mixture import _data_moments

N_FEATURES, N_COMPONENTS = 3, 4

ignore_convergence = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


def numpy_moments(X):
    """The data moments a prior's defaults take, by NumPy."""
    return lambda: (X.mean(axis=0), np.cov(X, rowvar=False))


def random_prior(rng, covariance_type, n_features=N_FEATURES):
    """A proper prior with every hyperparameter away from its default."""
    scale = random_covariances(rng, 1, n_features, covariance_type, scale=0.7)
    if covariance_type != "tied":
        scale = scale[0]
    return GaussianPrior(
        weight_concentration=rng.uniform(1.0, 3.0),
        mean_prior=rng.normal(size=n_features),
        mean_precision=rng.uniform(0.05, 2.0),
        degrees_of_freedom=n_features + rng.uniform(0.5, 4.0),
        covariance_prior=scale,
    )


def responsibilities(rng, n_samples, n_components):
    resp = rng.uniform(size=(n_samples, n_components)) ** 3
    return resp / resp.sum(axis=1, keepdims=True)


def posterior_mode(X, resp, prior, covariance_type):
    """Fraley & Raftery's (2007) posterior mode, written from raw X and resp.

    Weights (N_k + alpha - 1) / (N + K (alpha - 1)); means the shrunk sample means;
    covariances (Lambda + W_k + kappa N_k / (kappa + N_k) (xbar_k - mu_0)(...)^T)
    over the type's denominator, W_k the scatter around the sample mean xbar_k.
    """
    n_samples, n_features = X.shape
    n_components = resp.shape[1]
    alpha, kappa = prior.weight_concentration, prior.mean_precision
    nu, scale, mu0 = prior.degrees_of_freedom, prior.covariance_prior, prior.mean_prior
    nk = resp.sum(axis=0)
    weights = (nk + alpha - 1.0) / (n_samples + n_components * (alpha - 1.0))
    xbar = resp.T @ X / nk[:, None]
    means = (nk[:, None] * xbar + kappa * mu0) / (nk[:, None] + kappa)
    scatters = []
    for k in range(n_components):
        diff = X - xbar[k]
        shrink = (
            kappa * nk[k] / (kappa + nk[k]) * np.outer(xbar[k] - mu0, xbar[k] - mu0)
        )
        scatters.append((resp[:, k, None] * diff).T @ diff + shrink)
    scatters = np.array(scatters)
    if covariance_type == "full":
        denominator = nu + nk + n_features + 2.0
        covariances = (scale + scatters) / denominator[:, None, None]
    elif covariance_type == "tied":
        denominator = nu + n_samples + n_components + n_features + 1.0
        covariances = (scale + scatters.sum(axis=0)) / denominator
    elif covariance_type == "diag":
        diagonals = np.diagonal(scatters, axis1=1, axis2=2)
        covariances = (scale + diagonals) / (nu + nk + 3.0)[:, None]
    else:
        traces = np.trace(scatters, axis1=1, axis2=2)
        covariances = (scale + traces) / (nu + (nk + 1.0) * n_features + 2.0)
    return weights, means, covariances


def scipy_log_prior(prior, weights, means, covariances, covariance_type):
    """log p(theta) of a proper prior, term by term from scipy.stats."""
    n_components, n_features = means.shape
    alpha, kappa = prior.weight_concentration, prior.mean_precision
    nu, scale, mu0 = prior.degrees_of_freedom, prior.covariance_prior, prior.mean_prior
    total = sps.dirichlet(np.full(n_components, alpha)).logpdf(weights)
    dense = covariances
    if covariance_type == "tied":
        total += sps.invwishart(df=nu, scale=scale).logpdf(covariances)
        dense = np.broadcast_to(covariances, (n_components, n_features, n_features))
    for k in range(n_components):
        if covariance_type == "full":
            total += sps.invwishart(df=nu, scale=scale).logpdf(covariances[k])
        elif covariance_type == "diag":
            total += np.sum(sps.invgamma(nu / 2, scale=scale / 2).logpdf(dense[k]))
        elif covariance_type == "spherical":
            total += sps.invgamma(nu / 2, scale=scale / 2).logpdf(dense[k])
        if covariance_type in ("diag", "spherical"):
            total += np.sum(sps.norm(mu0, np.sqrt(dense[k] / kappa)).logpdf(means[k]))
        else:
            total += sps.multivariate_normal(mu0, dense[k] / kappa).logpdf(means[k])
    return total


def m_step(X, resp, prior, covariance_type, shift):
    """fastem's M-step from the statistics of (X, resp) taken around ``shift``."""
    resolved = prior.resolve(
        X.shape[1], resp.shape[1], covariance_type, numpy_moments(X)
    )
    stats = gm.GaussianStats.empty(shift, covariance_type)
    sufficient_stats(
        X, None, resp, stats.shift, covariance_type, stats.nk, stats.s1, stats.s2
    )
    mass, means, covariances = gm.maximize(stats, covariance_type, 0.0, 1e-15, resolved)
    return mass / mass.sum(), means, covariances, resolved


# --- the M-step and the log prior -----------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_m_step_is_the_closed_form_posterior_mode(covariance_type, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(50, N_FEATURES)) * [1.0, 3.0, 0.2] + 100.0
    resp = responsibilities(rng, len(X), N_COMPONENTS)
    prior = random_prior(rng, covariance_type)
    prior = GaussianPrior(**{**prior.__dict__, "mean_prior": prior.mean_prior + 100})
    # Statistics around arbitrary shifts: the mode must not depend on them.
    shift = 100.0 + rng.normal(size=(N_COMPONENTS, N_FEATURES))

    weights, means, covariances, _ = m_step(X, resp, prior, covariance_type, shift)

    want = posterior_mode(X, resp, prior, covariance_type)
    assert_allclose(weights, want[0], rtol=1e-12)
    assert_allclose(means, want[1], rtol=1e-12)
    assert_allclose(covariances, want[2], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_log_prior_density_equals_scipy_stats(covariance_type):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, N_FEATURES))
    prior = random_prior(rng, covariance_type)
    resolved = prior.resolve(
        N_FEATURES, N_COMPONENTS, covariance_type, numpy_moments(X)
    )
    weights = rng.dirichlet(np.ones(N_COMPONENTS))
    means = rng.normal(size=(N_COMPONENTS, N_FEATURES))
    covariances = random_covariances(rng, N_COMPONENTS, N_FEATURES, covariance_type)
    precisions_chol = gm.precision_cholesky(covariances, covariance_type)

    got = resolved.log_density(weights, means, precisions_chol)

    want = scipy_log_prior(prior, weights, means, covariances, covariance_type)
    assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_m_step_maximises_the_expected_log_posterior(covariance_type):
    """The mode beats nearby points of Q = E[log p(X, Z | theta)] + log p(theta)."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, N_FEATURES))
    resp = responsibilities(rng, len(X), N_COMPONENTS)
    prior = random_prior(rng, covariance_type)
    weights, means, covariances, _ = m_step(
        X, resp, prior, covariance_type, np.zeros((N_COMPONENTS, N_FEATURES))
    )

    def q(weights, means, covariances):
        dense = dense_covariances(
            covariances, covariance_type, N_COMPONENTS, N_FEATURES
        )
        expected = sum(
            resp[:, k]
            @ (
                np.log(weights[k])
                + sps.multivariate_normal(means[k], dense[k]).logpdf(X)
            )
            for k in range(N_COMPONENTS)
        )
        return expected + scipy_log_prior(
            prior, weights, means, covariances, covariance_type
        )

    best = q(weights, means, covariances)
    for _ in range(20):
        nudged_weights = weights * np.exp(0.05 * rng.normal(size=weights.shape))
        nudged = (
            nudged_weights / nudged_weights.sum(),
            means + 0.05 * rng.normal(size=means.shape),
            nudged_covariances(rng, covariances, covariance_type),
        )
        assert q(*nudged) < best


def nudged_covariances(rng, covariances, covariance_type):
    """Covariances moved a little, staying positive definite."""
    if covariance_type in ("diag", "spherical"):
        return covariances * np.exp(0.05 * rng.normal(size=covariances.shape))
    stacked = covariances if covariance_type == "full" else covariances[None]
    factors = np.eye(stacked.shape[-1]) + 0.03 * rng.normal(size=stacked.shape)
    nudged = factors @ stacked @ factors.transpose(0, 2, 1)
    return nudged if covariance_type == "full" else nudged[0]


# --- fits -----------------------------------------------------------------------------


def vanishing_prior(covariance_type, n_features, n_components):
    """kappa -> 0, Lambda = 0, alpha = 1, nu just above its flat limit."""
    flat = flat_degrees_of_freedom(covariance_type, n_features, n_components)
    scale = np.zeros((n_features, n_features))
    if covariance_type == "diag":
        scale = np.zeros(n_features)
    elif covariance_type == "spherical":
        scale = 0.0
    return {
        "weight_concentration": 1.0,
        "mean_precision": 1e-13,
        "degrees_of_freedom": flat + 1e-13,
        "covariance_prior": scale,
    }


@ignore_convergence
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_vanishing_prior_equals_maximum_likelihood(covariance_type):
    X = RandomData(seed=3, spread=2.0).X[covariance_type]
    params = dict(covariance_type=covariance_type, random_state=0, max_iter=20)
    prior = vanishing_prior(covariance_type, X.shape[1], 3)

    ml = GaussianMixture(3, **params).fit(X)
    map_ = GaussianMixture(3, prior=prior, **params).fit(X)

    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert_allclose(getattr(map_, name), getattr(ml, name), rtol=1e-8)
    assert_allclose(map_.lower_bounds_, ml.lower_bounds_, rtol=1e-8)
    assert map_.n_iter_ == ml.n_iter_


@ignore_convergence
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_lower_bound_never_decreases_with_a_prior(covariance_type):
    X = RandomData(seed=5, spread=2.0).X[covariance_type]
    gmm = GaussianMixture(
        3,
        covariance_type=covariance_type,
        reg_covar=0,
        warm_start=True,
        max_iter=1,
        init_params="random",
        random_state=0,
        tol=1e-9,
        prior="default",
    )
    lower_bounds = []
    for _ in range(40):
        lower_bounds.append(gmm.fit(X).lower_bound_)
        if gmm.converged_:
            break

    assert len(lower_bounds) > 3
    assert np.all(np.diff(lower_bounds) >= -1e-13 * abs(lower_bounds[-1]))
    assert lower_bounds[-1] > lower_bounds[0]
    one_run = gmm.set_params(warm_start=False, max_iter=200).fit(X).lower_bounds_
    assert np.all(np.diff(one_run) >= -1e-13 * abs(one_run[-1]))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_lower_bound_is_the_mean_log_posterior(covariance_type):
    X = RandomData(seed=7, spread=2.0).X[covariance_type]
    prior = random_prior(np.random.default_rng(7), covariance_type, X.shape[1])
    gmm = GaussianMixture(
        3,
        covariance_type=covariance_type,
        prior=prior,
        max_iter=1,
        warm_start=True,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gmm.fit(X)
        before = (gmm.weights_, gmm.means_, gmm.covariances_)
        mean_log_likelihood = gmm.score(X)
        gmm.fit(X)  # its lower bound is that of the parameters it started from

    log_prior = scipy_log_prior(prior, *before, covariance_type)
    assert_allclose(
        gmm.lower_bound_, mean_log_likelihood + log_prior / len(X), rtol=1e-10
    )


@ignore_convergence  # KMeans finds fewer distinct clusters than components
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_map_fits_where_maximum_likelihood_collapses(covariance_type):
    rng = np.random.default_rng(8)
    duplicates = np.repeat(rng.normal(size=(4, 3)), 5, axis=0)  # 4 rows, 5 times each
    wide = rng.normal(size=(40, 30))  # 2 components of ~20 rows in 30 dimensions
    for X, n_components in ((duplicates, 6), (wide, 2)):
        params = dict(covariance_type=covariance_type, reg_covar=0, random_state=0)
        # Duplicates collapse every type but tied (whose pooled scatter rounds to a
        # positive-definite 1e-31 matrix); N_k < d collapses full covariances.
        if (X is duplicates and covariance_type != "tied") or covariance_type == "full":
            with pytest.raises(ValueError, match="reg_covar"):
                GaussianMixture(n_components, **params).fit(X)

        gmm = GaussianMixture(n_components, prior="default", **params).fit(X)

        for name in ("weights_", "means_", "covariances_", "precisions_"):
            assert np.all(np.isfinite(getattr(gmm, name))), name
        assert np.isfinite(gmm.lower_bound_)
        assert np.all(np.isfinite(gmm.score_samples(X)))


# --- R's mclust as the oracle ---------------------------------------------------------

# fastem's covariance types and mclust's model names (Fraley & Raftery's notation).
MCLUST_MODELS = {"full": "VVV", "tied": "EEE", "diag": "VVI", "spherical": "VII"}

MCLUST_SCRIPT = """
library(mclust)
X <- as.matrix(read.csv(file("stdin"), header=FALSE))
z <- X[, -(1:4)]; X <- X[, 1:4]
fit <- {call}
p <- fit$parameters
v <- switch("{model}", VVV=p$variance$sigma, EEE=p$variance$Sigma,
            VVI=apply(p$variance$sigma, 3, diag), VII=p$variance$sigmasq)
loglik <- if (is.null(fit$loglik)) NA else fit$loglik
cat(format(c(loglik, p$pro, p$mean, v), digits=17), sep="\\n")
"""
MSTEP = 'mstep(data=X, modelName="{model}", z=z, prior=priorControl())'
EM = (
    'me(data=X, modelName="{model}", z=z, prior=priorControl(), '
    "control=emControl(tol=c(1e-12, 1e-12), itmax=c(10000, 10000)))"
)


def mclust_available():
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(
        ["Rscript", "-e", "library(mclust)"], capture_output=True, check=False
    )
    return probe.returncode == 0


def run_mclust(call, covariance_type, X, resp):
    """mclust's ``call`` from (X, z = resp): loglik (or None) and parameters."""
    model = MCLUST_MODELS[covariance_type]
    script = MCLUST_SCRIPT.replace("{call}", call).replace("{model}", model)
    table = "\n".join(
        ",".join(f"{v:.17g}" for v in row) for row in np.hstack([X, resp])
    )
    output = subprocess.run(
        ["Rscript", "-e", script], input=table, capture_output=True, text=True
    )
    assert output.returncode == 0, output.stderr
    values = output.stdout.split()
    loglik = None if values[0] == "NA" else float(values[0])
    values = np.array(values[1:], dtype=np.float64)
    # R stores means d x K and covariances d x d x K, column-major.
    shape = {"full": (3, 4, 4), "tied": (4, 4), "diag": (3, 4), "spherical": (3,)}
    weights, means = values[:3], values[3:15].reshape(3, 4)
    return loglik, weights, means, values[15:].reshape(shape[covariance_type])


needs_mclust = pytest.mark.skipif(not mclust_available(), reason="needs R with mclust")


def iris_default_prior_m_step(covariance_type):
    """iris, random responsibilities for 3 components, and fastem's M-step from them
    under the default prior: (X, resp, (weights, means, covariances))."""
    X = load_iris().data
    resp = responsibilities(np.random.default_rng(0), len(X), 3)
    weights, means, covariances, _ = m_step(
        X, resp, GaussianPrior(), covariance_type, np.zeros((3, 4))
    )
    return X, resp, (weights, means, covariances)


@needs_mclust
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_m_step_with_the_default_prior_equals_mclusts(covariance_type):
    """mclust's mstep with priorControl() on iris, from the same responsibilities."""
    X, resp, (weights, means, covariances) = iris_default_prior_m_step(covariance_type)

    _, *want = run_mclust(MSTEP, covariance_type, X, resp)
    assert_allclose(weights, want[0], rtol=1e-13)
    assert_allclose(means, want[1], rtol=1e-13)
    assert_allclose(covariances, want[2], rtol=1e-12, atol=1e-14)


@needs_mclust
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_map_em_with_the_default_prior_converges_where_mclusts_does(covariance_type):
    """mclust's me (EM) with priorControl() on iris, started from the same M-step."""
    X, resp, (weights, means, covariances) = iris_default_prior_m_step(covariance_type)
    precisions = gm.precisions_from_cholesky(
        gm.precision_cholesky(covariances, covariance_type), covariance_type
    )

    gmm = GaussianMixture(
        3,
        covariance_type=covariance_type,
        prior="default",
        reg_covar=0,
        tol=1e-13,
        max_iter=10000,
        weights_init=weights,
        means_init=means,
        precisions_init=precisions,
    ).fit(X)

    loglik, *want = run_mclust(EM, covariance_type, X, resp)
    # Both stop on a change below ~1e-12; slow EM leaves them ~1e-8 apart.
    assert_allclose(gmm.score(X) * len(X), loglik, rtol=1e-7)
    assert_allclose(gmm.weights_, want[0], rtol=1e-5)
    assert_allclose(gmm.means_, want[1], rtol=1e-5)
    assert_allclose(gmm.covariances_, want[2], rtol=1e-4, atol=1e-6)


# --- the default prior and the parameter ----------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_default_prior_is_mclusts(covariance_type):
    """mclust's defaultPrior: colMeans, shrinkage 0.01, dof d + 2, var / G^(2/d)."""
    X = load_iris().data
    n_components, n_features = 3, X.shape[1]
    resolved = as_gaussian_prior("default").resolve(
        n_features, n_components, covariance_type, lambda: _data_moments(ArraySource(X))
    )

    variance = np.cov(X, rowvar=False) * n_components ** (-2.0 / n_features)
    want_scale = {
        "full": variance,
        "tied": variance,
        "diag": np.full(n_features, np.trace(variance) / n_features),
        "spherical": np.trace(variance) / n_features,
    }[covariance_type]
    assert_allclose(resolved.mean, X.mean(axis=0), rtol=1e-14)
    assert resolved.mean_precision == 0.01
    assert resolved.degrees_of_freedom == n_features + 2
    assert resolved.weight_concentration == 1.0
    assert_allclose(resolved.scale, want_scale, rtol=1e-12)


def test_data_moments_far_from_the_origin_are_exact():
    # A tight cloud at 1e8: raw sums would lose every digit of the covariance (and
    # NumPy's mean and cov lose 5e-7 and 6e-8 here).
    rng = np.random.default_rng(3)
    X = 1e8 + rng.normal(scale=1e-2, size=(3000, 3)) @ np.diag([1.0, 2.0, 0.5])
    exact_mean = np.array([math.fsum(column) / len(X) for column in X.T])
    centred = X - exact_mean
    mean, covariance = _data_moments(ArraySource(X))
    assert_allclose(mean, exact_mean, rtol=1e-16)
    assert_allclose(covariance, centred.T @ centred / (len(X) - 1), rtol=1e-14)


def test_data_moments_are_weighted_and_read_chunks_without_holding_them():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(5000, 3)) + 50.0
    weights = rng.integers(0, 4, size=len(X)).astype(np.float64)
    mean, covariance = _data_moments(ArraySource(X, weights))
    assert_allclose(mean, np.average(X, axis=0, weights=weights), rtol=1e-14)
    n = len(X)
    weighted = np.cov(X, rowvar=False, aweights=weights, ddof=0)
    assert_allclose(covariance, weighted * n / (n - 1), rtol=1e-12)

    def chunks():
        for start in range(0, len(X), 701):
            yield X[start : start + 701]

    source = as_source(chunks)
    assert isinstance(source, ChunkSource)
    sizes, sample = [], source.sample
    source.sample = lambda size, random_state: sample(
        sizes.append(size) or size, random_state
    )
    streamed = _data_moments(source)
    assert sizes and max(sizes) < source.n_samples  # never all rows at once
    in_memory = _data_moments(ArraySource(X))
    for got, want in zip(streamed, in_memory):
        assert_allclose(got, want, rtol=1e-13)


def test_data_moments_with_missing_values_are_the_mean_imputed_datas():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 3))
    X[rng.random(X.shape) < 0.2] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 1.0
    filled = mean_imputed(X, None)
    mean, covariance = _data_moments(MissingValueSource(X, np.isnan(X)))
    # The column means are near 0 on a unit spread: an absolute floor at 1e-15.
    assert_allclose(mean, filled.mean(axis=0), rtol=1e-13, atol=1e-15)
    assert_allclose(covariance, np.cov(filled, rowvar=False), rtol=1e-12)


def test_prior_as_dict_object_or_default_fits_the_same():
    X = load_iris().data
    fits = [
        GaussianMixture(3, random_state=0, prior=prior).fit(X)
        for prior in ("default", GaussianPrior(), {"mean_precision": 0.01})
    ]
    for other in fits[1:]:
        assert_allclose(other.means_, fits[0].means_, rtol=0)
        assert_allclose(other.lower_bound_, fits[0].lower_bound_, rtol=0)
    assert not np.allclose(
        GaussianMixture(3, random_state=0).fit(X).lower_bound_, fits[0].lower_bound_
    )


def test_prior_survives_clone_and_get_params():
    prior = GaussianPrior(mean_precision=0.5, covariance_prior=2.0 * np.eye(2))
    gmm = GaussianMixture(2, prior=prior, on_degenerate="reseed")
    params = clone(gmm).get_params()
    assert params["prior"] == prior
    assert params["prior"] != GaussianPrior(covariance_prior=2.0 * np.eye(2))
    assert params["on_degenerate"] == "reseed"
    assert "prior=GaussianPrior(" in repr(gmm)


def test_singular_default_scale_gives_a_finite_lower_bound():
    """Two rows in two dimensions: the data's covariance, hence Lambda, is singular,
    so the prior is improper and has no normalising constant to add."""
    X = np.array(  # found by hypothesis: det(Lambda) rounds to exactly 0
        [
            [1.8905338179353308e-151, -5.227484414807474e-151],
            [-4.1306354339189346e-151, -2.4414673826398557e-150],
        ]
    )
    gmm = GaussianMixture(1, prior="default", random_state=0).fit(X)
    assert np.isfinite(gmm.lower_bound_)
    assert np.all(np.isfinite(gmm.covariances_))


@pytest.mark.parametrize(
    "prior, message",
    [
        ("flat", "prior"),
        (3.0, "prior"),
        ({"weight_concentration": 0.5}, "weight_concentration must be >= 1"),
        ({"mean_precision": 0.0}, "mean_precision must be > 0"),
        ({"mean_precision": np.nan}, "mean_precision must be finite"),
        ({"mean_precision": "a"}, "mean_precision must be a real number"),
        ({"degrees_of_freedom": -5.0}, "degrees_of_freedom must be > -5"),
        ({"mean_prior": [0.0, 1.0]}, r"mean_prior must have shape \(3,\)"),
        ({"covariance_prior": np.eye(2)}, r"covariance_prior must have shape"),
        ({"covariance_prior": -np.eye(3)}, "positive semi-definite"),
        ({"covariance_prior": np.triu(np.ones((3, 3)))}, "symmetric"),
        ({"shrinkage": 0.01}, "Unknown GaussianPrior fields"),
    ],
)
def test_bad_priors_raise_clear_errors(prior, message):
    X = np.random.default_rng(0).normal(size=(20, 3))
    error = TypeError if "real number" in message else ValueError
    with pytest.raises(error, match=message):
        GaussianMixture(2, prior=prior).fit(X)


def test_bad_on_degenerate_raises():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="on_degenerate"):
        GaussianMixture(2, on_degenerate="ignore").fit(X)
