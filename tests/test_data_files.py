"""Data files for the command line: CSV header detection and missing cells, .npy and
Parquet, exact round trips, and errors that name the file, line and column."""

import io
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_array_equal

from fastem.cli._data_files import read_table, write_table

nan = np.nan


def read_text(tmp_path, text, name="data.csv", **kwargs):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_table(path, **kwargs)


def test_header_is_detected_from_a_non_numeric_first_row(tmp_path):
    X, columns = read_text(tmp_path, "x, y\n1, 2\n3.5, -4e2\n")
    assert columns == ["x", "y"]
    assert_array_equal(X, [[1.0, 2.0], [3.5, -400.0]])
    assert X.dtype == np.float64

    X, columns = read_text(tmp_path, "1,2\n3,4\n")
    assert columns is None
    assert_array_equal(X, [[1.0, 2.0], [3.0, 4.0]])


def test_missing_cells_are_nan(tmp_path):
    X, columns = read_text(tmp_path, "a,b,c\n1,,NA\nnan,N/A,null\n 2 , None ,3\n")
    expected = [[1, np.nan, np.nan], [np.nan, np.nan, np.nan], [2, np.nan, 3]]
    assert_array_equal(X, expected)
    # A first row of only missing cells is data, not a header.
    X, columns = read_text(tmp_path, "NA,1\n2,3\n")
    assert columns is None and np.isnan(X[0, 0])


def test_a_row_of_empty_cells_is_a_row_of_missing_values(tmp_path):
    X, columns = read_text(tmp_path, "a,b\n1,2\n,\n3,4\n , \n,\n\n")
    assert columns == ["a", "b"]
    # The empty line at the end is no row; every line with its delimiter is one.
    assert_array_equal(X, [[1, 2], [nan, nan], [3, 4], [nan, nan], [nan, nan]])
    X, columns = read_text(tmp_path, ",,\n1,2,3\n")
    assert columns is None
    assert_array_equal(X, [[nan, nan, nan], [1, 2, 3]])


def test_an_empty_line_of_a_one_column_table_is_a_missing_value(tmp_path):
    # With one column an empty line is an empty cell; only the lines before the
    # first value and after the last are blank.
    X, columns = read_text(tmp_path, "\nx\n1\n\n3\n\n\n")
    assert columns == ["x"]
    assert_array_equal(X, [[1], [np.nan], [3]])


@pytest.mark.parametrize("text", ["\ufeffa,b\n1,2\n", "\ufeff1,2\n"])
def test_a_byte_order_mark_on_stdin_is_not_data(text, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(text + "3,4\n"))
    X, columns = read_table("-")
    assert columns == (["a", "b"] if text.startswith("\ufeffa") else None)
    assert_array_equal(X, [[1.0, 2.0], [3.0, 4.0]])


def test_delimiters_bom_and_blank_lines(tmp_path):
    for text, name in [
        ("a\tb\n1\t2\n", "data.tsv"),
        ("a;b\n1;2\n", "data.txt"),
        ("\ufeffa,b\n\n1,2\n\n", "data.csv"),
    ]:
        X, columns = read_text(tmp_path, text, name=name)
        assert columns == ["a", "b"], name
        assert_array_equal(X, [[1.0, 2.0]])
    X, columns = read_text(tmp_path, "a|b\n1|2\n", delimiter="|")
    assert columns == ["a", "b"]
    X, _ = read_text(tmp_path, "1\n2\n3\n")  # one column, no delimiter at all
    assert X.shape == (3, 1)


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,b\n1,2\n3\n", "data.csv, line 3: 1 fields, expected 2"),
        ("a,b\n1,2\n3,abc\n", "data.csv, line 3, column b: 'abc' is not a number"),
        ("1,2\n3,4x\n", "data.csv, line 2, column 2: '4x' is not a number"),
        ("a,b\n", "data.csv: no rows of data"),
        ("", "data.csv: no rows of data"),
        (
            "a,b\n1,2\n1," + "1" * 140_000 + "\n",
            r"data.csv, line 3: field larger than field limit \(131072\)",
        ),
    ],
)
def test_bad_csv_names_the_place(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        read_text(tmp_path, text)


@pytest.mark.parametrize("delimiter", ["", ";;"])
def test_a_delimiter_is_one_character(tmp_path, delimiter):
    with pytest.raises(ValueError, match="the delimiter must be one character"):
        read_text(tmp_path, "1,2\n", delimiter=delimiter)


PENGUINS = "species,bill length,mass\nAdelie,39.1,3750\nGentoo,46.1,\n"


BILL_MASS, MASS_BILL = [[39.1, 3750], [46.1, nan]], [[3750, 39.1], [nan, 46.1]]


@pytest.mark.parametrize(
    "choice, names, X",
    [
        (dict(drop=["species"]), ["bill length", "mass"], BILL_MASS),
        (dict(drop=[0]), ["bill length", "mass"], BILL_MASS),
        (dict(columns=["mass", "bill length"]), ["mass", "bill length"], MASS_BILL),
        (dict(columns=["2", 1]), ["mass", "bill length"], MASS_BILL),
        (dict(columns=["mass", "1"]), ["mass", "bill length"], MASS_BILL),
    ],
)
def test_columns_are_chosen_by_name_or_index(tmp_path, choice, names, X):
    read, columns = read_text(tmp_path, PENGUINS, **choice)
    assert columns == names
    assert_array_equal(read, X)


def test_without_a_header_columns_are_chosen_by_index(tmp_path):
    # The text is in the column left out, so the first row is data, not a header.
    X, columns = read_text(tmp_path, "Adelie,1,2\nGentoo,3,4\n", drop=["0"])
    assert columns is None
    assert_array_equal(X, [[1, 2], [3, 4]])
    X, _ = read_text(tmp_path, "Adelie,1,2\nGentoo,3,4\n", columns=[2])
    assert_array_equal(X, [[2], [4]])
    with pytest.raises(ValueError, match="no column names: choose its columns by 0"):
        read_text(tmp_path, "1,2\n3,4\n", drop=["a"])


@pytest.mark.parametrize(
    "choice, message",
    [
        (dict(drop=["sex"]), "no column named 'sex'; its columns: "),
        (dict(columns=[3]), "has 3 columns: no column 3 \\(indices count from 0"),
        (dict(drop=[-1]), "has 3 columns: no column -1 "),
        (dict(columns=["mass", "2"]), "a column is chosen twice"),
        (dict(drop=["species", 1, "mass"]), "no columns left to read"),
        (dict(columns=["mass"], drop=["species"]), "not both"),
        ({}, "column species: 'Adelie' is not a number; leave the column out with "
         "--drop species$"),
        (dict(drop=["mass"]), "--drop species"),
        (dict(columns=["species"]), "--drop species"),
    ],
)  # fmt: skip
def test_bad_column_choices_say_what_to_do(tmp_path, choice, message):
    with pytest.raises(ValueError, match=message):
        read_text(tmp_path, PENGUINS, **choice)


def test_a_text_column_is_named_so_that_the_shell_reads_it_back(tmp_path):
    text = "length,species name\n1,Adelie\n"
    with pytest.raises(ValueError, match="--drop 'species name'$"):
        read_text(tmp_path, text)
    with pytest.raises(
        ValueError,
        match="column 2: 'x' is not a number; leave the "
        r"column out with --drop 1 \(indices count from 0\)$",
    ):
        read_text(tmp_path, "1,2\n3,x\n")


def test_npy_keeps_its_dtype_and_is_not_copied(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    np.save(tmp_path / "x.npy", X)
    read, columns = read_table(tmp_path / "x.npy")
    assert columns is None and read.dtype == np.float32
    assert isinstance(read, np.memmap)
    assert_array_equal(read, X)
    np.save(tmp_path / "v.npy", np.arange(5))
    assert read_table(tmp_path / "v.npy")[0].shape == (5, 1)


def test_npy_columns_by_index_only(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "x.npy", X)
    read, columns = read_table(tmp_path / "x.npy", columns=["2", 0])
    assert columns is None and read.dtype == np.float32
    assert_array_equal(read, X[:, [2, 0]])
    assert_array_equal(read_table(tmp_path / "x.npy", drop=[1])[0], X[:, [0, 2]])
    with pytest.raises(ValueError, match="x.npy has no column names"):
        read_table(tmp_path / "x.npy", drop=["a"])


@pytest.mark.parametrize(
    "array, message",
    [(np.zeros((2, 2, 2)), "1-D or 2-D"), (np.array(["a", "b"]), "not numbers")],
)
def test_bad_npy(tmp_path, array, message):
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(ValueError, match=message):
        read_table(tmp_path / "x.npy")


def test_parquet_nulls_dtypes_and_errors(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table(
        {"n": pa.array([1, None, 3], pa.int64()), "x": pa.array([0.5, 1.5, None])}
    )
    pq.write_table(table, tmp_path / "d.parquet")
    X, columns = read_table(tmp_path / "d.parquet")
    assert columns == ["n", "x"] and X.dtype == np.float64
    assert_array_equal(X, [[1, 0.5], [np.nan, 1.5], [3, np.nan]])

    single = pa.table({"a": pa.array([1, 2], pa.float32())})
    pq.write_table(single, tmp_path / "f.pq")
    assert read_table(tmp_path / "f.pq")[0].dtype == np.float32

    pq.write_table(
        pa.table({"name": ["a", "b"], "x": [1.0, 2.0]}), tmp_path / "s.parquet"
    )
    with pytest.raises(ValueError, match="column 'name' holds string, not numbers"):
        read_table(tmp_path / "s.parquet")
    with pytest.raises(ValueError, match="leave the column out with --drop name$"):
        read_table(tmp_path / "s.parquet", columns=["x", "name"])
    for choice in (dict(drop=["name"]), dict(columns=["x"]), dict(drop=[0])):
        X, columns = read_table(tmp_path / "s.parquet", **choice)
        assert columns == ["x"]
        assert_array_equal(X, [[1.0], [2.0]])
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="not a readable Parquet file"):
        read_table(tmp_path / "bad.parquet")


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"pip install fastem\[parquet\]"):
        read_table(tmp_path / "d.parquet")


def test_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="unknown data format '.json'"):
        read_table(tmp_path / "d.json")


floats = arrays(
    np.float64,
    st.tuples(st.integers(1, 20), st.integers(1, 4)),
    elements=st.floats(allow_infinity=False, width=64),
)


@settings(max_examples=40, deadline=None)
@given(X=floats)
def test_csv_round_trip_is_exact(tmp_path_factory, X):
    path = tmp_path_factory.mktemp("csv") / "x.csv"
    names = [f"c{j}" for j in range(X.shape[1])]
    write_table(path, dict(zip(names, X.T)))
    read, columns = read_table(path)
    assert columns == names
    assert_array_equal(read, X)  # NaN where NaN, every other bit the same


def test_writers_keep_integer_columns(tmp_path, capsys):
    columns = {"x": np.array([0.1, 2.0]), "label": np.array([3, 4])}
    write_table("-", columns)
    assert capsys.readouterr().out == "x,label\n0.1,3\n2.0,4\n"
    write_table(tmp_path / "t.npy", {"label": np.array([3, 4])})
    assert np.load(tmp_path / "t.npy").dtype == np.int64
    pa = pytest.importorskip("pyarrow")
    write_table(tmp_path / "t.parquet", columns)
    table = pa.parquet.read_table(tmp_path / "t.parquet")
    assert table.schema.field("label").type == pa.int64()


def test_npy_of_a_table_with_text_needs_no_pickle(tmp_path):
    # fastem select --table t.npy: numbers beside the covariance types' names.
    columns = {
        "n_components": np.array([1, 2]),
        "covariance_type": np.array(["full", "spherical"], dtype=object),
        "bic": np.array([10.5, 9.25]),
    }
    write_table(tmp_path / "t.npy", columns)
    table = np.load(tmp_path / "t.npy", allow_pickle=False)
    assert table.dtype.names == tuple(columns)
    for name, column in columns.items():
        assert table[name].tolist() == column.tolist(), name
    assert table["n_components"].dtype == np.int64
