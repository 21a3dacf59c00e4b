"""The command line: ``fastem fit / predict / score / sample / demo`` give the Python
API's numbers, read CSV, .npy and Parquet, and end user errors with exit code 2 and
one line, never a traceback."""

import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from _builders import RandomData
from fastem import (
    GaussianMixture,
    GaussianMixtureImputer,
    load,
    select,
)
from fastem.cli import _commands as _cli
from fastem.cli._commands import COMMANDS, main
from fastem.cli._data_files import read_table
from fastem.mixture import _selection

MEAN_LINE = re.compile(r"mean\s+\[([^\]]*)\]\s+\(true \[([^\]]*)\]\)")


def run(args, capsys):
    """Exit code, stdout and stderr of ``fastem args``."""
    code = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_csv(path, X, header=("a", "b"), delimiter=","):
    lines = [delimiter.join(header)] if header else []
    lines += [delimiter.join(repr(float(v)) for v in row) for row in X]
    path.write_text("\n".join(lines) + "\n")
    return path


def load_unnamed(path):
    """A saved model for the Python API on plain arrays: the command line matches
    columns by name itself, scikit-learn would warn that arrays have none."""
    model = load(path)
    del model.feature_names_in_
    return model


@pytest.fixture
def data():
    return RandomData(seed=3, n_samples=300).X["full"]


@pytest.fixture
def fitted(tmp_path, data, capsys):
    """A CSV file with a header, the model fastem fit saved from it, and X."""
    csv = write_csv(tmp_path / "data.csv", data)
    model = tmp_path / "model.npz"
    code, out, err = run(["fit", csv, "-k", 3, "--seed", 0, "-o", model], capsys)
    assert code == 0, err
    return csv, model, data


# --- demo --------------------------------------------------------------------------


def test_demo_recovers_the_true_means_and_draws_them(tmp_path, capsys):
    code, output, _ = run(["demo", "--output-dir", tmp_path], capsys)
    assert code == 0
    pairs = [
        (np.array(got.split(), float), np.array(true.split(), float))
        for got, true in MEAN_LINE.findall(output)
    ]
    assert len(pairs) == 4  # two components in each of the two examples
    # 1-D: N(2, 4^2) + N(9, 2^2) overlap, 4000 points; 2-D: 150 points a component.
    for (got, true), tolerance in zip(pairs, (1.0, 1.0, 0.3, 0.3)):
        assert np.all(np.abs(got - true) < tolerance), (got, true)
    assert "fitted in" in output
    for name in _cli.DEMO_PICTURES:
        assert f"wrote {tmp_path / name}" in output
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (tmp_path / name).stat().st_size > 10_000


def test_demo_names_components_as_its_pictures_do(tmp_path, capsys, monkeypatch):
    drawn = []
    monkeypatch.setattr(_cli, "_draw_demo", lambda fits, _: drawn.extend(fits))
    code, output, _ = run(["demo", "--seed", 0], capsys)
    assert code == 0
    printed = re.findall(r"component (\d+): .*\n\s+mean\s+\[([^\]]*)\]", output)
    assert len(printed) == 4
    for i, (k, mean) in enumerate(printed):
        model = drawn[i // 2][1]  # two components in each example
        # The pictures colour and label component k as model.means_[k].
        assert_allclose(np.array(mean.split(), float), model.means_[int(k)], atol=1e-3)


def test_demo_pictures_are_ignored_by_git():
    gitignore = Path(__file__).parents[1] / ".gitignore"
    if not gitignore.exists():
        pytest.skip("not run from a checkout")
    assert set(_cli.DEMO_PICTURES) <= set(gitignore.read_text().split())


def test_demo_without_matplotlib_prints_how_to_get_pictures(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    code, output, _ = run(["demo", "--output-dir", tmp_path], capsys)
    assert code == 0
    assert "component 1" in output
    assert output.strip().splitlines()[-1] == (
        "pictures of these fits need matplotlib: pip install fastem[plot]"
    )
    assert list(tmp_path.iterdir()) == []


def test_module_entry_point_runs_the_demo(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "fastem", "demo"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "2-D: unit-covariance Gaussians" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(_cli.DEMO_PICTURES)


# --- fit, predict, score, sample give the Python API's numbers ------------------------


def test_fit_saves_the_model_python_would_fit(fitted):
    csv, model_path, X = fitted
    model = load(model_path)
    expected = GaussianMixture(3, random_state=0).fit(X)
    # CSV holds repr(float): the data and so the fit are the same bits.
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert_array_equal(getattr(model, name), getattr(expected, name))
    assert model.n_iter_ == expected.n_iter_
    assert list(model.feature_names_in_) == ["a", "b"]


def test_fit_passes_every_option(tmp_path, data, capsys):
    npy = tmp_path / "data.npy"
    np.save(npy, data)
    options = [
        "--covariance-type", "diag", "--n-init", 2, "--max-iter", 50, "--tol", 1e-5,
        "--reg-covar", 1e-4, "--init-params", "k-means++", "--random-state", 7,
    ]  # fmt: skip
    code, out, _ = run(["fit", npy, "-k", 2, *options, "-o", tmp_path / "m"], capsys)
    assert code == 0
    assert "fitted 2 diag components on 300 rows x 2 features" in out
    model = load(tmp_path / "m")
    params = dict(
        covariance_type="diag", n_init=2, max_iter=50, tol=1e-5, reg_covar=1e-4,
        init_params="k-means++", random_state=7,
    )  # fmt: skip
    assert {key: model.get_params()[key] for key in params} == params
    assert_array_equal(model.means_, GaussianMixture(2, **params).fit(data).means_)
    assert not hasattr(model, "feature_names_in_")


def test_predict_writes_labels_and_probabilities(fitted, tmp_path, capsys):
    csv, model_path, X = fitted
    model = load_unnamed(model_path)

    code, out, _ = run(["predict", model_path, csv], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "label"
    assert_array_equal(np.array(lines[1:], dtype=int), model.predict(X))

    for output in ("proba.csv", "proba.npy"):
        code, _, _ = run(
            ["predict", model_path, csv, "--proba", "-o", tmp_path / output], capsys
        )
        assert code == 0
        resp, columns = read_table(tmp_path / output)
        assert_array_equal(resp, model.predict_proba(X))  # exact through repr
    assert columns is None  # .npy
    assert read_table(tmp_path / "proba.csv")[1] == ["p0", "p1", "p2"]


def test_score_prints_the_mean_criteria_and_per_sample(fitted, tmp_path, capsys):
    csv, model_path, X = fitted
    model = load_unnamed(model_path)

    assert run(["score", model_path, csv], capsys)[1] == f"{model.score(X)!r}\n"
    for criterion in ("bic", "aic"):
        out = run(["score", model_path, csv, "--criterion", criterion], capsys)[1]
        assert float(out) == getattr(model, criterion)(X)
    out_path = tmp_path / "ll.npy"
    assert (
        run(["score", model_path, csv, "--per-sample", "-o", out_path], capsys)[0] == 0
    )
    assert_array_equal(np.load(out_path), model.score_samples(X))


def test_sample_draws_python_samples_with_labels(fitted, tmp_path, capsys):
    _, model_path, _ = fitted
    model = load(model_path)
    model.random_state = 5
    X, labels = model.sample(40)

    out_path = tmp_path / "samples.csv"
    code, _, _ = run(
        ["sample", model_path, 40, "--seed", 5, "--labels", "-o", out_path], capsys
    )
    assert code == 0
    table, columns = read_table(out_path)
    assert columns == ["a", "b", "component"]
    assert_array_equal(table[:, :2], X)
    assert_array_equal(table[:, 2], labels)
    assert out_path.read_text().splitlines()[1].endswith(",0")  # labels stay integers


# --- data formats ----------------------------------------------------------------


def test_impute_fills_empty_cells_as_python_does(fitted, tmp_path, capsys):
    csv, model_path, X = fitted
    model = load_unnamed(model_path)
    holes = X.copy()
    holes[::3, 0] = np.nan
    lines = csv.read_text().splitlines()
    rows = [line.split(",") for line in lines[1:]]
    for row in rows[::3]:
        row[0] = ""  # an empty cell is a missing value
    with_holes = tmp_path / "holes.csv"
    with_holes.write_text("\n".join([lines[0]] + [",".join(r) for r in rows]) + "\n")

    code, _, err = run(
        ["impute", model_path, with_holes, "-o", tmp_path / "filled.csv"], capsys
    )
    assert code == 0, err
    filled, columns = read_table(tmp_path / "filled.csv")
    assert columns == ["a", "b"]
    assert_array_equal(filled, model.impute(holes))

    drawn = tmp_path / "drawn.npy"
    code, _, err = run(
        [
            "impute",
            model_path,
            with_holes,
            "--sample-posterior",
            "--seed",
            4,
            "-o",
            drawn,
        ],
        capsys,
    )
    assert code == 0, err
    draws = np.load(drawn)
    assert_array_equal(draws[:, 1], X[:, 1])
    assert_array_equal(draws[1::3], X[1::3])
    assert not np.allclose(draws[::3, 0], model.impute(holes)[::3, 0])


def test_impute_names_each_column_after_its_values(fitted, tmp_path, capsys):
    # The file's columns in the other order (b, a): the filled table is in the
    # model's order and each column keeps its own name.
    csv, model_path, X = fitted
    holes = X.copy()
    holes[::3, 1] = np.nan
    reordered = write_csv(tmp_path / "ba.csv", holes[:, ::-1], ("b", "a"))
    code, _, err = run(
        ["impute", model_path, reordered, "-o", tmp_path / "filled.csv"], capsys
    )
    assert code == 0, err
    filled, columns = read_table(tmp_path / "filled.csv")
    assert columns == ["a", "b"]
    assert_array_equal(filled, load_unnamed(model_path).impute(holes))


def test_select_prints_the_table_and_saves_the_best_model(tmp_path, capsys):
    X = RandomData(seed=5, n_samples=400).X["full"]  # three well-separated blobs
    csv = write_csv(tmp_path / "data.csv", X)
    best, table = tmp_path / "best.npz", tmp_path / "table.csv"
    args = ["select", csv, "-k", 1, 2, 3, 4, "--covariance-types", "full", "diag"]

    code, out, err = run(
        args + ["--seed", 0, "-o", best, "--table", table, "--with-prior"], capsys
    )

    assert code == 0, err
    want = select(
        X,
        n_components=[1, 2, 3, 4],
        covariance_types=["full", "diag"],
        priors=(None, "default"),
        random_state=0,
    )
    model = load(best)
    assert model.n_components == want.best_estimator_.n_components
    assert_array_equal(model.means_, want.best_estimator_.means_)
    header, *rows = table.read_text().splitlines()
    assert header.split(",")[:3] == ["n_components", "covariance_type", "prior"]
    assert len(rows) == 16 and rows[0].split(",")[1:3] == ["full", "None"]
    assert len(out.splitlines()) == 1 + 16 + 2  # header, rows, best, saved
    assert f"best by bic: {model.n_components} " in out


def test_every_data_format_gives_the_same_labels(fitted, tmp_path, capsys):
    csv, model_path, X = fitted
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    files = {
        "no header": write_csv(tmp_path / "plain.csv", X, header=None),
        "tsv": write_csv(tmp_path / "data.tsv", X, delimiter="\t"),
        "semicolons": write_csv(tmp_path / "semi.txt", X, delimiter=";"),
        "columns reordered": write_csv(tmp_path / "ba.csv", X[:, ::-1], ("b", "a")),
        "npy": tmp_path / "data.npy",
        "parquet": tmp_path / "data.parquet",
    }
    np.save(files["npy"], X)
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1]}), files["parquet"])
    expected = load_unnamed(model_path).predict(X)
    for kind, path in files.items():
        code, out, err = run(["predict", model_path, path], capsys)
        assert code == 0, (kind, err)
        assert_array_equal(np.array(out.split()[1:], int), expected, err_msg=kind)


def test_csv_from_stdin(fitted, monkeypatch, capsys):
    csv, model_path, X = fitted
    monkeypatch.setattr(sys, "stdin", io.StringIO(csv.read_text()))
    code, out, _ = run(["predict", model_path, "-"], capsys)
    assert code == 0
    assert_array_equal(
        np.array(out.split()[1:], int), load_unnamed(model_path).predict(X)
    )


def test_a_row_of_empty_cells_keeps_its_place(fitted, tmp_path, capsys):
    # "," is a row whose values are all missing: never dropped like a blank line.
    _, model_path, X = fitted
    holes = tmp_path / "holes.csv"
    write_csv(holes, X[:3])
    lines = holes.read_text().splitlines()
    lines[2] = ","
    holes.write_text("\n".join(lines) + "\n")
    for command in ("predict", "impute"):
        code, out, err = run([command, model_path, holes], capsys)
        if code == 0:  # the estimator gives an all-missing row its answer
            assert len(out.splitlines()) == 1 + 3, command
        else:  # the estimator refuses all-missing rows: its one line, no row lost
            assert code == 2, err
            assert err.startswith("fastem: error: Row 1 of X is entirely NaN"), err
            assert err.count("\n") == 1, err


@pytest.mark.parametrize("text", ["a,b\n1,2\n", "1,2\n"])
def test_a_byte_order_mark_on_stdin_is_not_data(text, tmp_path):
    model_path = tmp_path / "m.npz"
    result = subprocess.run(
        [sys.executable, "-m", "fastem", "fit", "-", "-k", "1", "-o", model_path],
        input=b"\xef\xbb\xbf" + f"{text}3,4\n5,7\n".encode(),
        capture_output=True,
    )
    assert result.returncode == 0, result.stderr
    assert "on 3 rows x 2 features" in result.stdout.decode()
    names = getattr(load(model_path), "feature_names_in_", None)
    assert (None if names is None else list(names)) == (
        ["a", "b"] if text.startswith("a") else None
    )


def test_columns_and_drop_choose_what_is_read(fitted, tmp_path, capsys):
    # The fitted data with an id column in front and a text column between.
    csv, model_path, X = fitted
    labelled = tmp_path / "labelled.csv"
    rows = [f"{i},{a!r},{'Adelie' if i % 2 else 'Gentoo'},{b!r}" for i, (a, b) in
            enumerate(X.tolist())]  # fmt: skip
    labelled.write_text("\n".join(["id,a,species,b", *rows]) + "\n")
    expected = run(["predict", model_path, csv], capsys)[1]
    for choice in (["--drop", "id", "species"], ["--columns", "b", "1"]):
        code, out, err = run(["predict", model_path, labelled, *choice], capsys)
        assert (code, err) == (0, "")
        assert out == expected, choice
    code, _, err = run(
        ["fit", labelled, "--drop", "species", "0", "-k", 3, "--seed", 0, "-o",
         tmp_path / "m.npz"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    refit = load(tmp_path / "m.npz")
    assert list(refit.feature_names_in_) == ["a", "b"]
    assert_array_equal(refit.means_, load(model_path).means_)
    for command in (["score"], ["impute"]):
        code, _, err = run([*command, model_path, labelled, "--columns", "a", "b"],
                           capsys)  # fmt: skip
        assert code == 0, (command, err)
    code, out, err = run(
        ["select", labelled, "--drop", "species", "id", "-k", 1, 2,
         "--covariance-types", "full"],
        capsys,
    )  # fmt: skip
    assert code == 0, err

    code, _, err = run(["predict", model_path, labelled], capsys)
    assert code == 2
    assert err == (
        f"fastem: error: {labelled}, line 2, column species: 'Gentoo' is not a "
        "number; leave the column out with --drop species\n"
    )


@pytest.mark.parametrize("command", ["fit", "predict", "score", "impute", "select"])
def test_every_command_that_reads_data_chooses_columns(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = capsys.readouterr().out
    assert "--columns COLUMN [COLUMN ...]" in help_text
    assert "--drop COLUMN [COLUMN ...]" in help_text
    arguments = {"fit": ["-k", "1"], "select": []}.get(command, ["model.npz"])
    with pytest.raises(SystemExit) as exit_info:
        main([command, *arguments, "x.csv", "--columns", "a", "--drop", "b"])
    assert exit_info.value.code == 2
    assert "not allowed with argument --columns" in capsys.readouterr().err


def test_float32_npy_gives_a_float32_model(tmp_path, data, capsys):
    np.save(tmp_path / "x.npy", data.astype(np.float32))
    code, _, _ = run(["fit", tmp_path / "x.npy", "-k", 2, "-o", tmp_path / "m"], capsys)
    assert code == 0
    assert load(tmp_path / "m").means_.dtype == np.float32


# --- user errors: exit code 2, one line, no traceback -------------------------------


def bad_inputs(tmp_path, model):
    """(arguments, expected message) for user errors."""
    (tmp_path / "text.csv").write_text("a,b\n1,2\n3,x\n")
    (tmp_path / "ragged.csv").write_text("1,2\n3,4,5\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "three.csv").write_text("1,2,3\n4,5,6\n")
    (tmp_path / "other.csv").write_text("a,c\n1,2\n3,4\n")
    (tmp_path / "huge.csv").write_text("1,2\n1," + "1" * 140_000 + "\n")
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2)))
    d = tmp_path
    return [
        (["fit", d / "missing.csv", "-k", 2, "-o", d / "m"], "No such file"),
        (["fit", d / "text.csv", "-k", 1, "-o", d / "m"], "line 3, column b: 'x'"),
        (["fit", d / "ragged.csv", "-k", 1, "-o", d / "m"], "line 2: 3 fields"),
        (["fit", d / "empty.csv", "-k", 1, "-o", d / "m"], "no rows of data"),
        (["fit", d / "huge.csv", "-k", 1, "-o", d / "m"], "line 2: field larger"),
        (["predict", model, d / "three.csv", "--delimiter", ""], "character, got ''"),
        (["predict", model, d / "three.csv", "--delimiter", ";;"], "got ';;'"),
        (["fit", d / "cube.npy", "-k", 1, "-o", d / "m"], "1-D or 2-D"),
        (["fit", d / "data.xlsx", "-k", 1, "-o", d / "m"], "unknown data format"),
        (["fit", d / "three.csv", "-k", 0, "-o", d / "m"], "'n_components'"),
        (["fit", d / "three.csv", "-k", 5, "-o", d / "m"], "n_samples >= n_comp"),
        (["fit", d / "three.csv", "-k", 1, "--tol", -1, "-o", d / "m"], "'tol'"),
        (["fit", d / "three.csv", "-k", 1, "-o", d / "no" / "m"], "no such directory"),
        (["predict", d / "three.csv", d / "three.csv"], "not a fastem model"),
        (["predict", model, d / "three.csv"], "has 3 features"),
        (["predict", model, d / "other.csv"], "do not match the model's features"),
        (["sample", model, 0], "n_samples"),
        (["sample", model, 10**12], "1000000000000 samples of 2 features need"),
    ]


def test_user_errors_exit_2_with_one_line(fitted, tmp_path, capsys):
    _, model_path, _ = fitted
    for args, message in bad_inputs(tmp_path, model_path):
        code, out, err = run(args, capsys)
        assert code == 2, args
        assert err.startswith("fastem: error: "), err
        assert err.count("\n") == 1, err
        assert message in err, (message, err)


def test_a_missing_file_is_named_alike_in_every_format(fitted, tmp_path, capsys):
    pytest.importorskip("pyarrow")
    _, model_path, _ = fitted
    for name in ("missing.csv", "missing.npy", "missing.parquet"):
        code, _, err = run(["predict", model_path, tmp_path / name], capsys)
        assert code == 2
        assert err == f"fastem: error: {tmp_path / name}: No such file or directory\n"


def test_a_model_file_of_another_class_is_refused_by_name(fitted, tmp_path, capsys):
    csv, _, X = fitted
    imputer = GaussianMixtureImputer(2, random_state=0).fit(X)
    imputer.save(tmp_path / "imputer.npz")
    imputer_path = tmp_path / "imputer.npz"
    every = (
        "BernoulliMixture or CategoricalHMM or GMMHMM or GaussianHMM or "
        "GaussianMixture or MultinomialMixture or PoissonHMM"
    )
    needs = {
        "predict": every,
        "sample": every,
        "impute": "BernoulliMixture or CategoricalHMM or GMMHMM or GaussianHMM or "
        "GaussianMixture or PoissonHMM",
    }
    for command, *rest in (["predict", csv], ["impute", csv], ["sample", 3]):
        code, _, err = run([command, imputer_path, *rest], capsys)
        assert code == 2
        assert err == (
            f"fastem: error: {imputer_path} holds a GaussianMixtureImputer; fastem "
            f"{command} needs a {needs[command]}, as fastem fit and fastem select "
            "save\n"
        )


def test_sample_refuses_more_than_memory_holds_before_drawing(
    fitted, monkeypatch, capsys
):
    _, model_path, _ = fitted
    monkeypatch.setattr(_cli, "_physical_memory", lambda: 2**30)
    monkeypatch.setattr(GaussianMixture, "sample", None)  # never reached
    n_samples = 2**30 // (2 * 8 + 8) + 1  # two float64 features and a label
    code, _, err = run(["sample", model_path, n_samples], capsys)
    assert code == 2
    assert err == (
        f"fastem: error: {n_samples} samples of 2 features need 1.0 GiB of memory, "
        "more than this machine's 1.0 GiB: draw fewer (runs with different --seed "
        "draw more)\n"
    )


def test_running_out_of_memory_is_one_line(fitted, monkeypatch, capsys):
    csv, model_path, _ = fitted

    def predict(self, X):
        raise MemoryError("Unable to allocate 8.00 TiB for an array")

    monkeypatch.setattr(GaussianMixture, "predict", predict)
    code, _, err = run(["predict", model_path, csv], capsys)
    assert code == 2
    assert err == "fastem: error: Unable to allocate 8.00 TiB for an array\n"


def test_outputs_are_checked_before_fitting(fitted, tmp_path, monkeypatch, capsys):
    csv, _, _ = fitted
    monkeypatch.setattr(GaussianMixture, "fit", None)  # never reached
    monkeypatch.setattr(_selection, "select", None)
    missing = tmp_path / "no" / "out.csv"
    for args, message in [
        (["fit", csv, "-k", 1, "-o", missing], f"{missing.parent}: no such directory"),
        (["fit", csv, "-k", 1, "-o", tmp_path], f"{tmp_path}: is a directory"),
        (["select", csv, "-o", missing], f"{missing.parent}: no such directory"),
        (["select", csv, "--table", missing], f"{missing.parent}: no such directory"),
        (["select", csv, "--table", tmp_path], f"{tmp_path}: is a directory"),
    ]:
        code, _, err = run(args, capsys)
        assert code == 2
        assert err == f"fastem: error: {message}\n", args


def test_argument_errors_exit_2():
    for args in (["bogus"], ["fit", "x.csv"], ["fit", "x.csv", "-k", "two"], []):
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 2


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_on_each_command(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"] if command is None else [command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: fastem" in capsys.readouterr().out


def test_version(capsys):
    import fastem

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"fastem {fastem.__version__}\n"


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_no_estimator(flag):
    # What makes them slow is importing scikit-learn, SciPy and matplotlib: check
    # what a real process imports, not how long it takes (the machine is noisy).
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "fastem", flag],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "fastem" in imported
    heavy = {"sklearn", "scipy", "matplotlib", "joblib", "pandas", "pyarrow"}
    assert not imported & heavy


def test_no_traceback_in_a_real_process(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "fastem", "fit", tmp_path / "no.csv", "-k", "2", "-o",
         tmp_path / "m"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 2
    assert (
        result.stderr
        == f"fastem: error: {tmp_path / 'no.csv'}: No such file or directory\n"
    )


def test_warnings_are_one_line(fitted, tmp_path, capsys):
    csv, _, _ = fitted
    code, _, err = run(
        ["fit", csv, "-k", 3, "--max-iter", 1, "-o", tmp_path / "m"], capsys
    )
    assert code == 0
    assert err == (
        "fastem: warning: Best performing initialization did not converge. Try "
        "different init parameters, or increase max_iter, tol, or check for "
        "degenerate data.\n"
    )


def test_a_closed_pipe_is_not_an_error(fitted):
    _, model_path, _ = fitted
    big = np.random.default_rng(0).normal(size=(30_000, 2))
    npy = model_path.with_name("big.npy")
    np.save(npy, big)
    process = subprocess.Popen(
        [sys.executable, "-m", "fastem", "predict", model_path, npy, "--proba"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout.readline() == b"p0,p1,p2\n"
    process.stdout.close()  # like `| head -1`
    assert process.wait(timeout=60) == 0
    assert process.stderr.read() == b""


# --- progress bar ------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_only(fitted, tmp_path, capsys, monkeypatch):
    pytest.importorskip("tqdm")
    csv, _, _ = fitted
    args = ["fit", csv, "-k", 3, "--n-init", 2, "--tol", 0, "--max-iter", 20]

    # Not a terminal (pytest's capture): no bar.
    code, _, err = run([*args, "-o", tmp_path / "m1"], capsys)
    assert code == 0 and "EM run" not in err

    monkeypatch.setattr(_cli, "PROGRESS_DELAY_S", 0)
    monkeypatch.setattr(_cli, "PROGRESS_INTERVAL_S", 0)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main([str(a) for a in [*args, "-o", tmp_path / "m2"]]) == 0
    shown = terminal.getvalue()
    assert "EM run 1/2" in shown and "EM run 2/2" in shown
    assert "lower_bound=" in shown and "20/20" in shown
    # The warning comes after the bar is cleared, on its own line.
    assert shown.endswith(
        "\rfastem: warning: Best performing initialization did not "
        "converge. Try different init parameters, or increase max_iter, tol, or check "
        "for degenerate data.\n"
    )

    terminal.seek(0), terminal.truncate()
    assert main([str(a) for a in [*args, "-q", "-o", tmp_path / "m3"]]) == 0
    assert "EM run" not in terminal.getvalue()


def test_npy_files_with_missing_values_fit_as_csv_files_do(tmp_path, data, capsys):
    """A .npy file is memory-mapped and read in chunks: NaN in it is a missing value
    there too, and the fit is the one of the same rows read from CSV."""
    X = data.copy()
    X[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
    X[5] = np.nan
    np.save(tmp_path / "holes.npy", X)
    csv = write_csv(tmp_path / "holes.csv", X)
    for source in (tmp_path / "holes.npy", csv):
        code, _, err = run(
            ["fit", source, "-k", 2, "--seed", 0, "-o", f"{source}.model.npz"], capsys
        )
        assert code == 0, err
    from_npy = load(f"{tmp_path / 'holes.npy'}.model.npz")
    from_csv = load(f"{csv}.model.npz")
    assert_allclose(from_npy.means_, from_csv.means_, rtol=1e-10)
    code, out, err = run(
        [
            "impute",
            f"{csv}.model.npz",
            tmp_path / "holes.npy",
            "-o",
            tmp_path / "f.npy",
        ],
        capsys,
    )
    assert code == 0, err
    assert not np.isnan(np.load(tmp_path / "f.npy")).any()


def test_select_takes_missing_values_as_fit_does(tmp_path, data, capsys):
    X = data.copy()
    X[np.random.default_rng(2).random(X.shape) < 0.1] = np.nan
    csv = write_csv(tmp_path / "holes.csv", X)
    code, out, err = run(["select", csv, "-k", 1, 2, 3, "--seed", 0], capsys)
    assert code == 0, err
    assert "best by bic" in out


def test_fit_other_models_from_sparse_files(tmp_path, capsys):
    """--model picks the estimator; sparse .npz and svmlight files are read as CSR
    and give the dense file's fit."""
    import scipy.sparse as sp
    from sklearn.datasets import dump_svmlight_file

    rng = np.random.default_rng(0)
    theta = rng.dirichlet(np.full(12, 0.3), size=2)
    counts = np.stack([rng.multinomial(30, theta[k % 2]) for k in range(200)])
    X = counts.astype(float)
    np.save(tmp_path / "counts.npy", X)
    sp.save_npz(tmp_path / "counts.npz", sp.csr_matrix(X))
    dump_svmlight_file(X, np.zeros(len(X)), str(tmp_path / "counts.svm"))
    fitted = {}
    for name in ("counts.npy", "counts.npz", "counts.svm"):
        model_path = tmp_path / f"{name}.model.npz"
        code, out, err = run(
            ["fit", tmp_path / name, "--model", "multinomial", "-k", 2,
             "--seed", 0, "-o", model_path],
            capsys,
        )  # fmt: skip
        assert code == 0, err
        assert "fitted 2 multinomial components" in out
        fitted[name] = load(model_path)
    for name in ("counts.npz", "counts.svm"):
        assert_allclose(
            fitted[name].feature_log_prob_,
            fitted["counts.npy"].feature_log_prob_,
            rtol=1e-12,
        )
    code, out, err = run(
        ["predict", tmp_path / "counts.npy.model.npz", tmp_path / "counts.svm"], capsys
    )
    assert code == 0, err
    labels = np.array(out.split()[1:], dtype=int)
    assert_array_equal(labels, fitted["counts.npy"].predict(X))


def test_options_of_another_model_are_refused(tmp_path, data, capsys):
    csv = write_csv(tmp_path / "x.csv", data)
    code, _, err = run(
        ["fit", csv, "--model", "bernoulli", "-k", 2, "--covariance-type", "diag",
         "-o", tmp_path / "m.npz"],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert err == (
        "fastem: error: --covariance-type is not a parameter of --model bernoulli\n"
    )
    code, _, err = run(
        ["fit", csv, "--model", "bernoulli", "-k", 2, "-o", tmp_path / "m.npz"], capsys
    )
    assert code == 2 and "is not 0 or 1" in err


def test_select_other_models(tmp_path, capsys):
    X = (np.random.default_rng(3).random((300, 8)) < 0.3).astype(float)
    X[:150, :4] = 1.0
    np.save(tmp_path / "binary.npy", X)
    code, out, err = run(
        ["select", tmp_path / "binary.npy", "--model", "bernoulli", "-k", 1, 2, 3,
         "--seed", 0, "-o", tmp_path / "best.npz"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "best by bic: 2 bernoulli components" in out
    assert type(load(tmp_path / "best.npz")).__name__ == "BernoulliMixture"


# --- hidden Markov models -------------------------------------------------------------


@pytest.fixture
def sequences(tmp_path):
    """A CSV of three sequences of a 2-state GaussianHMM (one NaN cell) and the
    file of their lengths."""
    from fastem.hmm import GaussianHMM

    truth = GaussianHMM(2)
    truth.startprob_, truth.transmat_ = [0.5, 0.5], [[0.9, 0.1], [0.2, 0.8]]
    truth.means_, truth.covars_ = [[0.0, 0.0], [5.0, 5.0]], np.ones((2, 2))
    X = np.concatenate([truth.sample(n, random_state=n)[0] for n in (90, 70, 40)])
    X[5, 1] = np.nan
    csv = tmp_path / "frames.csv"
    csv.write_text(
        "a,b\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in X) + "\n"
    )
    lengths = tmp_path / "lengths.txt"
    lengths.write_text("90\n70\n40\n")
    return csv, lengths, X, np.array([90, 70, 40])


def test_fit_and_decode_sequences_give_the_python_api_numbers(
    tmp_path, sequences, capsys
):
    from fastem.hmm import GaussianHMM

    csv, lengths_file, X, lengths = sequences
    model = tmp_path / "hmm.npz"
    code, out, err = run(
        ["fit", "--model", "gaussian-hmm", csv, "--lengths", lengths_file, "-k", 2]
        + ["--seed", 0, "-o", model],
        capsys,
    )
    assert code == 0, err
    assert "2 diag states of a gaussian-hmm on 3 sequence(s), 200 frames" in out
    expected = GaussianHMM(2, random_state=0, n_iter=100, tol=1e-3).fit(X, lengths)
    saved = load_unnamed(model)
    assert_allclose(saved.means_, expected.means_, rtol=1e-12)
    for algorithm in ("viterbi", "map"):
        states = tmp_path / f"{algorithm}.csv"
        code, _, err = run(
            ["decode", model, csv, "--lengths", lengths_file]
            + ["--algorithm", algorithm, "-o", states],
            capsys,
        )
        assert code == 0, err
        log_prob, want = expected.decode(X, lengths, algorithm=algorithm)
        assert_array_equal(read_table(str(states))[0][:, 0], want)
        assert f"{log_prob:.10g}" in err
    code, out, _ = run(["score", model, csv, "--lengths", lengths_file], capsys)
    assert_allclose(float(out), expected.score(X, lengths), rtol=1e-12)
    per_sequence = tmp_path / "scores.csv"
    code, _, _ = run(
        ["score", model, csv, "--lengths", lengths_file, "--per-sample"]
        + ["-o", per_sequence],
        capsys,
    )
    pieces = np.split(X, np.cumsum(lengths)[:-1])
    assert_allclose(
        read_table(str(per_sequence))[0][:, 0],
        [expected.score(piece) for piece in pieces],
        rtol=1e-12,
    )
    imputed = tmp_path / "imputed.csv"
    code, _, err = run(
        ["impute", model, csv, "--lengths", lengths_file, "-o", imputed], capsys
    )
    assert code == 0, err
    assert_allclose(
        read_table(str(imputed))[0], expected.impute(X, lengths), rtol=1e-12
    )


def test_select_over_states_of_sequences(tmp_path, sequences, capsys):
    csv, lengths_file, X, lengths = sequences
    best = tmp_path / "best.npz"
    code, out, err = run(
        ["select", "--model", "gaussian-hmm", csv, "--lengths", lengths_file]
        + ["-k", 1, 2, 3, "--covariance-types", "diag", "--seed", 0, "-o", best],
        capsys,
    )
    assert code == 0, err
    assert "best by bic: 2 diag states" in out
    assert load(best).n_components == 2


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--n-init", 3], "--n-init is not a parameter of --model gaussian-hmm"),
        (["--reg-covar", 1e-3], "--reg-covar is not a parameter of --model"),
        (["--lengths", "BAD"], "lengths sum to 180, but X has 200 rows"),
    ],
)
def test_bad_sequence_options_end_with_one_line(
    tmp_path, sequences, capsys, arguments, message
):
    csv, lengths_file, _, _ = sequences
    (tmp_path / "bad.txt").write_text("90\n90\n")
    arguments = [tmp_path / "bad.txt" if a == "BAD" else a for a in arguments]
    code, _, err = run(
        ["fit", "--model", "gaussian-hmm", csv, "-k", 2, "-o", tmp_path / "m.npz"]
        + arguments,
        capsys,
    )
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_lengths_and_decode_are_for_hidden_markov_models(fitted, capsys):
    csv, model, _ = fitted
    (csv.parent / "lengths.txt").write_text("300\n")
    code, _, err = run(
        ["predict", model, csv, "--lengths", csv.parent / "lengths.txt"], capsys
    )
    assert code == 2 and "--lengths is for hidden Markov models" in err
    code, _, err = run(["decode", model, csv], capsys)
    assert code == 2 and "fastem decode needs a" in err
