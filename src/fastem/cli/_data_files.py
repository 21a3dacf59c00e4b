"""Tables of numbers in files, for the command line: CSV, .npy and Parquet, and
sparse matrices (``scipy.sparse.save_npz`` files, svmlight / LIBSVM text).

``read_table`` returns a 2-D array (a CSR matrix for sparse files) and its column
names (None when the file has none); ``write_table`` writes one. Missing cells
(empty, ``NA``, ``nan``, Parquet nulls) are read as NaN, and a CSV row of empty
cells (``,``) is a row of NaN, so that the rows written for a file stay aligned with
its rows. Errors a user can fix (no such file, a bad cell, a ragged row, an unknown
format) raise ``ValueError`` or ``OSError`` naming the file and the place.
"""

import csv
import io
import itertools
import os
import shlex
import sys
from numbers import Integral

import numpy as np

# Cell texts read as a missing value (compared lower-cased), as pandas does by default.
MISSING_CELLS = frozenset(
    ["", "na", "n/a", "nan", "-nan", "null", "none", "<na>", "#n/a", "#na"]
)
CSV_SUFFIXES = (".csv", ".tsv", ".tab", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
SVMLIGHT_SUFFIXES = (".svm", ".svmlight", ".libsvm")
STDIO = "-"
BYTE_ORDER_MARK = "\ufeff"


def _suffix(path):
    return os.path.splitext(os.fspath(path))[1].lower()


def read_table(path, delimiter=None, columns=None, drop=None, n_features=None):
    """Read a table of numbers, or some of its columns.

    Parameters
    ----------
    path : str or path-like
        ``.csv``/``.tsv``/``.tab``/``.txt`` (CSV; ``-`` reads it from stdin),
        ``.npy`` (1-D or 2-D, numeric; memory-mapped), ``.parquet``/``.pq``
        (numeric columns; needs pyarrow), ``.npz`` (a ``scipy.sparse.save_npz``
        matrix) or ``.svm``/``.svmlight``/``.libsvm`` (svmlight / LIBSVM text, as
        scikit-learn's ``load_svmlight_file`` reads it; its labels are ignored).
    delimiter : str, optional
        The CSV field separator, one character; by default a tab for
        ``.tsv``/``.tab``, otherwise guessed from the first line (tab, comma or
        semicolon).
    columns : sequence of str or int, optional
        Read only these columns, in this order: names (of the CSV header or the
        Parquet file) or 0-based indices (ints or strings of digits). A .npy file
        read in part is read into memory.
    drop : sequence of str or int, optional
        Read every column but these, in the file's order; not with ``columns``.
    n_features : int, optional
        The number of columns of svmlight text (its last columns may hold no
        value); by default the largest index it holds.

    Returns
    -------
    X : ndarray or CSR matrix of shape (n_rows, n_columns)
        float64 for CSV and svmlight; the file's dtype for .npy, .npz and
        all-float32 Parquet.
    names : list of str or None
        The names of X's columns, or None when the file has none.
    """
    path = os.fspath(path)
    suffix = _suffix(path)
    if path == STDIO:
        return _read_csv(sys.stdin, "<stdin>", delimiter, columns, drop)
    if suffix == ".npy":
        return _read_npy(path, columns, drop), None
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, columns, drop)
    if suffix == ".npz" or suffix in SVMLIGHT_SUFFIXES:
        X = _read_sparse(path, suffix, n_features)
        indices = _chosen_columns(path, X.shape[1], None, columns, drop)
        return (X if indices == list(range(X.shape[1])) else X[:, indices]), None
    if suffix not in CSV_SUFFIXES:
        raise ValueError(
            f"{path}: unknown data format {suffix or '(no extension)'!r}; use .csv, "
            ".tsv, .txt, .npy, .parquet, .npz (sparse) or .svm (svmlight)"
        )
    if suffix in (".tsv", ".tab") and delimiter is None:
        delimiter = "\t"
    with open(path, newline="", encoding="utf-8") as file:
        return _read_csv(file, path, delimiter, columns, drop)


def _is_index(column):
    """Whether a column is chosen by its 0-based index rather than its name."""
    if isinstance(column, str):
        return column.isascii() and column.isdigit()
    return isinstance(column, Integral) and not isinstance(column, bool)


def _chosen_columns(source, width, names, columns, drop):
    """The 0-based indices of the columns to read (see :func:`read_table`).

    Parameters
    ----------
    source : str
        The file's name, for errors.
    width : int
        How many columns the file has.
    names : list of str or None
        Their names, None when the file has none (then only indices choose).
    columns, drop : sequence of str or int, or None
        As in :func:`read_table`.

    Returns
    -------
    indices : list of int
    """
    if columns is not None and drop is not None:
        raise ValueError("choose the columns to read or those to drop, not both")
    if columns is None and drop is None:
        return list(range(width))

    def index(column):
        if _is_index(column):
            if not 0 <= int(column) < width:
                raise ValueError(
                    f"{source} has {width} columns: no column {int(column)} (indices "
                    "count from 0)"
                )
            return int(column)
        if names is None:
            raise ValueError(
                f"{source} has no column names: choose its columns by 0-based "
                f"index, not {column!r}"
            )
        matches = [j for j, name in enumerate(names) if name == column]
        if len(matches) != 1:
            how_many = "no column" if not matches else "several columns"
            raise ValueError(
                f"{source} has {how_many} named {column!r}; its columns: {names}"
            )
        return matches[0]

    if columns is not None:
        indices = [index(column) for column in columns]
        if len(set(indices)) != len(indices):
            raise ValueError(f"{source}: a column is chosen twice in {list(columns)}")
    else:
        dropped = {index(column) for column in drop}
        indices = [j for j in range(width) if j not in dropped]
    if not indices:
        raise ValueError(f"{source}: no columns left to read")
    return indices


def _drop_hint(column):
    """How to leave a column out on the command line."""
    return f"leave the column out with --drop {shlex.quote(str(column))}"


def _read_npy(path, columns, drop):
    try:
        X = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        raise ValueError(f"{path}: not a readable .npy file: {error}") from error
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{path}: holds {X.dtype} values, not numbers")
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise ValueError(f"{path}: expected a 1-D or 2-D array, got {X.ndim}-D")
    indices = _chosen_columns(path, X.shape[1], None, columns, drop)
    return X if indices == list(range(X.shape[1])) else X[:, indices]


def _read_sparse(path, suffix, n_features):
    """A CSR matrix from a scipy.sparse .npz file (no pickle is read) or svmlight
    text."""
    import scipy.sparse as sp

    if suffix == ".npz":
        try:
            return sp.csr_array(sp.load_npz(path))
        except (ValueError, KeyError, OSError) as error:
            if isinstance(error, FileNotFoundError):
                raise
            raise ValueError(
                f"{path}: not a scipy.sparse .npz matrix: {error}"
            ) from error
    from sklearn.datasets import load_svmlight_file

    try:
        X, _ = load_svmlight_file(path, n_features=n_features)
    except ValueError as error:
        raise ValueError(f"{path}: not readable as svmlight text: {error}") from error
    return sp.csr_array(X)


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as error:
        raise ImportError(
            "Parquet files need pyarrow: pip install fastem[parquet]"
        ) from error
    return pyarrow


def _read_parquet(path, columns, drop):
    pa = _pyarrow()
    # Python opens the file, so that a missing or unreadable one is named as in the
    # other formats ("PATH: No such file or directory"); pyarrow's errors are not.
    with open(path, "rb") as file:
        try:
            parquet = pa.parquet.ParquetFile(file)
            names = parquet.schema_arrow.names
            indices = _chosen_columns(path, len(names), names, columns, drop)
            table = parquet.read(columns=[names[j] for j in indices])
        except pa.ArrowException as error:
            raise ValueError(f"{path}: not a readable Parquet file: {error}") from error
    columns = []
    for name, column in zip(table.column_names, table.columns):
        kind = column.type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            raise ValueError(
                f"{path}: column {name!r} holds {kind}, not numbers; "
                + _drop_hint(name)
            )
        # Nulls become NaN (integer columns with nulls come back as float64).
        columns.append(column.to_numpy(zero_copy_only=False))
    if not columns:
        raise ValueError(f"{path}: no columns")
    dtype = np.result_type(*columns)
    dtype = np.float32 if dtype == np.float32 else np.float64
    return np.column_stack([column.astype(dtype) for column in columns]), list(
        table.column_names
    )


def _guess_delimiter(line):
    for candidate in ("\t", ",", ";"):
        if candidate in line:
            return candidate
    return ","


def _parse_cell(text):
    """The number in a cell, NaN for a missing one; ValueError if neither."""
    text = text.strip()
    if text.lower() in MISSING_CELLS:
        return np.nan
    return float(text)


def _is_number_or_missing(text):
    try:
        _parse_cell(text)
    except ValueError:
        return False
    return True


def _is_blank(row):
    """Whether a CSV row is an empty or all-space line: no delimiter, no text."""
    return len(row) <= 1 and not "".join(row).strip()


def _csv_rows(file, name, delimiter):
    """The rows of a CSV text stream and the line number of each, blank lines left
    out, except in a one-column table: there an empty line is an empty cell, a
    missing value, so that the rows stay aligned with the lines. Blank lines
    before the first row and after the last are never rows."""
    if delimiter is not None and len(delimiter) != 1:
        raise ValueError(f"the delimiter must be one character, got {delimiter!r}")
    # A byte-order mark (Excel writes one) is not part of the first cell, whether
    # the text comes from a file or from stdin.
    first = file.readline().removeprefix(BYTE_ORDER_MARK)
    if delimiter is None:
        delimiter = _guess_delimiter(first)
    reader = csv.reader(
        itertools.chain([first], file), delimiter=delimiter, skipinitialspace=True
    )
    rows, line_numbers = [], []
    try:
        for row in reader:
            rows.append(row)
            line_numbers.append(reader.line_num)
    except csv.Error as error:  # e.g. a field over csv.field_size_limit()
        raise ValueError(f"{name}, line {reader.line_num}: {error}") from None
    filled = [i for i, row in enumerate(rows) if not _is_blank(row)]
    if not filled:
        return [], []
    if len(rows[filled[0]]) == 1:
        span = range(filled[0], filled[-1] + 1)
        return [rows[i] or [""] for i in span], [line_numbers[i] for i in span]
    return [rows[i] for i in filled], [line_numbers[i] for i in filled]


def _read_csv(file, name, delimiter, columns, drop):
    rows, line_numbers = _csv_rows(file, name, delimiter)
    if not rows:
        raise ValueError(f"{name}: no rows of data")
    first = [cell.strip() for cell in rows[0]]
    width = len(first)

    def is_header(indices):
        return not all(_is_number_or_missing(first[j]) for j in indices)

    if any(not _is_index(column) for column in columns or drop or ()):
        header = first if is_header(range(width)) else None  # names need a header
        indices = _chosen_columns(name, width, header, columns, drop)
    else:
        # Told from the chosen cells only: without a header, a first row whose
        # text lies in a column left out is data.
        indices = _chosen_columns(name, width, None, columns, drop)
        header = first if is_header(indices) else None
    if header is not None:
        rows, line_numbers = rows[1:], line_numbers[1:]
        if not rows:
            raise ValueError(f"{name}: no rows of data")
    for row, line in zip(rows, line_numbers):
        if len(row) != width:
            raise ValueError(
                f"{name}, line {line}: {len(row)} fields, expected {width}"
            )
    if indices != list(range(width)):
        rows = [[row[j] for j in indices] for row in rows]
    try:
        X = np.array(rows, dtype=np.float64)  # fast path: every cell a plain number
    except ValueError:
        X = np.empty((len(rows), len(indices)))
        for i, (row, line) in enumerate(zip(rows, line_numbers)):
            for k, (j, cell) in enumerate(zip(indices, row)):
                try:
                    X[i, k] = _parse_cell(cell)
                except ValueError:
                    # Columns are named as in the header, else counted from 1 like
                    # lines; --drop counts from 0.
                    if header is not None:
                        column, hint = header[j], _drop_hint(header[j])
                    else:
                        column = j + 1
                        hint = _drop_hint(j) + " (indices count from 0)"
                    raise ValueError(
                        f"{name}, line {line}, column {column}: {cell.strip()!r} is "
                        f"not a number; {hint}"
                    ) from None
    names = None if header is None else [header[j] for j in indices]
    return X, names


def write_table(destination, columns):
    """Write named columns to CSV (``-``: stdout), .npy or Parquet.

    Parameters
    ----------
    destination : str or path-like
        Its extension picks the format: ``.npy`` (numeric columns side by side in
        one array of their common dtype; with text, a structured array, one field
        per column), ``.parquet``/``.pq``, anything else CSV with a header; ``-``
        writes CSV to stdout.
    columns : dict of str -> ndarray of shape (n_rows,)
        Each column keeps its dtype in CSV and Parquet (labels stay integers).
    """
    destination = os.fspath(destination)
    suffix = _suffix(destination)
    if destination == STDIO:
        _write_csv(sys.stdout, columns)
        sys.stdout.flush()
    elif suffix == ".npy":
        np.save(destination, _npy_array(columns), allow_pickle=False)
    elif suffix in PARQUET_SUFFIXES:
        pa = _pyarrow()
        pa.parquet.write_table(pa.table(columns), destination)
    else:
        with open(destination, "w", newline="") as file:
            _write_csv(file, columns)


def _npy_array(columns):
    """Numeric columns side by side in their common dtype (one column as it is); a
    table with text, a structured array with one field per column (text as str), so
    that the file needs no pickle."""
    values = [np.asarray(column) for column in columns.values()]
    if all(value.dtype.kind in "biuf" for value in values):
        return values[0] if len(values) == 1 else np.column_stack(values)
    values = [value.astype(str) if value.dtype == object else value for value in values]
    table = np.empty(
        len(values[0]), [(name, value.dtype) for name, value in zip(columns, values)]
    )
    for name, value in zip(columns, values):
        table[name] = value
    return table


def _csv_cell(value):
    """Text of a value: strings as they are, numbers by repr (the shortest text that
    reads back to the same bits)."""
    return value if isinstance(value, str) else repr(value)


def _write_csv(file, columns, rows_per_write=65536):
    file.write(",".join(columns) + "\n")
    n_rows = len(next(iter(columns.values())))
    for start in range(0, n_rows, rows_per_write):
        stop = start + rows_per_write
        buffer = io.StringIO()
        for row in zip(*(column[start:stop].tolist() for column in columns.values())):
            buffer.write(",".join(map(_csv_cell, row)) + "\n")
        file.write(buffer.getvalue())
