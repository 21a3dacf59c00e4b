"""The discrete-data kernels (``_discrete``: ``accumulate``, ``score``,
``count_non_binary``): every
compiled variant against the NumPy twin and against independent maths
(``scipy.stats``, explicit loops); statistics that add over any split of the rows;
the same bits for any number of threads; clear errors on bad arguments.

Tolerances: the kernels and the twin both read float32 values exactly as float64 and
compute in float64, so float32 and float64 inputs are held to the same tolerances:
RTOL of the sum of the absolute values of each statistic's terms, plus LOGIT_RTOL of
those of the logits that responsibilities and log-probabilities carry.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import gammaln, logsumexp
from scipy.stats import bernoulli, multinomial

from _builders import BOUNDARY_ROW_COUNTS, LAYOUTS, random_sample_weight, with_layout
from fastem._engine.threads import limit_blas_threads
from fastem._kernels import TWIN

RTOL = {np.float32: 1e-12, np.float64: 1e-12}
# Responsibilities and log-probabilities: relative to the sum of absolute terms of
# the logits (large for long rows of counts), about 45 eps.
LOGIT_RTOL = 1e-14
DTYPES = (np.float32, np.float64)
FAMILIES = ("bernoulli", "bernoulli-nan", "multinomial")
CSR_KINDS = (sp.csr_matrix, sp.csr_array)


# --- builders -------------------------------------------------------------------------


def bernoulli_model(rng, n_components, n_features):
    """(log_weights, A, b, B) of a random Bernoulli mixture, p in [0.05, 0.95]."""
    p = rng.uniform(0.05, 0.95, (n_components, n_features))
    B = np.log1p(-p)
    log_weights = np.log(rng.dirichlet(np.full(n_components, 2.0)))
    return log_weights, np.log(p) - B, B.sum(axis=1), B


def multinomial_model(rng, n_components, n_features):
    """(log_weights, A, b, None) of a random multinomial mixture."""
    theta = rng.dirichlet(np.ones(n_features), n_components)
    log_weights = np.log(rng.dirichlet(np.full(n_components, 2.0)))
    return log_weights, np.log(theta), np.zeros(n_components), None


def dense_data(rng, family, n_samples, n_features, dtype=np.float64):
    """Binary rows (about 10% NaN for 'bernoulli-nan') or counts, as ``dtype``."""
    if family == "multinomial":
        X = rng.poisson(2.0, (n_samples, n_features)).astype(dtype)
    else:
        X = (rng.random((n_samples, n_features)) < 0.4).astype(dtype)
    if family == "bernoulli-nan":
        X[rng.random(X.shape) < 0.1] = np.nan
    return X


def csr_data(
    rng,
    n_samples,
    n_features,
    density=0.2,
    dtype=np.float64,
    index_dtype=np.int32,
    kind=sp.csr_matrix,
):
    """Counts in canonical CSR with empty rows and, from 3 rows on, a full row."""
    X = sp.random(
        n_samples,
        n_features,
        density=density,
        format="csr",
        dtype=np.float64,
        random_state=rng,
        data_rvs=lambda size: rng.integers(1, 6, size),
    ).toarray()
    X[::5] = 0.0
    if n_samples >= 3:
        X[2] = rng.integers(1, 4, n_features)
    X = sp.csr_matrix(X.astype(dtype))
    return kind(
        (X.data, X.indices.astype(index_dtype), X.indptr.astype(index_dtype)),
        shape=X.shape,
    )


def model_for(rng, family, n_components, n_features):
    """(model, coefficient): the family's parameters and whether c(x) is added."""
    if family == "multinomial":
        return multinomial_model(rng, n_components, n_features), True
    return bernoulli_model(rng, n_components, n_features), False


def run_accumulate(
    kernels, X, sample_weight, model, coefficient, n_threads=1, with_m=True
):
    """(nk, s, m or None, log_likelihood) of one ``accumulate`` call."""
    n_components, n_features = model[1].shape
    nk, s = np.empty(n_components), np.empty((n_components, n_features))
    m = np.empty((n_components, n_features)) if with_m else None
    log_likelihood = kernels.discrete.accumulate(
        X, sample_weight, *model, coefficient, n_threads, nk, s, m
    )
    return nk, s, m, log_likelihood


def run_score(
    kernels,
    X,
    model,
    coefficient,
    n_threads=1,
    with_log_prob=True,
    with_resp=True,
    with_labels=True,
):
    """(log_prob, resp, labels), each None where not asked."""
    n_samples, n_components = X.shape[0], model[1].shape[0]
    log_prob = np.empty(n_samples) if with_log_prob else None
    resp = np.empty((n_samples, n_components)) if with_resp else None
    labels = np.empty(n_samples, dtype=np.intp) if with_labels else None
    kernels.discrete.score(X, *model, coefficient, n_threads, log_prob, resp, labels)
    return log_prob, resp, labels


def dense_values(X):
    """X as float64 ndarray, missing values as 0."""
    values = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    return np.nan_to_num(values.astype(np.float64), nan=0.0)


def row_scales(X, model, coefficient):
    """Per row: the largest sum of absolute terms of a logit,
    max_k |log w_k| + |b_k| + sum_j |x_j| |A_kj| + |B_kj|, and that of c(x). The
    logits round to about eps times the first, and responsibilities carry it."""
    log_weights, A, b, B = model
    values = np.abs(dense_values(X))
    finite = np.where(np.isfinite(log_weights), np.abs(log_weights), 0.0)
    terms = values @ np.abs(A).T + finite + np.abs(b)
    if B is not None:
        terms += np.abs(B).sum(axis=1)
    logit = np.max(terms, axis=1, initial=0.0)
    if not coefficient:
        return logit, np.zeros(len(logit))
    return logit, gammaln(values.sum(axis=1) + 1) + gammaln(values + 1).sum(axis=1)


def assert_accumulated_close(got, want, X, sample_weight, model, coefficient, rtol):
    """(nk, s, m, log_likelihood) equal to ``rtol`` of the sums of the absolute
    values of their terms, plus LOGIT_RTOL times those of the logits the
    responsibilities come from (responsibilities are at most 1)."""
    weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    total = np.abs(weights).sum()
    logit, coefficients = row_scales(X, model, coefficient)
    carried = rtol * total + LOGIT_RTOL * (np.abs(weights) @ logit)
    reach = np.max(np.abs(dense_values(X)), initial=0.0)
    for name, a, b, scale in zip(
        ("nk", "s", "m"), got[:3], want[:3], (carried, carried * reach, carried)
    ):
        if b is not None:
            assert_allclose(a, b, rtol=rtol, atol=scale, err_msg=name)
    scale = LOGIT_RTOL * (np.abs(weights) @ (logit + coefficients))
    assert_allclose(got[3], want[3], rtol=rtol, atol=scale, err_msg="log-likelihood")


def assert_scores_close(got, want, X, model, coefficient, rtol):
    """(log_prob, resp, labels) as in ``assert_accumulated_close``; labels only where
    the best logit leads by more than rounding."""
    log_prob, resp, labels = got
    want_log_prob, want_resp, want_labels = want
    logit, coefficients = row_scales(X, model, coefficient)
    if log_prob is not None:
        bound = LOGIT_RTOL * (logit + coefficients) + rtol * np.abs(want_log_prob)
        assert np.all(np.abs(log_prob - want_log_prob) <= bound)
    if resp is not None:
        bound = rtol + LOGIT_RTOL * logit[:, np.newaxis]
        assert np.all(np.abs(resp - want_resp) <= bound)
    if labels is not None:
        logits = TWIN.discrete.row_logits(X, *model)[0]
        top = np.sort(logits, axis=1)[:, -2:]
        clear = top[:, -1] - top[:, 0] > 2 * LOGIT_RTOL * (1.0 + logit)
        if logits.shape[1] == 1:
            clear[:] = True
        assert_array_equal(labels[clear], want_labels[clear])


def assert_same_bits(got, want):
    for a, b in zip(got, want):
        if b is not None:
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


# --- names ----------------------------------------------------------------------------


def test_discrete_kernels_and_twin_share_names(compiled):
    """The compiled module's names are the twin's."""
    assert (
        compiled.discrete.__all__
        == TWIN.discrete.__all__
        == ["accumulate", "count_non_binary", "score"]
    )


# --- kernel == twin -------------------------------------------------------------------

dense_problems = st.fixed_dictionaries(
    {
        "family": st.sampled_from(FAMILIES),
        "dtype": st.sampled_from(DTYPES),
        "n_samples": st.one_of(
            st.sampled_from(BOUNDARY_ROW_COUNTS), st.integers(1, 700)
        ),
        # Above 128 features, dense chunks hold fewer rows than 256.
        "n_features": st.one_of(st.integers(1, 12), st.integers(100, 300)),
        "n_components": st.integers(1, 9),
        "n_threads": st.integers(1, 3),
        "weighted": st.booleans(),
        "with_m": st.booleans(),
        "layout": st.sampled_from(LAYOUTS),
        "seed": st.integers(0, 2**32 - 1),
    }
)


def build_dense(problem, directory):
    rng = np.random.default_rng(problem["seed"])
    n_samples, n_features = problem["n_samples"], problem["n_features"]
    model, coefficient = model_for(
        rng, problem["family"], problem["n_components"], n_features
    )
    X = dense_data(rng, problem["family"], n_samples, n_features, problem["dtype"])
    weights = random_sample_weight(rng, n_samples) if problem["weighted"] else None
    return with_layout(X, problem["layout"], directory), weights, model, coefficient


@settings(max_examples=40, deadline=None)
@given(problem=dense_problems)
def test_dense_accumulate_matches_twin(problem, memmap_dir, compiled):
    X, weights, model, coefficient = build_dense(problem, memmap_dir)
    X_before = np.array(X, copy=True)
    with limit_blas_threads():
        got = run_accumulate(
            compiled,
            X,
            weights,
            model,
            coefficient,
            problem["n_threads"],
            problem["with_m"],
        )
    want = run_accumulate(TWIN, X, weights, model, coefficient, 1, problem["with_m"])
    assert_accumulated_close(
        got, want, X, weights, model, coefficient, RTOL[problem["dtype"]]
    )
    assert_array_equal(X, X_before)


@settings(max_examples=40, deadline=None)
@given(
    problem=dense_problems,
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
)
def test_dense_score_matches_twin(problem, flags, memmap_dir, compiled):
    X, _, model, coefficient = build_dense(problem, memmap_dir)
    with limit_blas_threads():
        got = run_score(compiled, X, model, coefficient, problem["n_threads"], *flags)
    want = run_score(TWIN, X, model, coefficient)
    assert_scores_close(got, want, X, model, coefficient, RTOL[problem["dtype"]])


csr_problems = st.fixed_dictionaries(
    {
        "dtype": st.sampled_from(DTYPES),
        "index_dtype": st.sampled_from((np.int32, np.int64)),
        "kind": st.sampled_from(CSR_KINDS),
        "n_samples": st.one_of(
            st.sampled_from(BOUNDARY_ROW_COUNTS), st.integers(1, 700)
        ),
        "n_features": st.one_of(st.integers(1, 12), st.integers(13, 400)),
        # Above 32 components, a row's logits take more than one pass over its
        # values (four vectors of lanes at a time).
        "n_components": st.one_of(st.integers(1, 9), st.integers(30, 40)),
        "n_threads": st.integers(1, 3),
        "weighted": st.booleans(),
        "coefficient": st.booleans(),
        "seed": st.integers(0, 2**32 - 1),
    }
)


def build_csr(problem):
    rng = np.random.default_rng(problem["seed"])
    n_samples, n_features = problem["n_samples"], problem["n_features"]
    model = multinomial_model(rng, problem["n_components"], n_features)
    X = csr_data(
        rng,
        n_samples,
        n_features,
        0.3,
        problem["dtype"],
        problem["index_dtype"],
        problem["kind"],
    )
    weights = random_sample_weight(rng, n_samples) if problem["weighted"] else None
    return X, weights, model, problem["coefficient"]


@settings(max_examples=40, deadline=None)
@given(problem=csr_problems)
def test_csr_accumulate_matches_twin(problem, compiled):
    X, weights, model, coefficient = build_csr(problem)
    parts_before = [X.data.copy(), X.indices.copy(), X.indptr.copy()]
    got = run_accumulate(compiled, X, weights, model, coefficient, problem["n_threads"])
    want = run_accumulate(TWIN, X, weights, model, coefficient)
    assert_accumulated_close(
        got, want, X, weights, model, coefficient, RTOL[problem["dtype"]]
    )
    for before, after in zip(parts_before, (X.data, X.indices, X.indptr)):
        assert_array_equal(after, before)


@settings(max_examples=40, deadline=None)
@given(
    problem=csr_problems,
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
)
def test_csr_score_matches_twin(problem, flags, compiled):
    X, _, model, coefficient = build_csr(problem)
    got = run_score(compiled, X, model, coefficient, problem["n_threads"], *flags)
    want = run_score(TWIN, X, model, coefficient)
    assert_scores_close(got, want, X, model, coefficient, RTOL[problem["dtype"]])


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_dense_layouts_match_twin(family, layout, memmap_dir, compiled):
    """Every layout, three chunks (the last of one row) and a weight of 0."""
    rng = np.random.default_rng(1)
    model, coefficient = model_for(rng, family, 4, 7)
    X = with_layout(dense_data(rng, family, 513, 7), layout, memmap_dir)
    weights = random_sample_weight(rng, 513)
    with limit_blas_threads():
        got = run_accumulate(compiled, X, weights, model, coefficient, 2)
        scores = run_score(compiled, X, model, coefficient, 2)
    want = run_accumulate(TWIN, X, weights, model, coefficient)
    assert_accumulated_close(
        got, want, X, weights, model, coefficient, RTOL[np.float64]
    )
    want_scores = run_score(TWIN, X, model, coefficient)
    assert_scores_close(scores, want_scores, X, model, coefficient, RTOL[np.float64])


@pytest.mark.parametrize("dtype", DTYPES)
def test_rows_at_any_byte_stride(dtype, compiled):
    """A field of a packed structured array: rows at 3 * itemsize + 2 bytes."""
    rng = np.random.default_rng(2)
    records = np.zeros(300, dtype=[("x", dtype, (3,)), ("tag", np.int16)])
    records["x"] = dense_data(rng, "bernoulli-nan", 300, 3)
    X = records["x"]
    assert X.strides[0] % X.itemsize != 0
    model = bernoulli_model(rng, 2, 3)
    with limit_blas_threads():
        got = run_accumulate(compiled, X, None, model, False)
    want = run_accumulate(TWIN, X, None, model, False)
    assert_accumulated_close(got, want, X, None, model, False, RTOL[dtype])


@pytest.mark.parametrize("n_samples", [0, 1, 256, 257])
@pytest.mark.parametrize("n_features", [1, 5])
@pytest.mark.parametrize("n_components", [1, 3])
@pytest.mark.parametrize("sparse", [False, True])
def test_small_shapes(sparse, n_components, n_features, n_samples, compiled):
    """n = 0 (outputs cleared, log-likelihood 0), d = 1 and K = 1 (every
    responsibility 1, every label 0)."""
    rng = np.random.default_rng(3)
    model = multinomial_model(rng, n_components, n_features)
    X = dense_data(rng, "multinomial", n_samples, n_features)
    if sparse:
        X = sp.csr_matrix(X)
    got = run_accumulate(compiled, X, None, model, True, 2)
    want = run_accumulate(TWIN, X, None, model, True)
    assert_accumulated_close(got, want, X, None, model, True, RTOL[np.float64])
    scores = run_score(compiled, X, model, True, 2)
    want_scores = run_score(TWIN, X, model, True)
    assert_scores_close(scores, want_scores, X, model, True, RTOL[np.float64])
    if n_samples == 0:
        assert got[3] == 0.0
        assert not np.any(got[0]) and not np.any(got[1]) and not np.any(got[2])
    if n_components == 1:
        assert_array_equal(scores[1], 1.0)
        assert_array_equal(scores[2], 0)


# --- independent maths ----------------------------------------------------------------


def brute_force(X, sample_weight, probabilities, weights, family):
    """Log-probabilities, responsibilities and the sums by explicit loops over rows,
    components and features, with scipy.stats for each row's probability mass."""
    n_samples, n_features = X.shape
    n_components = len(weights)
    joint = np.empty((n_samples, n_components))
    for i in range(n_samples):
        for k in range(n_components):
            if family == "multinomial":
                mass = multinomial.logpmf(X[i], n=X[i].sum(), p=probabilities[k])
            else:
                mass = sum(
                    bernoulli.logpmf(X[i, j], probabilities[k, j])
                    for j in range(n_features)
                    if not np.isnan(X[i, j])
                )
            joint[i, k] = np.log(weights[k]) + mass
    log_prob = logsumexp(joint, axis=1)
    resp = np.exp(joint - log_prob[:, np.newaxis])
    w = np.ones(n_samples) if sample_weight is None else sample_weight
    nk = np.zeros(n_components)
    s = np.zeros((n_components, n_features))
    m = np.zeros((n_components, n_features))
    for i in range(n_samples):
        for k in range(n_components):
            nk[k] += w[i] * resp[i, k]
            for j in range(n_features):
                if not np.isnan(X[i, j]):
                    s[k, j] += w[i] * resp[i, k] * X[i, j]
                    m[k, j] += w[i] * resp[i, k]
    return log_prob, resp, (nk, s, m, float(w @ log_prob))


@pytest.mark.parametrize(
    "family, sparse",
    [(family, False) for family in FAMILIES]
    + [("bernoulli", True), ("multinomial", True)],
)
def test_tiny_cases_match_scipy_stats(family, sparse, compiled):
    rng = np.random.default_rng(4)
    n_samples, n_features, n_components = 9, 4, 3
    weights = rng.dirichlet(np.ones(n_components))
    X = dense_data(rng, family, n_samples, n_features)
    sample_weight = rng.uniform(0.5, 2.0, n_samples)
    if family == "multinomial":
        probabilities = rng.dirichlet(np.ones(n_features), n_components)
        model = (np.log(weights), np.log(probabilities), np.zeros(n_components), None)
    else:
        probabilities = rng.uniform(0.1, 0.9, (n_components, n_features))
        B = np.log1p(-probabilities)
        model = (np.log(weights), np.log(probabilities) - B, B.sum(axis=1), B)
    log_prob, resp, stats = brute_force(
        X, sample_weight, probabilities, weights, family
    )
    data = sp.csr_matrix(X) if sparse else X
    coefficient = family == "multinomial"

    with limit_blas_threads():
        got = run_accumulate(compiled, data, sample_weight, model, coefficient)
        scores = run_score(compiled, data, model, coefficient)

    for name, a, b in zip(("nk", "s", "m", "log-likelihood"), got, stats):
        assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=name)
    assert_allclose(scores[0], log_prob, rtol=1e-12)
    assert_allclose(scores[1], resp, rtol=1e-12, atol=1e-15)
    assert_array_equal(scores[2], np.argmax(resp, axis=1))


@pytest.mark.parametrize("sparse", [False, True])
def test_coefficient_of_large_and_fractional_counts(sparse, compiled):
    """log(m!) comes from a table below 1024 and from gammaln above and for
    fractions: both the same as the twin's gammaln."""
    counts = np.array(
        [[0.0, 1.0, 2.0, 1023.0], [1024.0, 5000.0, 0.5, 3.25], [7.0, 0.0, 0.0, 0.0]]
    )
    rng = np.random.default_rng(5)
    model = multinomial_model(rng, 2, 4)
    X = sp.csr_matrix(counts) if sparse else counts
    log_prob = run_score(compiled, X, model, True)[0]
    want = logsumexp(model[0] + counts @ model[1].T, axis=1) + (
        gammaln(counts.sum(axis=1) + 1) - gammaln(counts + 1).sum(axis=1)
    )
    assert_allclose(log_prob, want, rtol=1e-13)


def test_labels_take_the_first_largest_logit_and_skip_empty_components(compiled):
    """Equal components: label 0; a component of weight 0 (log weight -inf) is never
    a label and gets responsibility 0."""
    rng = np.random.default_rng(6)
    _, A, b, B = bernoulli_model(rng, 1, 5)
    model = (
        np.array([-np.inf, np.log(0.5), np.log(0.5)]),
        np.repeat(A, 3, axis=0),
        np.repeat(b, 3),
        np.repeat(B, 3, axis=0),
    )
    X = dense_data(rng, "bernoulli", 40, 5)
    with limit_blas_threads():
        _, resp, labels = run_score(compiled, X, model, False)
    assert_array_equal(labels, 1)
    assert_array_equal(resp[:, 0], 0.0)
    assert_allclose(resp[:, 1:], 0.5, rtol=1e-15)


def test_rows_of_weight_zero_contribute_nothing(compiled):
    """Zero-weight rows, even with a huge coefficient, change no statistic: the sums
    equal those of the weighted rows alone."""
    rng = np.random.default_rng(7)
    model = multinomial_model(rng, 3, 6)
    X = dense_data(rng, "multinomial", 300, 6)
    X[::3] = 1e6
    weights = rng.uniform(0.5, 1.5, 300)
    weights[::3] = 0.0
    for data in (X, sp.csr_matrix(X)):
        got = run_accumulate(compiled, data, weights, model, True)
        kept = weights != 0
        subset = data[kept]
        want = run_accumulate(compiled, subset, weights[kept], model, True)
        assert_accumulated_close(
            got, want, subset, weights[kept], model, True, RTOL[np.float64]
        )


def test_csr_indices_in_any_order_and_duplicates(compiled):
    """Columns in any order give the sorted matrix's results; duplicate entries add
    up (in everything but the coefficient, which takes them one by one)."""
    rng = np.random.default_rng(8)
    model = multinomial_model(rng, 3, 20)
    X = csr_data(rng, 300, 20, 0.4)
    shuffled = X.copy()
    for i in range(X.shape[0]):
        row = slice(X.indptr[i], X.indptr[i + 1])
        order = rng.permutation(X.indptr[i + 1] - X.indptr[i])
        shuffled.indices[row] = X.indices[row][order]
        shuffled.data[row] = X.data[row][order]
    shuffled.has_sorted_indices = False
    assert_accumulated_close(
        run_accumulate(compiled, shuffled, None, model, True),
        run_accumulate(compiled, X, None, model, True),
        X,
        None,
        model,
        True,
        RTOL[np.float64],
    )
    # Each value split in two entries of the same column, one after the other.
    counts = np.diff(X.indptr)
    doubled = sp.csr_matrix(
        (
            np.repeat(X.data / 2, 2),
            np.repeat(X.indices, 2),
            np.concatenate([[0], np.cumsum(2 * counts)]),
        ),
        shape=X.shape,
    )
    assert doubled.nnz == 2 * X.nnz
    assert_accumulated_close(
        run_accumulate(compiled, doubled, None, model, False),
        run_accumulate(compiled, X, None, model, False),
        X,
        None,
        model,
        False,
        RTOL[np.float64],
    )


# --- statistics add over any split of the rows ----------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 600), max_size=6),
    family=st.sampled_from(FAMILIES),
    sparse=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_statistics_add_up_over_any_split(cuts, family, sparse, seed, compiled):
    if sparse and family == "bernoulli-nan":
        family = "bernoulli"
    rng = np.random.default_rng(seed)
    model, coefficient = model_for(rng, family, 3, 8)
    X = dense_data(rng, family, 600, 8)
    if sparse:
        X = sp.csr_matrix(X)
    weights = random_sample_weight(rng, 600)
    bounds = [0, *sorted(cuts), 600]
    with limit_blas_threads():
        parts = [
            run_accumulate(compiled, X[lo:hi], weights[lo:hi], model, coefficient)
            for lo, hi in zip(bounds[:-1], bounds[1:])
        ]
        whole = run_accumulate(compiled, X, weights, model, coefficient)
    added = [sum(part[e] for part in parts) for e in range(4)]
    assert_accumulated_close(
        added, whole, X, weights, model, coefficient, RTOL[np.float64]
    )


def test_binary_chunks_beside_chunks_of_other_values(compiled):
    """Chunks of 0/1 values (tables of patterns) in the same blocks as chunks with a
    NaN or another value (matrix products): the twin's sums, and the same bits on 1,
    2 and 3 threads."""
    rng = np.random.default_rng(11)
    model = bernoulli_model(rng, 6, 21)
    X = dense_data(rng, "bernoulli", 3000, 21)
    X[300, 4] = np.nan  # chunk 1
    X[1100, 20] = 0.5  # chunk 4
    X[2999, 0] = np.nan  # the last chunk
    weights = random_sample_weight(rng, 3000)
    with limit_blas_threads():
        stats = [
            run_accumulate(compiled, X, weights, model, False, t) for t in (1, 2, 3)
        ]
        scores = [run_score(compiled, X, model, False, t) for t in (1, 2, 3)]
    want = run_accumulate(TWIN, X, weights, model, False)
    assert_accumulated_close(stats[0], want, X, weights, model, False, RTOL[np.float64])
    want_scores = run_score(TWIN, X, model, False)
    assert_scores_close(scores[0], want_scores, X, model, False, RTOL[np.float64])
    for other in stats[1:]:
        assert_same_bits(other, stats[0])
    for other in scores[1:]:
        assert_same_bits(other, scores[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_count_non_binary_matches_twin(dtype, layout, memmap_dir, compiled):
    """0, -0.0, 1 and NaN are binary; 0.5, 2, -1 and infinities are not."""
    rng = np.random.default_rng(12)
    X = dense_data(rng, "bernoulli-nan", 301, 19, dtype)
    X[3, 5] = -0.0
    assert compiled.discrete.count_non_binary(with_layout(X, layout, memmap_dir)) == 0
    for value, row, column in [
        (0.5, 0, 0),
        (2.0, 17, 18),
        (-1.0, 300, 7),
        (np.inf, 150, 8),
        (-np.inf, 151, 8),
    ]:
        X[row, column] = value
    X = with_layout(X, layout, memmap_dir)
    assert compiled.discrete.count_non_binary(X) == 5
    assert TWIN.discrete.count_non_binary(X) == 5


@pytest.mark.parametrize("shape", [(0, 3), (4, 0)])
def test_count_non_binary_of_empty_rows(shape, compiled):
    for kernels in (compiled, TWIN):
        assert kernels.discrete.count_non_binary(np.empty(shape)) == 0


@pytest.mark.parametrize(
    "X, error",
    [
        (sp.csr_matrix(np.eye(3)), ValueError),
        (np.zeros((3, 3), np.int64), ValueError),
        (np.zeros(3), ValueError),
        ([[0.0, 1.0]], TypeError),
    ],
)
def test_count_non_binary_refuses_other_rows(X, error, compiled):
    for kernels in (compiled, TWIN):
        with pytest.raises(error):
            kernels.discrete.count_non_binary(X)


# --- threads --------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["dense", "dense-nan", "csr"])
def test_same_bits_for_any_number_of_threads(case, compiled):
    """Dense: 274 chunks in blocks fixed by the problem (0/1 chunks through their
    tables of patterns, NaN chunks through BLAS); CSR: blocks balanced by stored
    values. BLAS on one thread, as the callers run it."""
    rng = np.random.default_rng(9)
    if case == "csr":
        model, coefficient = multinomial_model(rng, 5, 60), True
        X = csr_data(rng, 20_000, 60, 0.1)
    else:
        family = "bernoulli-nan" if case == "dense-nan" else "bernoulli"
        model, coefficient = bernoulli_model(rng, 5, 30), False
        X = dense_data(rng, family, 70_000, 30)
    weights = rng.uniform(size=X.shape[0])
    with limit_blas_threads():
        stats = [
            run_accumulate(compiled, X, weights, model, coefficient, t)
            for t in (1, 2, 3)
        ]
        scores = [run_score(compiled, X, model, coefficient, t) for t in (1, 2, 3)]
    for other in stats[1:]:
        assert_same_bits(other, stats[0])
    for other in scores[1:]:
        assert_same_bits(other, scores[0])


# --- bad arguments --------------------------------------------------------------------


def valid_arguments(kernel, sparse=False):
    """Valid arguments of ``kernel`` ('accumulate' or 'score'), by name, in order."""
    rng = np.random.default_rng(10)
    log_weights, A, b, B = bernoulli_model(rng, 3, 4)
    X = dense_data(rng, "bernoulli-nan", 20, 4)
    if sparse:
        X = sp.csr_matrix(np.nan_to_num(X))
    common = dict(X=X)
    if kernel == "accumulate":
        common["sample_weight"] = None
    common.update(
        log_weights=log_weights, A=A, b=b, B=B, coefficient=False, n_threads=2
    )
    if kernel == "accumulate":
        return {
            **common,
            "nk": np.empty(3),
            "s": np.empty((3, 4)),
            "m": np.empty((3, 4)),
        }
    return {
        **common,
        "log_prob": np.empty(20),
        "resp": np.empty((20, 3)),
        "labels": np.empty(20, dtype=np.intp),
    }


def bad_csr(**parts):
    """A CSR matrix with its parts replaced (scipy's constructor checks nothing
    when the parts are set after it)."""
    X = sp.csr_matrix(np.eye(20, 4))
    for name, value in parts.items():
        setattr(X, name, value)
    return X


COMMON_BAD = {
    "X 1-D": dict(X=np.zeros(20)),
    "X int": dict(X=np.zeros((20, 4), dtype=np.int64)),
    "X of other width": dict(X=np.zeros((20, 5))),
    "X NaN, B None": dict(B=None),
    "log_weights float32": dict(log_weights=np.zeros(3, np.float32)),
    "log_weights NaN": dict(log_weights=np.array([0.0, np.nan, 0.0])),
    "log_weights all -inf": dict(log_weights=np.full(3, -np.inf)),
    "log_weights +inf": dict(log_weights=np.array([0.0, np.inf, 0.0])),
    "A too wide": dict(A=np.zeros((3, 5))),
    "A Fortran-ordered": dict(A=np.zeros((3, 4), order="F")),
    "A infinite": dict(A=np.full((3, 4), -np.inf)),
    "b too long": dict(b=np.zeros(4)),
    "B of other shape": dict(B=np.zeros((4, 3))),
    "B NaN": dict(B=np.full((3, 4), np.nan)),
    "coefficient int": dict(coefficient=1),
    "n_threads 0": dict(n_threads=0),
    "n_threads negative": dict(n_threads=-1),
    "n_threads float": dict(n_threads=2.0),
    "CSR int16 indices": dict(
        X=bad_csr(indices=np.zeros(4, np.int16), indptr=np.arange(21, dtype=np.int16))
    ),
    "CSR mixed index dtypes": dict(X=bad_csr(indptr=np.r_[0:5, [4] * 16])),
    "CSR int data": dict(X=bad_csr(data=np.ones(4, np.int64))),
    "CSR falling indptr": dict(
        X=bad_csr(indptr=np.r_[0:5, [4] * 15, 3].astype(np.int32))
    ),
    "CSR column out of range": dict(
        X=bad_csr(indices=np.array([0, 1, 2, 9], np.int32))
    ),
    "CSR negative column": dict(X=bad_csr(indices=np.array([0, 1, -1, 3], np.int32))),
}
BAD_ARGUMENTS = {
    "accumulate": {
        **COMMON_BAD,
        "sample_weight too long": dict(sample_weight=np.ones(21)),
        "nk too long": dict(nk=np.empty(4)),
        "s Fortran-ordered": dict(s=np.empty((3, 4), order="F")),
        "m float32": dict(m=np.empty((3, 4), np.float32)),
        "s read-only": dict(s=np.broadcast_to(np.empty(4), (3, 4))),
    },
    "score": {
        **COMMON_BAD,
        "log_prob too short": dict(log_prob=np.empty(19)),
        "resp of other shape": dict(resp=np.empty((20, 4))),
        "labels int32": dict(labels=np.empty(20, np.int32)),
        "labels strided": dict(labels=np.empty(40, np.intp)[::2]),
    },
}


@pytest.mark.parametrize(
    "kernel, bad",
    [(kernel, bad) for kernel, cases in BAD_ARGUMENTS.items() for bad in cases],
)
def test_bad_arguments_raise_value_error(kernel, bad, compiled):
    arguments = {**valid_arguments(kernel), **BAD_ARGUMENTS[kernel][bad]}
    for kernels in (compiled, TWIN):
        with pytest.raises(ValueError):
            getattr(kernels.discrete, kernel)(*arguments.values())


@pytest.mark.parametrize("kernel", sorted(BAD_ARGUMENTS))
@pytest.mark.parametrize("fmt", ["csc", "coo", "lil"])
def test_other_sparse_formats_are_refused(kernel, fmt, compiled):
    arguments = valid_arguments(kernel, sparse=True)
    arguments["X"] = arguments["X"].asformat(fmt)
    for kernels in (compiled, TWIN):
        with pytest.raises(TypeError, match="convert to CSR"):
            getattr(kernels.discrete, kernel)(*arguments.values())


@pytest.mark.parametrize("kernel", sorted(BAD_ARGUMENTS))
@pytest.mark.parametrize("sparse", [False, True])
def test_valid_arguments_are_accepted(kernel, sparse, compiled):
    """The baseline that each bad-argument case changes one thing of."""
    got, want = valid_arguments(kernel, sparse), valid_arguments(kernel, sparse)
    with limit_blas_threads():
        getattr(compiled.discrete, kernel)(*got.values())
    getattr(TWIN.discrete, kernel)(*want.values())
    for name in ("nk", "s", "m", "log_prob", "resp", "labels"):
        if name in got:
            assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-12)
