"""Sufficient statistics as values (fastem._engine.stats): they add, divide, blend
and travel flat, and refuse to add across frames.

Oracle: the same sums taken directly (``sufficient_stats`` over the concatenated rows).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from _builders import COVARIANCE_TYPES
from fastem._families import gaussian as gm
from fastem._families.gaussian import sufficient_stats


def stats_of(X, resp, shift, covariance_type, log_likelihood=0.0):
    stats = gm.GaussianStats.empty(shift, covariance_type)
    sufficient_stats(
        X, None, resp, shift, covariance_type, stats.nk, stats.s1, stats.s2
    )
    stats.log_likelihood = log_likelihood
    return stats


@pytest.fixture
def rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    resp = rng.dirichlet(np.ones(2), size=60)
    shift = rng.normal(size=(2, 3))
    return X, resp, shift


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_of_parts_add_up_to_the_whole(rows, covariance_type):
    X, resp, shift = rows
    first = stats_of(X[:25], resp[:25], shift, covariance_type, -3.0)
    second = stats_of(X[25:], resp[25:], shift, covariance_type, -4.0)
    whole = stats_of(X, resp, shift, covariance_type, -7.0)
    total = first + second
    for name in ("nk", "s1", "s2", "log_likelihood"):
        assert_allclose(getattr(total, name), getattr(whole, name), rtol=1e-12)
    # + is a new value: the parts are unchanged; += adds in place.
    assert_array_equal(first.nk, stats_of(X[:25], resp[:25], shift, covariance_type).nk)
    first += second
    assert_array_equal(first.s2, total.s2)


def test_statistics_in_different_frames_do_not_add(rows):
    X, resp, shift = rows
    with pytest.raises(ValueError, match="different frames"):
        stats_of(X, resp, shift, "diag") + stats_of(X, resp, shift + 1.0, "diag")
    with pytest.raises(ValueError, match="different frames"):
        stats_of(X, resp, shift, "full") + stats_of(X, resp, shift, "tied")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_flat_transport_round_trips(rows, covariance_type):
    X, resp, shift = rows
    stats = stats_of(X, resp, shift, covariance_type, -1.5)
    flat = stats.to_flat()
    assert flat.ndim == 1 and flat[-1] == -1.5
    back = gm.GaussianStats.zeros(shift, covariance_type).from_flat(flat)
    for name in ("nk", "s1", "s2", "log_likelihood"):
        assert_array_equal(getattr(back, name), getattr(stats, name))
    with pytest.raises(ValueError, match="length"):
        stats.from_flat(flat[:-2])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_blend_is_the_weighted_sum_in_the_newer_frame(rows, covariance_type):
    X, resp, shift = rows
    new_shift = shift + 0.5
    running = stats_of(X[:30], resp[:30], shift, covariance_type) / 30
    batch = stats_of(X[30:], resp[30:], new_shift, covariance_type) / 30
    blended = running.blend(batch, 0.25)
    want = stats_of(X[:30], resp[:30], new_shift, covariance_type) / 30
    assert_array_equal(blended.shift, new_shift)
    for name in ("nk", "s1", "s2"):
        assert_allclose(
            getattr(blended, name),
            0.75 * getattr(want, name) + 0.25 * getattr(batch, name),
            rtol=1e-12,
            atol=1e-14,
        )


def test_division_divides_every_sum(rows):
    X, resp, shift = rows
    stats = stats_of(X, resp, shift, "full", -6.0)
    half = stats / 2.0
    assert_array_equal(half.s2, stats.s2 / 2.0)
    assert half.log_likelihood == -3.0
    assert_array_equal(half.shift, stats.shift)
