"""Rows that are not in memory: streamed in chunks (memory maps, HDF5 / zarr arrays,
chunk callables) or held by Dask workers; each pass runs a frozen model's kernels over
them chunk by chunk (block by block) and adds up the statistics.
"""

import copy
import ctypes
import mmap
import sys
from dataclasses import dataclass
from functools import cache

import numpy as np
import scipy.sparse as sp
from sklearn.utils.random import sample_without_replacement

from .patterns import MissingValueSource, rows_source
from .sources import ArraySource, largest_magnitude

# Bytes of rows read per chunk out of core: the kernel's threads stay busy and the
# per-chunk overhead is negligible, while memory stays far below a machine's.
CHUNK_BYTES = 64 * 2**20

DASK_MISSING_MESSAGE = (
    "X is a dask array, but dask or distributed is not installed: "
    "pip install fastem[dask]"
)


@dataclass(frozen=True)
class Reading:
    """How a model reads rows.

    Attributes
    ----------
    missing_values : {False, 'patterns', 'native'}
        What NaN in the rows is: an error (False), or a missing value, handled one
        missingness pattern at a time by the model's marginals ('patterns') or by
        its kernel itself ('native').
    sparse : bool
        Whether rows may be scipy.sparse CSR (read as they are) rather than dense.
    """

    missing_values: object = False
    sparse: bool = False


def as_source(X, *, n_features=None, one_pass=False, reading=None):
    """The data source for out-of-core or distributed X; None for in-memory data.

    Parameters
    ----------
    X : object
        - a ``dask.array.Array``: a :class:`DaskSource`;
        - a ``numpy.memmap`` of a file (``np.load(..., mmap_mode="r")`` too), an
          ``h5py`` Dataset or a ``zarr`` Array: a :class:`ChunkSource` slicing ~64 MB
          of rows (an array whose class is ``np.memmap`` but whose memory is not a
          file's, such as a memmap's ``.copy()``, is in memory);
        - a callable returning a fresh iterator of 2-D chunks on each call: a
          :class:`ChunkSource` reading one iterator per pass;
        - an iterator (a generator, say), readable once: a :class:`ChunkSource` when
          ``one_pass``, else a TypeError;
        - anything else (arrays, lists, data frames): None, for the in-memory path.
    n_features : int or None
        The number of columns every chunk must have (None: the first chunk's).
    one_pass : bool
        Whether one pass over the rows is all the caller needs (scoring, partial_fit).
    reading : Reading or None
        How the model reads rows (None: dense, no NaN).
    """
    options = {"n_features": n_features, "reading": reading or Reading()}
    if _is_dask_array(X):
        return DaskSource(X, **options)
    if _file_mapping(X) is not None or _module_root(X) in ("h5py", "zarr"):
        return ChunkSource.from_sliceable(X, **options)
    if isinstance(X, np.ndarray):
        return None
    if callable(X):
        return ChunkSource(X, **options)
    if hasattr(X, "__next__") and iter(X) is X:
        if not one_pass:
            raise TypeError(
                "X is an iterator, which can be read only once, but EM reads the "
                "rows once per iteration: pass a callable that returns a fresh "
                "iterator of chunks on each call (or use partial_fit)"
            )
        return ChunkSource(lambda: X, **options)
    return None


def _module_root(obj):
    return type(obj).__module__.partition(".")[0]


def _is_dask_array(X):
    # Checked by name: importing dask only to ask would cost every call.
    return _module_root(X) == "dask" and type(X).__name__ == "Array"


def _checked_chunk(chunk, index, n_features, reading):
    """The source over a chunk (a float32 / float64 2-D array or CSR matrix; per
    missingness pattern where it holds NaN and the model reads it so), or an error
    naming chunk ``index``."""
    if sp.issparse(chunk):
        return _checked_sparse_chunk(chunk, index, n_features, reading)
    missing_values = reading.missing_values
    array = np.asarray(chunk)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"chunk {index} has dtype {array.dtype}; expected numbers (float32 or "
            "float64 are read as they are, other numbers as float64)"
        )
    if array.ndim != 2:
        raise ValueError(
            f"chunk {index} has shape {array.shape}; expected a 2-D array "
            "(rows, features)"
        )
    if n_features is not None and array.shape[1] != n_features:
        raise ValueError(
            f"chunk {index} has {array.shape[1]} columns; expected {n_features}"
        )
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    finite = np.isfinite(array)
    if finite.all():
        return ArraySource(array)
    infinite = np.isinf(array) if missing_values else ~finite
    if infinite.any():
        row = int(np.argmax(infinite.any(axis=1)))
        what = "infinity" if missing_values else "NaN or infinity"
        raise ValueError(f"chunk {index} contains {what} (first in its row {row})")
    if missing_values == "patterns":
        return MissingValueSource(array, ~finite)
    return ArraySource(array)


def _checked_sparse_chunk(chunk, index, n_features, reading):
    """The source over a sparse chunk, as CSR with float32 / float64 values, or an
    error naming chunk ``index``."""
    if not reading.sparse:
        raise TypeError(
            f"chunk {index} is a sparse matrix, but the model reads dense rows: "
            "convert it with .toarray()"
        )
    matrix = sp.csr_array(chunk)
    if matrix.dtype.kind not in "biuf":
        raise TypeError(f"chunk {index} has dtype {matrix.dtype}; expected numbers")
    if n_features is not None and matrix.shape[1] != n_features:
        raise ValueError(
            f"chunk {index} has {matrix.shape[1]} columns; expected {n_features}"
        )
    if matrix.dtype not in (np.float32, np.float64):
        matrix = matrix.astype(np.float64)
    if not np.isfinite(matrix.data).all():
        raise ValueError(f"chunk {index} stores NaN or infinity")
    if not matrix.has_canonical_format:
        matrix = matrix.copy()  # never the caller's chunk
        matrix.sum_duplicates()
    return ArraySource(matrix)


def _rows(X, reading, fitting=False):
    """The in-memory source of validated rows X."""
    if reading.missing_values == "patterns" and not sp.issparse(X):
        return rows_source(X, fitting=fitting)
    return ArraySource(X)


def _stacked(parts):
    """Row blocks, dense or CSR, one above the other."""
    if parts and sp.issparse(parts[0]):
        return sp.vstack(parts, format="csr")
    return np.concatenate(parts)


def _data_dtype(dtype):
    """The dtype rows are computed in: float32 and float64 as they are, else float64."""
    return np.dtype(dtype) if dtype in (np.float32, np.float64) else np.dtype("f8")


def _sample_indices(n_samples, size, random_state):
    """Sorted indices of ``min(size, n_samples)`` distinct rows, drawn reproducibly
    in O(size) memory; every row, without a draw, when there are no more than
    ``size`` (so the initialisation is the in-memory one)."""
    if size >= n_samples:
        return np.arange(n_samples)
    indices = sample_without_replacement(n_samples, size, random_state=random_state)
    return np.sort(indices)


class ChunkSource:
    """Rows streamed through the kernels chunk by chunk, never held whole.

    Each pass (one per EM iteration) calls ``chunks()`` for a fresh iterator of 2-D
    chunks, validates each one (numbers, 2-D, ``n_features`` columns, finite: the
    errors name the chunk; NaN is a missing value where the model reads it so; CSR
    chunks where it reads sparse rows) and adds
    up the statistics of the kernel's pass over it.
    Chunk protocol: every call yields the same rows in the same order; chunks may
    have any number of rows (empty ones too) and any memory layout; float32 and
    float64 chunks are read as they are, other numbers converted to float64.

    Parameters
    ----------
    chunks : callable
        ``chunks() -> iterator of array-like (n_rows, n_features)``.
    n_samples : int or None
        Rows of one pass, when known without a pass.
    n_features : int or None
    dtype : dtype or None
        The data's dtype, when known without reading a chunk.
    release : callable or None
        ``release(chunk)`` after the kernels are done with a chunk.
    reading : Reading or None
        How the model reads rows (None: dense, no NaN).
    """

    sample_weight = None  # rows read in chunks are unweighted

    def __init__(
        self,
        chunks,
        *,
        n_samples=None,
        n_features=None,
        dtype=None,
        release=None,
        reading=None,
    ):
        self._chunks = chunks
        self._n_samples = n_samples
        self.n_features = n_features
        self.dtype = None if dtype is None else _data_dtype(dtype)
        self._release = release
        self.reading = reading or Reading()
        self._exponent = 0

    @classmethod
    def from_sliceable(cls, X, n_features=None, reading=None):
        """Chunks of ~``CHUNK_BYTES`` sliced by rows from a memmap, h5py Dataset or
        zarr Array. The pages of a memory map are handed back to the OS after each
        chunk, so the resident memory stays one chunk whatever the file's size."""
        if len(X.shape) != 2:
            raise ValueError(f"X has shape {X.shape}; expected (n_samples, n_features)")
        if n_features is not None and X.shape[1] != n_features:
            raise ValueError(
                f"X has {X.shape[1]} features, but the model expects {n_features}"
            )
        n_samples, n_row_features = X.shape
        rows = max(1, CHUNK_BYTES // max(1, n_row_features * X.dtype.itemsize))
        return cls(
            lambda: (X[start : start + rows] for start in range(0, n_samples, rows)),
            n_samples=n_samples,
            n_features=n_row_features,
            dtype=X.dtype,
            release=_drop_mapped_pages if _file_mapping(X) is not None else None,
            reading=reading,
        )

    def validated_chunks(self):
        """Yield (first row, the in-memory source of the validated chunk) over one
        pass."""
        start = 0
        index = -1
        for index, raw in enumerate(self._chunks()):
            chunk = _checked_chunk(raw, index, self.n_features, self.reading)
            if self._exponent:
                chunk = chunk.scaled(self._exponent)
            if self.n_features is None:
                self.n_features = chunk.n_features
            if self.dtype is None:
                self.dtype = chunk.dtype
            yield start, chunk
            if self._release is not None:
                self._release(raw)
            start += chunk.n_samples
        if index < 0:
            raise ValueError("the chunks of X are empty: the iterator yielded no chunk")
        if self._n_samples is None:
            self._n_samples = start
        elif start != self._n_samples:
            raise ValueError(
                f"a pass over the chunks of X gave {start} rows, an earlier pass "
                f"{self._n_samples}: each call must yield the same rows"
            )

    @property
    def n_samples(self):
        """Rows of one pass (a pass reads them when no one told)."""
        if self._n_samples is None:
            for _ in self.validated_chunks():
                pass
        return self._n_samples

    @property
    def total_weight(self):
        """Sum of the row weights (the number of rows: chunks are unweighted)."""
        return float(self.n_samples)

    def largest_magnitude(self):
        """max |x| over the rows, NaN ignored: one pass."""
        return max(
            (chunk.largest_magnitude() for _, chunk in self.validated_chunks()),
            default=0.0,
        )

    def scaled(self, exponent):
        """The same rows times 2**-exponent (exact), each chunk scaled as it is
        read."""
        scaled = copy.copy(self)
        scaled._exponent = self._exponent + exponent
        return scaled

    def accumulate(self, model):
        """One fused E-step pass over all chunks, as :meth:`ArraySource.accumulate`."""
        total = model.zero_stats()
        for _, chunk in self.validated_chunks():
            total += chunk.accumulate(model)
        return total

    def score_chunks(self, model, **wanted):
        """Yield :meth:`ArraySource.score`'s outputs chunk by chunk."""
        for _, chunk in self.validated_chunks():
            yield chunk.score(model, **wanted)

    def score(self, model, **wanted):
        """:meth:`ArraySource.score` over all rows, computed chunk by chunk."""
        parts = list(zip(*self.score_chunks(model, **wanted)))
        return tuple(
            None if part[0] is None else np.concatenate(part) for part in parts
        )

    def rows(self, indices):
        """The rows at ``indices`` (any order), in memory: one pass."""
        positions, order = np.unique(indices, return_inverse=True)
        parts = []
        for start, chunk in self.validated_chunks():
            lo, hi = np.searchsorted(positions, [start, start + chunk.n_samples])
            parts.append(chunk.X[positions[lo:hi] - start])
        return _stacked(parts)[order]

    def sample(self, size, random_state):
        """The in-memory source of ``min(size, n_samples)`` distinct rows drawn with
        ``random_state`` (read in one pass), for initialisation."""
        indices = _sample_indices(self.n_samples, size, random_state)
        return _rows(self.rows(indices), self.reading, fitting=True)


def _file_mapping(X):
    """The byte range ``[low, high)`` of the file mapping that holds all of X's
    memory, or None where X is not a ``np.memmap`` over a live file mapping.

    The class alone says nothing: a memmap's ``.copy()``, ``.astype()`` or an
    ``ndarray.view(np.memmap)`` keeps the class over the caller's heap memory.
    """
    mapping = getattr(X, "_mmap", None) if isinstance(X, np.memmap) else None
    if not isinstance(mapping, mmap.mmap) or X.size == 0:
        return None
    try:
        whole = np.frombuffer(mapping, dtype=np.uint8)
    except ValueError:  # a closed mapping
        return None
    low = whole.__array_interface__["data"][0]
    high = low + whole.size
    del whole  # the export would keep the mapping from being closed
    view_low, view_high = _byte_bounds(X)
    if not low <= view_low <= view_high <= high:
        return None
    return low, high


def _drop_mapped_pages(view):
    """Unmap the pages under ``view`` (of a shared or read-only file map) from this
    process: the OS page cache keeps the data, the resident set no longer counts it,
    and the next access maps it again.

    Only pages of the file mapping that holds ``view`` are touched: on anonymous
    memory ``MADV_DONTNEED`` would zero the owner's data. A no-op where madvise is
    unavailable, for a private (copy-on-write) map, and for anything but a view of
    a file map.
    """
    madvise = _libc_madvise()
    mapping = _file_mapping(view)
    if madvise is None or mapping is None or view.mode == "c":
        return
    low, high = _byte_bounds(view)
    # The mapping starts on a page: rounding down stays inside it.
    start = max(low - low % mmap.PAGESIZE, mapping[0])
    madvise(ctypes.c_void_p(start), ctypes.c_size_t(high - start), mmap.MADV_DONTNEED)


# numpy >= 2 moved byte_bounds out of the main namespace.
_byte_bounds = getattr(np.lib, "array_utils", np).byte_bounds


@cache
def _libc_madvise():
    if not hasattr(mmap, "MADV_DONTNEED") or sys.platform == "win32":
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None


def _import_dask_array():
    try:
        import dask.array as da
        import distributed  # noqa: F401 (the extra installs both)
    except ImportError as error:
        raise ImportError(DASK_MISSING_MESSAGE) from error
    return da


def _block_statistics(block, model, reading):
    """The statistics of one Dask block under ``model``, flat, as a (1, length) array
    (small: it is all that travels back)."""
    return _rows(block, reading).accumulate(model).to_flat()[np.newaxis]


def _checked_block(block, n_features, reading, block_info=None):
    index = block_info[0]["chunk-location"][0] if block_info else "?"
    return _checked_chunk(block, index, n_features, reading).X


def _block_largest_magnitude(block):
    return np.array([[largest_magnitude(block)]])


def _block_score(block, model, reading, wanted, which):
    return _rows(block, reading).score(model, **wanted)[which]


class DaskSource:
    """Rows of a Dask array, persisted on the workers once; each pass runs the kernel
    on every block where it lives and brings back only the statistics (O(K d^2)).

    Blocks are validated (numbers, finite unless NaN is a missing value; errors
    name the block) as they are persisted. Results do not depend on the blocking
    beyond rounding: the statistics of the blocks are added in block order.
    """

    sample_weight = None  # rows read in chunks are unweighted

    def __init__(self, X, n_features=None, reading=None):
        da = _import_dask_array()
        if X.ndim != 2:
            raise ValueError(f"X has shape {X.shape}; expected (n_samples, n_features)")
        if X.dtype.kind not in "biuf":
            raise TypeError(f"X has dtype {X.dtype}; expected numbers")
        if n_features is not None and X.shape[1] != n_features:
            raise ValueError(
                f"X has {X.shape[1]} features, but the model expects {n_features}"
            )
        self.n_features = X.shape[1]
        self.dtype = _data_dtype(X.dtype)
        self.reading = reading or Reading()
        X = X.rechunk({1: -1})  # whole rows in each block
        if any(np.isnan(size) for size in X.chunks[0]):
            X = X.compute_chunk_sizes()
        checked = X.map_blocks(
            _checked_block, self.n_features, self.reading, dtype=self.dtype
        )
        self.X = checked.persist()
        self._da = da

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def total_weight(self):
        return float(self.n_samples)

    def largest_magnitude(self):
        """max |x| over the rows, NaN ignored: one pass on the workers."""
        per_block = self.X.map_blocks(
            _block_largest_magnitude, dtype=np.float64, chunks=(1, 1)
        )
        return float(np.max(per_block.compute(), initial=0.0))

    def scaled(self, exponent):
        """The same rows times 2**-exponent (exact), persisted on the workers."""
        scaled = copy.copy(self)
        scaled.X = self.X.map_blocks(np.ldexp, -exponent, dtype=self.dtype).persist()
        return scaled

    def accumulate(self, model):
        """One fused E-step on the workers, statistics summed here in block order."""
        zero = model.zero_stats()
        length = zero.to_flat().size
        parts = self.X.map_blocks(
            _block_statistics,
            model=model,
            reading=self.reading,
            dtype=np.float64,
            chunks=(1, length),
        ).compute()
        flat = np.zeros(length)
        for part in parts:
            flat += part
        return zero.from_flat(flat)

    def score(self, model, log_prob=True, resp=False, labels=False):
        """:meth:`ArraySource.score` as lazy dask arrays (None where not wanted)."""
        wanted = {"log_prob": log_prob, "resp": resp, "labels": labels}
        outputs = []
        for output, (name, dtype) in enumerate(
            [("log_prob", np.float64), ("resp", np.float64), ("labels", np.intp)]
        ):
            if not wanted[name]:
                outputs.append(None)
                continue
            only = {key: key == name for key in wanted}
            shape = {"chunks": (self.X.chunks[0], (model.n_outputs,))}
            if name != "resp":
                shape = {"drop_axis": 1}
            outputs.append(
                self.X.map_blocks(
                    _block_score,
                    model=model,
                    reading=self.reading,
                    wanted=only,
                    which=output,
                    dtype=dtype,
                    **shape,
                )
            )
        return tuple(outputs)

    def rows(self, indices):
        """The rows at ``indices`` (any order), gathered from the workers."""
        rows = self.X[np.asarray(indices)].compute()
        return rows if sp.issparse(rows) else np.asarray(rows)

    def sample(self, size, random_state):
        """The in-memory source of ``min(size, n_samples)`` distinct rows drawn with
        ``random_state``, gathered from the workers, for initialisation."""
        indices = _sample_indices(self.n_samples, size, random_state)
        return _rows(self.rows(indices), self.reading, fitting=True)
