"""Saved models: ``model.save`` / ``fastem.load`` round-trip every fitted attribute
exactly, read no pickle, and refuse newer, truncated, corrupt or tampered files."""

import io
import json
import pickle
import tracemalloc
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from _builders import COVARIANCE_TYPES, RandomData
from fastem import GaussianMixture, GaussianPrior, load
from fastem._engine.persistence import FORMAT_VERSION, MAX_ARRAY_BYTES, MAX_HEADER_BYTES

METHODS = ("predict", "predict_proba", "score_samples", "score", "bic", "aic")


def fitted_attributes(model):
    return {
        key: value
        for key, value in vars(model).items()
        if key.endswith("_") and not key.startswith("_")
    }


def assert_same_value(got, want, name):
    """Equal bits, and the same types all the way down (dicts, lists, arrays)."""
    assert type(got) is type(want), name
    if isinstance(want, dict):
        assert got.keys() == want.keys(), name
        for key in want:
            assert_same_value(got[key], want[key], f"{name}[{key!r}]")
    elif isinstance(want, list | tuple):
        assert len(got) == len(want), name
        for index, (got_item, want_item) in enumerate(zip(got, want)):
            assert_same_value(got_item, want_item, f"{name}[{index}]")
    else:
        if isinstance(want, np.ndarray | np.generic):
            assert got.dtype == want.dtype, name
        assert_array_equal(got, want, err_msg=name, strict=True)


def assert_same_model(got, want):
    """Same class, same parameters and the same bits and types in every attribute."""
    assert type(got) is type(want)
    assert_same_value(got.get_params(), want.get_params(), "params")
    assert_same_value(fitted_attributes(got), fitted_attributes(want), "attributes")


def round_trip(model, tmp_path):
    path = tmp_path / "model.npz"
    model.save(path)
    return load(path)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_round_trip_is_exact(covariance_type, dtype, tmp_path):
    X = RandomData(seed=1).X[covariance_type].astype(dtype)
    model = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)

    restored = round_trip(model, tmp_path)

    assert_same_model(restored, model)
    assert restored.means_.dtype == dtype
    for method in METHODS:
        assert_array_equal(getattr(restored, method)(X), getattr(model, method)(X))
    assert_array_equal(restored.sample(50)[0], model.sample(50)[0])


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_components=st.integers(1, 4),
    n_features=st.integers(1, 5),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    dtype=st.sampled_from([np.float32, np.float64]),
    max_iter=st.integers(0, 5),
)
def test_round_trip_is_exact_on_random_fits(
    seed, n_components, n_features, covariance_type, dtype, max_iter
):
    X = np.random.default_rng(seed).normal(size=(40, n_features)).astype(dtype)
    model = GaussianMixture(
        n_components,
        covariance_type=covariance_type,
        max_iter=max_iter,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)

    restored = load(buffer)

    assert_same_model(restored, model)
    assert_array_equal(restored.score_samples(X), model.score_samples(X))


def test_round_trip_keeps_initial_parameters_and_feature_names(tmp_path):
    data = RandomData(seed=2)
    X = pd.DataFrame(data.X["diag"], columns=["width", "height"])
    model = GaussianMixture(
        3,
        covariance_type="diag",
        random_state=np.int64(7),
        tol=1e-5,
        **data.initial_guess("diag"),
    ).fit(X)

    restored = round_trip(model, tmp_path)

    assert_same_model(restored, model)
    assert list(restored.feature_names_in_) == ["width", "height"]
    assert restored.feature_names_in_.dtype == object
    assert_array_equal(restored.predict(X), model.predict(X))


@pytest.mark.parametrize(
    "prior",
    [
        "default",
        {"mean_precision": 0.1},
        GaussianPrior(mean_precision=0.5, mean_prior=[0.0, 1.0], covariance_prior=2.0),
    ],
)
def test_round_trip_keeps_the_prior(prior, tmp_path):
    X = RandomData(seed=3).X["spherical"]
    model = GaussianMixture(2, covariance_type="spherical", prior=prior).fit(X)

    restored = round_trip(model, tmp_path)

    assert_same_model(restored, model)
    assert restored.prior == model.prior
    assert type(restored.prior) is type(model.prior)
    assert_array_equal(restored.score_samples(X), model.score_samples(X))


def test_lists_given_as_parameters_stay_lists(tmp_path):
    X = RandomData(seed=3).X["spherical"]
    model = GaussianMixture(
        3,
        covariance_type="spherical",
        weights_init=[0.2, 0.3, 0.5],
        means_init=[[0.0, 0.0], [1.0, 1.0], [-1.0, 2.0]],
        random_state=0,
    ).fit(X)

    restored = round_trip(model, tmp_path)

    assert restored.means_init == [[0.0, 0.0], [1.0, 1.0], [-1.0, 2.0]]
    assert_same_model(restored, model)


def test_unfitted_and_never_iterated_models_round_trip(tmp_path):
    unfitted = round_trip(GaussianMixture(4, covariance_type="tied"), tmp_path)
    assert (
        unfitted.get_params() == GaussianMixture(4, covariance_type="tied").get_params()
    )
    assert not hasattr(unfitted, "means_")

    X = RandomData(seed=4).X["full"]
    model = GaussianMixture(3, max_iter=0, random_state=0).fit(X)
    assert model.lower_bound_ == -np.inf
    assert_same_model(round_trip(model, tmp_path), model)


def test_attributes_added_later_round_trip_without_changes(tmp_path):
    # A feature that adds fitted state (a prior, a diagnostic) needs no code here.
    model = GaussianMixture(3, random_state=0).fit(RandomData(seed=5).X["full"])
    model.prior_ = {
        "kind": "conjugate",
        "strength": np.float32(0.25),
        "scales": np.arange(6, dtype=np.int32).reshape(2, 3),
        "pair": (1, 2.5),
        "flags": np.array([True, False]),
    }
    model.labels_names_ = np.array(["a", "bb", "ccc"], dtype=object)
    model.nested_ = {"a.b": np.zeros(2), "a": {"b": np.ones(3)}}  # same entry name

    assert_same_model(round_trip(model, tmp_path), model)
    restored = round_trip(model, tmp_path)
    assert restored.prior_["pair"] == (1, 2.5)
    assert type(restored.prior_["strength"]) is np.float32
    assert_array_equal(restored.prior_["scales"], model.prior_["scales"])


def test_save_to_a_file_object_and_an_exact_path(tmp_path):
    model = GaussianMixture(2, random_state=0).fit(RandomData(seed=6).X["full"])
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    assert_same_model(load(buffer), model)

    path = tmp_path / "model.fastem"  # not renamed to .npz
    model.save(str(path))
    assert [p.name for p in tmp_path.iterdir()] == ["model.fastem"]
    assert_same_model(load(str(path)), model)


def test_loaded_models_pickle_and_refit(tmp_path):
    X = RandomData(seed=7).X["full"]
    model = GaussianMixture(3, random_state=0).fit(X)
    restored = round_trip(model, tmp_path)

    assert_same_model(pickle.loads(pickle.dumps(restored)), model)
    refitted = restored.fit(X)
    assert_array_equal(
        refitted.means_, GaussianMixture(3, random_state=0).fit(X).means_
    )


def test_random_state_instance_is_refused_with_advice(tmp_path):
    model = GaussianMixture(2, random_state=np.random.RandomState(0))
    model.fit(RandomData(seed=8).X["full"])
    with pytest.raises(ValueError, match="random_state: a RandomState instance"):
        model.save(tmp_path / "model.npz")
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def test_concurrent_saves_to_one_path_leave_one_whole_model(tmp_path):
    # Each save writes its own temporary file: a shared one was interleaved by
    # threads and renamed over the model with a bad CRC.
    X = RandomData(seed=10).X["full"]
    models = [GaussianMixture(k, random_state=0).fit(X) for k in (1, 2, 3, 4)]
    path = tmp_path / "model.npz"

    with ThreadPoolExecutor(8) as pool:
        saves = [pool.submit(models[i % 4].save, path) for i in range(48)]
        for save in saves:
            save.result()

    restored = load(path)
    assert_same_model(restored, models[restored.n_components - 1])
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_failed_save_keeps_the_model_already_there(tmp_path, monkeypatch):
    X = RandomData(seed=10).X["full"]
    model = GaussianMixture(2, random_state=0).fit(X)
    path = tmp_path / "model.npz"
    model.save(path)

    def write_half_then_fail(file, **entries):
        file.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        GaussianMixture(3, random_state=0).fit(X).save(path)

    assert_same_model(load(path), model)
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


# --- refusing bad files -------------------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    """A saved model's path and its archive entries (name -> bytes)."""
    model = GaussianMixture(3, random_state=0).fit(RandomData(seed=9).X["full"])
    path = tmp_path / "model.npz"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    return path, entries


def rewrite(path, entries):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def npy_bytes(array, **save_kwargs):
    """The bytes of ``array`` as an archive's ``.npy`` entry."""
    buffer = io.BytesIO()
    np.save(buffer, array, **save_kwargs)
    return buffer.getvalue()


def edit_header(path, entries, edit):
    header = json.loads(np.load(io.BytesIO(entries["header.npy"])).tobytes())
    edit(header)
    header_bytes = npy_bytes(np.frombuffer(json.dumps(header).encode(), np.uint8))
    rewrite(path, {**entries, "header.npy": header_bytes})


def test_newer_format_is_refused(saved):
    path, entries = saved
    edit_header(path, entries, lambda h: h.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match="newer|upgrade fastem"):
        load(path)


@pytest.mark.parametrize("keep", [0.99, 0.5, 0.1])
def test_truncated_file_is_refused(saved, keep):
    path, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load(path)


def test_corrupt_array_bytes_are_refused(saved):
    path, entries = saved
    data = bytearray(entries["model.means_.npy"])
    data[-3] ^= 0xFF  # the zip's CRC no longer matches
    path.write_bytes(path.read_bytes().replace(entries["model.means_.npy"], data))
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load(path)


def test_tampered_shape_in_the_header_is_refused(saved):
    path, entries = saved
    edit_header(
        path,
        entries,
        lambda h: h["model"]["attributes"]["means_"].update(shape=[2, 3]),
    )
    with pytest.raises(ValueError, match="means_.*header says.*tampered"):
        load(path)


def test_tampered_array_is_refused(saved):
    path, entries = saved
    float32_weights = npy_bytes(np.zeros((2, 2), np.float32))
    rewrite(path, {**entries, "model.weights_.npy": float32_weights})
    with pytest.raises(ValueError, match="weights_.*float32.*tampered"):
        load(path)


def test_consistently_tampered_shapes_are_refused(saved):
    # Header and array agree, but the model's own arrays do not.
    path, entries = saved
    entries = {**entries, "model.weights_.npy": npy_bytes(np.zeros(4))}
    edit_header(
        path, entries, lambda h: h["model"]["attributes"]["weights_"].update(shape=[4])
    )
    with pytest.raises(ValueError, match="weights_ has shape"):
        load(path)


def test_unknown_class_is_refused(saved):
    path, entries = saved
    edit_header(path, entries, lambda h: h["model"].update({"class": "os.system"}))
    with pytest.raises(ValueError, match="unknown model class"):
        load(path)


def test_unlisted_array_is_refused(saved):
    path, entries = saved
    rewrite(path, {**entries, "extra.npy": npy_bytes(np.zeros(3))})
    with pytest.raises(ValueError, match="does not name"):
        load(path)


def test_pickled_arrays_are_never_loaded(saved):
    path, entries = saved
    pickled = npy_bytes(np.array([object()], dtype=object), allow_pickle=True)
    rewrite(path, {**entries, "model.means_.npy": pickled})
    with pytest.raises(ValueError, match="pickle"):
        load(path)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a model", b"a,b\n1,2\n", pickle.dumps(GaussianMixture())],
    ids=["empty", "text", "csv", "pickle"],
)
def test_other_files_are_refused(tmp_path, content):
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a fastem model file.*not an .npz"):
        load(path)


def test_other_npz_and_npy_files_are_refused(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a fastem model file"):
        load(tmp_path / "other.npz")
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not an .npz archive"):
        load(tmp_path / "array.npy")


def test_missing_file_or_directory_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing.npz")
    with pytest.raises(FileNotFoundError, match="no such directory"):
        GaussianMixture().save(tmp_path / "no" / "model.npz")


def test_saved_file_has_the_usual_permissions(tmp_path):
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    GaussianMixture().save(tmp_path / "model.npz")
    assert (tmp_path / "model.npz").stat().st_mode == probe.stat().st_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz", "probe"]


# --- refusing parameters fit would not produce ------------------------------------


def tampered(covariance_type, key, change):
    """A fitted model whose attribute ``key`` became ``change(value)``."""
    X = RandomData(seed=11).X[covariance_type]
    model = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    setattr(model, key, change(getattr(model, key)))
    return model


def transpose(factors):
    return np.swapaxes(factors, -1, -2)


def negate_first_diagonal(factors):
    factors = factors.copy()
    factors[..., 0, 0] *= -1.0
    return factors


def zero_first(array):
    array = array.copy()
    array.flat[0] = 0.0
    return array


def with_nan(array):
    array = array.copy()
    array.flat[1] = np.nan
    return array


FLOAT = "must be a float32 or float64 array"
GARBAGE = {
    "weights NaN": ("full", "weights_", with_nan, "Input weights_ contains NaN"),
    "means inf": ("diag", "means_", lambda m: m + np.inf, "means_ contains infinity"),
    "covariances NaN": ("tied", "covariances_", with_nan, "covariances_ contains NaN"),
    "weights negative": (
        "full",
        "weights_",
        lambda w: np.array([1.25, -0.25, 0.0]),
        r"weights_ should be in the range \[0, 1\]",
    ),
    "weights unnormalised": (
        "full",
        "weights_",
        lambda w: 0.9 * w,
        "weights_ should be normalized",
    ),
    "weights complex": ("full", "weights_", lambda w: w + 0j, f"weights_ {FLOAT}"),
    "weights int": ("full", "weights_", lambda w: (w > 0.5).astype(int), FLOAT),
    "means strings": ("full", "means_", lambda m: m.astype(str), f"means_ {FLOAT}"),
    "means a list": (
        "full",
        "means_",
        lambda m: m.tolist(),
        f"means_ {FLOAT}, not list",
    ),
    "means float16": ("full", "means_", lambda m: m.astype(np.float16), FLOAT),
    "means float32, others float64": (
        "full",
        "means_",
        lambda m: m.astype(np.float32),
        r"\['means_'\] are not float64 as weights_ is",
    ),
    "diag factor zero": (
        "diag",
        "precisions_cholesky_",
        zero_first,
        "precisions_cholesky_ should be positive",
    ),
    "spherical factor negative": (
        "spherical",
        "precisions_cholesky_",
        lambda f: -f,
        "precisions_cholesky_ should be positive",
    ),
    "full factor lower triangular": (
        "full",
        "precisions_cholesky_",
        transpose,
        "precisions_cholesky_ must be upper triangular",
    ),
    "tied factor negative diagonal": (
        "tied",
        "precisions_cholesky_",
        negate_first_diagonal,
        "precisions_cholesky_ must be upper triangular with a positive diagonal",
    ),
    "full covariances doubled": (
        "full",
        "covariances_",
        lambda c: 2.0 * c,
        "covariances_ and precisions_cholesky_ disagree",
    ),
    "diag covariances doubled": (
        "diag",
        "covariances_",
        lambda c: 2.0 * c,
        "covariances_ and precisions_cholesky_ disagree",
    ),
    "tied precisions changed": (
        "tied",
        "precisions_",
        lambda p: p + np.diag([1.0, 0.0]),
        "covariances_ and precisions_ disagree",
    ),
    "spherical precisions halved": (
        "spherical",
        "precisions_",
        lambda p: p / 2,
        "covariances_ and precisions_ disagree",
    ),
    "n_features_in_ zero": (
        "full",
        "n_features_in_",
        lambda d: 0,
        "n_features_in_ must be a positive int",
    ),
    "covariances None": (
        "full",
        "covariances_",
        lambda c: None,
        "covariances_ must be",
    ),
    "n_components invalid": (
        "full",
        "n_components",
        lambda k: 0,
        "'n_components' parameter of GaussianMixture",
    ),
}


@pytest.mark.parametrize(
    "covariance_type, key, change, match", GARBAGE.values(), ids=GARBAGE.keys()
)
def test_parameters_fit_would_not_produce_are_refused(
    covariance_type, key, change, match, tmp_path
):
    path = tmp_path / "model.npz"
    tampered(covariance_type, key, change).save(path)
    with pytest.raises(ValueError, match=f"model.npz: .*{match}"):
        load(path)


def test_a_fitted_model_needs_all_its_parameters(saved):
    path, entries = saved

    def drop_precisions(header):
        del header["model"]["attributes"]["precisions_"]

    del entries["model.precisions_.npy"]
    edit_header(path, entries, drop_precisions)
    with pytest.raises(ValueError, match=r"model.npz: .*\['precisions_'\] missing"):
        load(path)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_ill_conditioned_models_load(covariance_type, dtype, tmp_path):
    # Nearly collinear features: condition numbers near 1e9, where float32 rounding
    # can leave covariances_ @ precisions_ far from the identity and precisions_
    # with a negative eigenvalue, yet the model is what fit stored.
    rng = np.random.default_rng(12)
    X = 10.0 * rng.normal(size=(300, 1)) @ rng.normal(size=(1, 4))
    X = (X + 1e-4 * rng.normal(size=X.shape)).astype(dtype)
    model = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)

    assert_same_model(round_trip(model, tmp_path), model)


# --- bounded work on hostile files --------------------------------------------------

BOMB_BYTES = 64 * 2**20  # 64 KiB deflated
TOO_LARGE = "more than the .* bytes a model file may hold"


def npy_header(dtype, shape):
    """The ``.npy`` header of an array, without its data."""
    buffer = io.BytesIO()
    descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def add_padded_entry(path, name, head, n_padding, padding=b"\0"):
    """Add the entry ``head`` + ``n_padding`` copies of ``padding``, deflated a MiB
    at a time (so that writing it holds little memory)."""
    chunk = padding * 2**20
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        with archive.open(name, "w", force_zip64=True) as entry:
            entry.write(head)
            for start in range(0, n_padding, len(chunk)):
                entry.write(chunk[: n_padding - start])


def load_with_peak_memory(path):
    """Load ``path`` (expecting a ValueError) and return the peak traced memory."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as error:
            load(path)
        return error, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_unnamed_entries_are_refused_without_decompressing_them(saved):
    path, _ = saved
    add_padded_entry(path, "bomb.npy", npy_header(np.uint8, (BOMB_BYTES,)), BOMB_BYTES)

    error, peak = load_with_peak_memory(path)

    assert error.match("does not name.*bomb")
    assert peak < 4 * 2**20


def test_entry_longer_than_its_header_says_is_refused_before_reading(saved):
    path, entries = saved
    rewrite(path, {k: v for k, v in entries.items() if k != "model.means_.npy"})
    means = entries["model.means_.npy"]
    add_padded_entry(path, "model.means_.npy", means, BOMB_BYTES)

    error, peak = load_with_peak_memory(path)

    assert error.match(r"model\.means_.* holds \d+ bytes where its .npy header")
    assert peak < 4 * 2**20


@pytest.mark.parametrize(
    "shape, match",
    [
        ([10**12, 3], TOO_LARGE),
        ([2**62, 2**62], TOO_LARGE),
        ([-1, 3], "invalid shape"),
        ([3.0, 3], "invalid shape"),
        ([True, 3], "invalid shape"),
        ("3", "invalid shape"),
    ],
)
def test_absurd_shapes_in_the_header_are_refused_before_reading(saved, shape, match):
    path, entries = saved
    edit_header(
        path, entries, lambda h: h["model"]["attributes"]["means_"].update(shape=shape)
    )
    with pytest.raises(ValueError, match=match):
        load(path)


def test_arrays_over_the_total_limit_are_refused_before_reading(saved):
    # Each array is allowed alone; together they are not.
    path, entries = saved
    half = MAX_ARRAY_BYTES // 16 + 1

    def declare_two_large_arrays(header):
        attributes = header["model"]["attributes"]
        attributes["means_"].update(dtype="<f8", shape=[half])
        attributes["covariances_"].update(dtype="<f8", shape=[half])

    edit_header(path, entries, declare_two_large_arrays)
    with pytest.raises(
        ValueError, match="more than the .* bytes a model file may hold"
    ):
        load(path)


def test_absurd_shape_in_an_entry_is_refused_without_allocating(saved):
    # The .npy header of an entry claims 8 TB: a ValueError, not a MemoryError.
    path, entries = saved
    rewrite(path, {**entries, "model.means_.npy": npy_header(np.float64, (10**12,))})
    with pytest.raises(ValueError, match=r"means_.*\(1000000000000,\).*header says"):
        load(path)


def test_header_over_the_size_limit_is_refused_before_parsing(saved):
    path, entries = saved
    text = np.load(io.BytesIO(entries["header.npy"])).tobytes()
    rewrite(path, {k: v for k, v in entries.items() if k != "header.npy"})
    n_spaces = MAX_HEADER_BYTES + 1 - len(text)  # valid JSON, one byte too long
    head = npy_header(np.uint8, (MAX_HEADER_BYTES + 1,)) + text
    add_padded_entry(path, "header.npy", head, n_spaces, padding=b" ")

    error, peak = load_with_peak_memory(path)

    assert error.match(f"header of {MAX_HEADER_BYTES + 1} bytes.*at most")
    assert peak < 4 * 2**20


@pytest.mark.parametrize("depth", [20, 900, 100_000])
def test_deeply_nested_header_is_refused(saved, depth):
    path, entries = saved
    text = np.load(io.BytesIO(entries["header.npy"])).tobytes().decode()
    nested = '{"type": "list", "items": [' * depth + "]}" * depth
    text = text.replace('"attributes": {', f'"attributes": {{"deep_": {nested}, ', 1)
    header = npy_bytes(np.frombuffer(text.encode(), np.uint8))
    rewrite(path, {**entries, "header.npy": header})
    with pytest.raises(ValueError, match="nested deeper than"):
        load(path)
