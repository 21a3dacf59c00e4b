"""partial_fit: stepwise online EM recovers a known mixture from a stream in one pass.

Oracles: the true parameters of the stream, batch EM on the same rows (held-out
log-likelihood), and the closed-form blending of running statistics.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from _builders import COVARIANCE_TYPES, RandomData, make_params, sample_mixture
from fastem import GaussianMixture

N_BATCHES, BATCH_ROWS = 200, 500


def stream(covariance_type, seed=0):
    """A known, well separated 3-component mixture in 2-D, its stream of batches and
    held-out rows."""
    rng = np.random.default_rng(seed)
    truth = RandomData(seed=seed, n_components=3, n_features=2, spread=6.0)
    params = truth.params[covariance_type]
    params = make_params(
        np.array([0.5, 0.3, 0.2]), params.means, params.covariances, covariance_type
    )
    X, _ = sample_mixture(rng, params, N_BATCHES * BATCH_ROWS)
    held_out, _ = sample_mixture(rng, params, 20_000)
    return params, X.reshape(N_BATCHES, BATCH_ROWS, 2), held_out


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_one_pass_recovers_the_mixture_and_nears_batch_em(covariance_type):
    truth, batches, held_out = stream(covariance_type)
    online = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    for batch in batches:
        online.partial_fit(batch)
    assert online.n_batch_iter_ == N_BATCHES

    order = [
        int(np.argmin(np.linalg.norm(truth.means - m, axis=1))) for m in online.means_
    ]
    assert sorted(order) == [0, 1, 2]
    assert_allclose(online.means_, truth.means[order], atol=0.05)
    assert_allclose(online.weights_, truth.weights[order], atol=0.01)
    covariances = (
        truth.covariances if covariance_type == "tied" else truth.covariances[order]
    )
    assert_allclose(online.covariances_, covariances, rtol=0.05, atol=0.02)

    batch_em = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    batch_em.fit(batches.reshape(-1, 2))
    assert online.score(held_out) > batch_em.score(held_out) - 0.01 * abs(
        batch_em.score(held_out)
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_first_batch_initialises_as_fit_then_one_em_step():
    X = RandomData(seed=1, n_samples=400).X["full"]
    online = GaussianMixture(3, random_state=0).partial_fit(X)
    fitted = GaussianMixture(3, random_state=0, max_iter=1).fit(X)
    for name in ("weights_", "means_", "covariances_"):
        assert_allclose(getattr(online, name), getattr(fitted, name), rtol=1e-12)
    assert online.lower_bound_ == pytest.approx(fitted.lower_bound_, rel=1e-12)


def test_second_batch_blends_statistics_with_the_documented_step():
    data = RandomData(seed=2, n_samples=600)
    X = data.X["diag"]
    first, second = X[:300], X[300:]
    model = GaussianMixture(
        3,
        covariance_type="diag",
        random_state=0,
        learning_offset=2.0,
        learning_decay=0.8,
    ).partial_fit(first)
    start = GaussianMixture(3, covariance_type="diag", random_state=0, max_iter=0)
    start.fit(first)
    # Running statistics per row after batch 1, then after batch 2 with eta = 3^-0.8.
    eta = 3.0**-0.8
    previous = model._online_stats
    responsibilities = model.predict_proba(second)
    nk = (1 - eta) * previous.nk + eta * responsibilities.mean(axis=0)
    sums = (1 - eta) * (previous.s1 + previous.shift * previous.nk[:, None]) + eta * (
        responsibilities.T @ second / len(second)
    )
    model.partial_fit(second)
    assert_allclose(model.weights_, nk / nk.sum(), rtol=1e-10)
    assert_allclose(
        model.means_, sums / (nk + 10 * np.finfo(float).eps)[:, None], rtol=1e-10
    )
    assert model.n_batch_iter_ == 2


def test_partial_fit_continues_a_fitted_model_and_fit_restarts_it():
    X = RandomData(seed=3, n_samples=600).X["full"]
    model = GaussianMixture(3, random_state=0).fit(X)
    means = model.means_.copy()
    model.partial_fit(X[:100])
    assert model.n_batch_iter_ == 1
    assert_allclose(model.means_, means, atol=0.5)
    model.fit(X)
    assert not hasattr(model, "_online_stats")
    assert_allclose(model.means_, means)


def test_partial_fit_reads_chunk_iterators_batch_by_batch():
    X = RandomData(seed=4, n_samples=600).X["full"]
    by_batch = GaussianMixture(3, random_state=0)
    for start in range(0, 600, 200):
        by_batch.partial_fit(X[start : start + 200])
    chunked = GaussianMixture(3, random_state=0).partial_fit(
        iter([X[:200], X[200:400], X[400:]])
    )
    for name in ("weights_", "means_", "covariances_"):
        assert_array_equal(getattr(chunked, name), getattr(by_batch, name))


def test_partial_fit_bad_input():
    X = RandomData(seed=5, n_samples=100).X["full"]
    with pytest.raises(ValueError, match="first batch of partial_fit initialises"):
        GaussianMixture(3).partial_fit(X[:2])
    model = GaussianMixture(3, random_state=0).partial_fit(X)
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(np.ones((5, 3)))
    with pytest.raises(ValueError, match="infinity|NaN"):
        model.partial_fit(np.full((5, 2), np.inf))
    with pytest.raises(ValueError, match="learning_decay"):
        GaussianMixture(3, learning_decay=0.4).partial_fit(X)
    with pytest.raises(ValueError, match="chunk 1 has 3 columns"):
        model.partial_fit(iter([X, np.ones((4, 3))]))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_stream_with_missing_values_is_learnt_as_fit_learns_it(covariance_type):
    """Each batch runs through the pattern source, as fit's rows do: the first batch
    with NaN starts like fit, and a stream with holes recovers the mixture."""
    truth, batches, held_out = stream(covariance_type)
    rng = np.random.default_rng(1)
    holed = batches.copy()
    holed[rng.random(holed.shape) < 0.15] = np.nan
    first = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    first.partial_fit(holed[0])
    fitted = GaussianMixture(
        3, covariance_type=covariance_type, random_state=0, max_iter=1
    ).fit(holed[0])
    assert_allclose(first.means_, fitted.means_, rtol=1e-12)
    online = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    for batch in holed:
        online.partial_fit(batch)
    order = [
        int(np.argmin(np.linalg.norm(truth.means - m, axis=1))) for m in online.means_
    ]
    assert sorted(order) == [0, 1, 2]
    assert_allclose(online.means_, truth.means[order], atol=0.1)
