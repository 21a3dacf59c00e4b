"""Hidden Markov models over sequences read in chunks: chunk callables and Dask
arrays whose chunks (blocks) end at sequence ends, ``lengths`` travelling with them.

The oracle is the same data in memory: a fit, score, decode or posterior from
chunks equals the in-memory one to rounding (the statistics of the chunks add in
another order than those of the in-memory blocks: rtol 1e-10 after several EM
iterations), and the chunk callable and the Dask array cut the same way give the
same bits.
"""

import dask
import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fastem.hmm import GMMHMM, CategoricalHMM, GaussianHMM, PoissonHMM
from test_hmm import categorical_data, gaussian_data, poisson_data

# Ragged lengths, among them sequences of one frame.
LENGTHS = (31, 1, 17, 60, 2, 44, 9, 1, 25, 38)
# The chunks: the first sequence of each (sequences 0-1, 2, 3-6, 7, 8-9), one empty.
CUTS = (0, 2, 3, 3, 7, 8, 10)


@pytest.fixture(autouse=True)
def synchronous_dask():
    with dask.config.set(scheduler="synchronous"):
        yield


def chunk_callable(X, lengths, cuts=CUTS):
    bounds = np.r_[0, np.cumsum(lengths)][list(cuts)]
    return lambda: (X[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:]))


def dask_array(X, lengths, cuts=CUTS):
    bounds = np.r_[0, np.cumsum(lengths)][list(cuts)]
    return da.from_array(X, chunks=(tuple(np.diff(bounds)), X.shape[1]))


def gaussian(covariance_type):
    X, lengths, _ = gaussian_data(3, LENGTHS, covariance_type)
    model = GaussianHMM(3, covariance_type=covariance_type, random_state=0, n_iter=6)
    return model, X, lengths, ("startprob_", "transmat_", "means_", "covars_")


def gmm():
    X, lengths, _ = gaussian_data(4, LENGTHS, "diag")
    model = GMMHMM(2, n_mix=2, covariance_type="diag", random_state=0, n_iter=6)
    return model, X, lengths, ("startprob_", "transmat_", "weights_", "means_")


def categorical():
    X, lengths, _ = categorical_data(5, LENGTHS)
    model = CategoricalHMM(3, random_state=0, n_iter=6)
    return model, X, lengths, ("startprob_", "transmat_", "emissionprob_")


def poisson():
    X, lengths, _ = poisson_data(6, LENGTHS)
    model = PoissonHMM(3, random_state=0, n_iter=6)
    return model, X, lengths, ("startprob_", "transmat_", "lambdas_")


CASES = {
    "gaussian-full": lambda: gaussian("full"),
    "gaussian-diag": lambda: gaussian("diag"),
    "gaussian-spherical": lambda: gaussian("spherical"),
    "gaussian-tied": lambda: gaussian("tied"),
    "gmm": gmm,
    "categorical": categorical,
    "poisson": poisson,
}


def clone(model):
    return type(model)(**model.get_params())


@pytest.mark.parametrize("case", sorted(CASES))
def test_chunks_and_dask_fit_as_the_frames_in_memory(case):
    model, X, lengths, attributes = CASES[case]()
    in_memory = clone(model).fit(X, lengths)
    chunked = clone(model).fit(chunk_callable(X, lengths), lengths)
    distributed = clone(model).fit(dask_array(X, lengths), lengths)
    assert len(in_memory.monitor_.history) == 6
    assert_allclose(chunked.monitor_.history, in_memory.monitor_.history, rtol=1e-12)
    for name in attributes:
        assert_allclose(
            getattr(chunked, name), getattr(in_memory, name), rtol=1e-10, atol=1e-13
        )
        # The chunk callable and the Dask array cut alike add alike: the same bits.
        assert_array_equal(getattr(distributed, name), getattr(chunked, name))
    assert distributed.monitor_.history == chunked.monitor_.history
    assert chunked.n_features_in_ == in_memory.n_features_in_


@pytest.mark.parametrize("case", sorted(CASES))
def test_chunks_and_dask_score_and_decode_as_in_memory(case):
    model, X, lengths, _ = CASES[case]()
    model.fit(X, lengths)
    for source in (chunk_callable(X, lengths), dask_array(X, lengths)):
        assert_allclose(model.score(source, lengths), model.score(X, lengths))
        log_prob, posteriors = model.score_samples(source, lengths)
        expected_log_prob, expected = model.score_samples(X, lengths)
        assert_allclose(log_prob, expected_log_prob, rtol=1e-13)
        assert_allclose(np.asarray(posteriors), expected, rtol=1e-12, atol=1e-15)
        for algorithm in ("viterbi", "map"):
            log_prob, states = model.decode(source, lengths, algorithm=algorithm)
            expected_log_prob, expected = model.decode(X, lengths, algorithm=algorithm)
            assert_allclose(log_prob, expected_log_prob, rtol=1e-13)
            assert_array_equal(np.asarray(states), expected)
        assert_array_equal(
            np.asarray(model.predict(source, lengths)), model.predict(X, lengths)
        )
        assert_allclose(model.bic(source, lengths), model.bic(X, lengths))
        assert_allclose(model.aic(source, lengths), model.aic(X, lengths))


def test_dask_answers_per_frame_are_lazy_dask_arrays():
    model, X, lengths, _ = gaussian("diag")
    model.fit(X, lengths)
    _, posteriors = model.score_samples(dask_array(X, lengths), lengths)
    states = model.predict(dask_array(X, lengths), lengths)
    assert isinstance(posteriors, da.Array) and posteriors.shape == (len(X), 3)
    assert isinstance(states, da.Array) and states.shape == (len(X),)


def test_sequence_weights_travel_with_the_chunks():
    model, X, lengths, attributes = gaussian("diag")
    weight = np.random.default_rng(0).uniform(0, 3, len(lengths))
    weight[3] = 0.0
    in_memory = clone(model).fit(X, lengths, weight)
    for source in (chunk_callable(X, lengths), dask_array(X, lengths)):
        chunked = clone(model).fit(source, lengths, weight)
        for name in attributes:
            assert_allclose(
                getattr(chunked, name), getattr(in_memory, name), rtol=1e-10
            )


def test_missing_values_in_chunks_are_marginalised():
    model, X, lengths, attributes = gaussian("full")
    X = X.copy()
    X[::7, 0] = np.nan
    X[3::11] = np.nan
    in_memory = clone(model).fit(X, lengths)
    for source in (chunk_callable(X, lengths), dask_array(X, lengths)):
        chunked = clone(model).fit(source, lengths)
        for name in attributes:
            assert_allclose(
                getattr(chunked, name), getattr(in_memory, name), rtol=1e-10
            )
        assert_allclose(
            np.asarray(in_memory.predict_proba(source, lengths)),
            in_memory.predict_proba(X, lengths),
            rtol=1e-12,
            atol=1e-15,
        )
    with pytest.raises(TypeError, match="impute needs X in memory"):
        in_memory.impute(chunk_callable(X, lengths), lengths)


def test_the_symbols_of_every_chunk_set_the_alphabet():
    X, lengths, _ = categorical_data(5, LENGTHS)
    X = X.copy()
    X[-1] = 7  # the largest symbol is in the last chunk only
    chunked = CategoricalHMM(3, random_state=0, n_iter=3).fit(
        chunk_callable(X, lengths), lengths
    )
    in_memory = CategoricalHMM(3, random_state=0, n_iter=3).fit(X, lengths)
    assert chunked.n_features == in_memory.n_features == 8
    assert_allclose(chunked.emissionprob_, in_memory.emissionprob_, rtol=1e-10)
    with pytest.raises(ValueError, match="chunk 5 of X: Largest symbol is 7"):
        CategoricalHMM(3, n_features=5).fit(chunk_callable(X, lengths), lengths)


def test_a_long_stream_starts_from_a_sample_of_its_frames(monkeypatch):
    monkeypatch.setattr("fastem.hmm._base.INIT_SAMPLE_FRAMES", 50)
    model, X, lengths, _ = gaussian("diag")
    model.set_params(n_iter=20)
    first = clone(model).fit(chunk_callable(X, lengths), lengths)
    again = clone(model).fit(dask_array(X, lengths), lengths)
    in_memory = clone(model).fit(X, lengths)
    # A start from 50 frames drawn with random_state: reproducible, and another
    # start than the in-memory one, which converges as well.
    assert_array_equal(first.means_, again.means_)
    assert first.monitor_.history[0] != in_memory.monitor_.history[0]
    assert_allclose(
        first.monitor_.history[-1], in_memory.monitor_.history[-1], rtol=1e-3
    )


def test_a_state_without_mass_is_reseeded_from_chunks():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    lengths = [100, 150, 50]
    models = []
    cuts = (0, 1, 3)
    for source in (X, chunk_callable(X, lengths, cuts), dask_array(X, lengths, cuts)):
        model = GaussianHMM(3, init_params="", n_iter=3, covariance_type="diag")
        model.startprob_ = np.array([0.5, 0.5, 0.0])
        model.transmat_ = np.array([[0.5, 0.5, 0], [0.5, 0.5, 0], [0, 0, 1.0]])
        model.means_ = np.array([[0.0, 0.0], [1.0, 1.0], [50.0, 50.0]])
        model.covars_ = np.ones((3, 2))
        with pytest.warns(UserWarning, match="re-seeded"):
            models.append(model.fit(source, lengths))
    for model in models[1:]:
        assert model.n_reseeds_ == models[0].n_reseeds_ >= 1
        assert_allclose(model.means_, models[0].means_, rtol=1e-10)


def test_partial_fit_and_scoring_read_an_iterator_once():
    model, X, lengths, _ = gaussian("diag")
    model.fit(X, lengths)
    assert_allclose(
        model.score(chunk_callable(X, lengths)(), lengths), model.score(X, lengths)
    )
    online = clone(model).partial_fit(X, lengths)
    online.partial_fit(chunk_callable(X, lengths)(), lengths)
    reference = clone(model).partial_fit(X, lengths).partial_fit(X, lengths)
    assert_allclose(online.means_, reference.means_, rtol=1e-10)
    with pytest.raises(TypeError, match="can be read only once"):
        clone(model).fit(chunk_callable(X, lengths)(), lengths)
    with pytest.raises(TypeError, match="can be read only once"):
        clone(model).partial_fit(chunk_callable(X, lengths)(), lengths)
    first = clone(model).partial_fit(chunk_callable(X, lengths), lengths)
    assert_allclose(first.means_, clone(model).partial_fit(X, lengths).means_)


def test_without_lengths_one_chunk_is_one_sequence():
    model, X, lengths, _ = gaussian("diag")
    model.fit(X, lengths)
    whole = model.score(lambda: iter([X[:0], X]))
    assert_allclose(whole, model.score(X))
    with pytest.raises(ValueError, match="chunk 1 of X continues the sequence"):
        model.score(chunk_callable(X, lengths))


@pytest.mark.parametrize(
    "source, message",
    [
        (lambda X: lambda: iter([X[:40], X[40:]]), "chunk 0 of X ends at frame 40, "),
        (
            lambda X: da.from_array(X, chunks=(40, 2)),
            "block 0 of X ends at frame 40, inside sequence 2 .frames 32 to 48.",
        ),
        (lambda X: lambda: iter([X, X[:5]]), "chunk 1 of X holds frames 228 to 232, "),
        (lambda X: lambda: iter([X[:31]]), "the chunks of X hold 31 frames, but"),
        (lambda X: lambda: iter([]), "the chunks of X are empty"),
        (
            lambda X: lambda: iter([X[:31], X[31:, :1]]),
            "chunk 1 of X has 1 columns; the first had 2",
        ),
        (
            lambda X: lambda: iter([X[:31], np.full_like(X[31:], np.inf)]),
            "chunk 1 of X: Input X contains infinity",
        ),
    ],
)
def test_chunks_that_do_not_end_at_sequence_ends_get_a_clear_error(source, message):
    _, X, lengths, _ = gaussian("diag")
    with pytest.raises(ValueError, match=message):
        GaussianHMM(3, n_iter=2).fit(source(X), lengths)


def test_a_column_without_values_in_any_chunk_is_refused():
    _, X, lengths, _ = gaussian("diag")
    X = X.copy()
    X[:, 1] = np.nan
    with pytest.raises(ValueError, match="Column 1 of X is entirely NaN"):
        GaussianHMM(3).fit(chunk_callable(X, lengths), lengths)
    with pytest.raises(ValueError, match="lengths sum to 5, but X has 228 rows"):
        GaussianHMM(3).fit(dask_array(X, lengths), [5])
