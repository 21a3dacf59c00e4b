"""Saved models: ``model.save(path)`` and ``fastem.load(path)``, without pickle.

A model file is an ``.npz`` archive (a zip of ``.npy`` arrays) holding one JSON
header, ``header.npy`` (UTF-8 bytes), and one entry per array. The header names the
format and its version, the fastem that wrote it and the model: its class,
``get_params()`` and every fitted attribute (the public attributes ending in ``_``),
encoded generically so that attributes added later round-trip without changes here.
Scalars, strings, lists and dicts live in the header (floats written by ``repr``, so
exactly); arrays live in their own entries, with their dtype and shape in the header.
A save writes a file of its own beside the target and renames it over the target, so
a failed save or saves to one path from several threads never leave a partial file.

Loading treats the file as untrusted and refuses, with a ``ValueError`` that says
which, a file from a newer format, a truncated or corrupt file, a tampered shape or
dtype, an unknown class, pickled objects, entries the header does not name, and
anything that would make it read more than it must: it reads the header first (at
most ``MAX_HEADER_BYTES``, nested at most ``MAX_HEADER_DEPTH`` levels), then only the
arrays the header names, each once its ``.npy`` header and the archive's directory
agree with the header's dtype and shape and when together they hold at most
``MAX_ARRAY_BYTES``. This module knows no model: a file may name only a class
registered with :func:`register_model`, and the decoded model checks its own
parameters in ``_check_loaded()``, e.g. a
GaussianMixture refuses what its fit would not produce: values that are not finite,
parameters that are not float32 or float64, weights outside [0, 1] or not summing to
1, precision factors that are not upper triangular with a positive diagonal, and
covariances and precisions that are not each other's inverse.
"""

import errno
import json
import math
import os
import secrets
import zipfile
import zlib
from dataclasses import fields

import numpy as np

FORMAT_NAME = "fastem-model"
FORMAT_VERSION = 1
# What a model file may make load() read, so that a small hostile file cannot make it
# allocate or decompress without bound. Generous for real models: a 100-component
# full model on 1000 features holds 2.4 GB of arrays and a header of a few KiB (a
# fit's lower_bounds_ adds some 40 bytes an iteration).
MAX_ARRAY_BYTES = 2**32
MAX_HEADER_BYTES = 2**24
# Nesting of the header's JSON below the model (a value nested n deep in a fitted
# attribute is about 2n + 3 levels): the decoder recurses once a level.
MAX_HEADER_DEPTH = 32
_HEADER_ENTRY = "header"
_NPY = ".npy"
_MAX_NDIM = 64  # NumPy's
_READ_CHUNK_BYTES = 2**20
_ZIP_MAGIC = b"PK\x03\x04"
# Array dtypes a model file may hold: booleans, numbers and fixed-width strings.
_ARRAY_KINDS = "biufcU"


def save_model(model, path):
    """Write ``model`` to ``path`` (see :meth:`fastem.GaussianMixture.save`)."""
    from .. import __version__

    arrays = {}
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "fastem_version": __version__,
        "model": _encode_estimator(model, "model", arrays),
    }
    entries = {_HEADER_ENTRY: np.frombuffer(json.dumps(header).encode(), np.uint8)}
    entries.update(arrays)
    if hasattr(path, "write"):
        np.savez(path, **entries)
        return
    # Write a file of this call's own beside the target and rename it over the
    # target, so a failed save leaves no half-written file (nor destroys the model
    # already there) and saves to one path from several threads or processes each
    # replace the file whole.
    path = os.fspath(path)
    check_directory(path)
    descriptor, temporary = _create_beside(path)
    try:
        with os.fdopen(descriptor, "wb") as file:
            np.savez(file, **entries)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _create_beside(path):
    """A new file, unique to this call, in ``path``'s directory: (descriptor, path).

    Like :func:`tempfile.mkstemp`, but created with the permissions of any new file
    (mode 0o666 less the umask), not 0o600, so that the model it becomes has them.
    """
    directory, base = os.path.split(os.path.abspath(path))
    temporary = os.path.join(directory, f".{base}.{secrets.token_hex(16)}.part")
    # O_EXCL: a name that exists (however unlikely) is an error, never shared.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    return os.open(temporary, flags, 0o666), temporary


def check_directory(path):
    """FileNotFoundError naming the directory if ``path``'s does not exist."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, "no such directory", directory)


def load(path):
    """Load a model saved by ``model.save(path)``.

    Reads no pickle, and nothing the header does not name: each array is read
    only once its dtype and shape agree with the header and the arrays together
    hold at most ``MAX_ARRAY_BYTES``. The model then checks its parameters as its
    ``fit`` checks initial parameters.

    Parameters
    ----------
    path : str, path-like or binary file object
        The file that ``model.save`` wrote.

    Returns
    -------
    model : estimator
        The saved estimator with every fitted attribute as it was saved.

    Raises
    ------
    ValueError
        The file is not a fastem model, was written by a newer format version, is
        truncated or corrupt, its header and arrays disagree, it holds more than a
        model file may (entries its header does not name, arrays over
        ``MAX_ARRAY_BYTES``, a header over ``MAX_HEADER_BYTES`` or nested deeper
        than ``MAX_HEADER_DEPTH``), or the model refuses its parameters; the
        message starts with the file's name.

    Examples
    --------
    >>> import numpy as np
    >>> import fastem
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> model = fastem.GaussianMixture(2, random_state=0).fit(X)
    >>> model.save("model.npz")
    >>> loaded = fastem.load("model.npz")
    >>> bool(np.array_equal(loaded.means_, model.means_))
    True
    """
    if hasattr(path, "read"):
        return _load_from(path, "the model file")
    with open(path, "rb") as file:
        return _load_from(file, os.fspath(path))


def _load_from(file, name):
    start = file.tell()
    magic = file.read(len(_ZIP_MAGIC))
    file.seek(start)
    if magic != _ZIP_MAGIC:
        raise ValueError(f"{name} is not a fastem model file (not an .npz archive)")
    # Nothing is decompressed before its size is known to be allowed: the header
    # first (its entry no larger than MAX_HEADER_BYTES), then the arrays it names,
    # once the archive is known to hold nothing else and the arrays' declared sizes
    # add up to no more than MAX_ARRAY_BYTES.
    try:
        with zipfile.ZipFile(file) as archive:
            header = _read_header(archive, name)
            declared = _declared_arrays(header["model"], name)
            _check_entries(archive, declared, name)
            arrays = {
                entry: _read_array(archive, entry, dtype, shape, name)
                for entry, (dtype, shape) in declared.items()
            }
    except _UNREADABLE as error:
        raise ValueError(_unreadable(name, error)) from error
    return _decode_estimator(header["model"], arrays, name)


# What reading a damaged archive raises: zlib.error from a corrupt deflate stream,
# NotImplementedError from an unsupported compression method, RuntimeError from an
# encrypted entry.
_UNREADABLE = (
    OSError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,
)


def _unreadable(name, problem):
    return (
        f"{name} is not a readable fastem model file (truncated or corrupt?): {problem}"
    )


def _read_header(archive, name):
    try:
        info = archive.getinfo(_HEADER_ENTRY + _NPY)
    except KeyError:
        raise ValueError(f"{name} is not a fastem model file (no header)") from None
    with archive.open(info) as stream:
        dtype, shape, fortran_order = _read_npy_header(stream, _HEADER_ENTRY, name)
        if dtype != np.uint8 or len(shape) != 1:
            raise ValueError(f"{name} is not a fastem model file (no header)")
        if shape[0] > MAX_HEADER_BYTES:
            raise ValueError(
                f"{name} has a header of {shape[0]} bytes; a model file's header "
                f"holds at most {MAX_HEADER_BYTES} (tampered file?)"
            )
        header_bytes = _read_npy_data(stream, info, dtype, shape, fortran_order, name)
    try:
        header = json.loads(header_bytes.tobytes().decode())
    except ValueError as error:  # also a UnicodeDecodeError or JSONDecodeError
        raise ValueError(f"{name} has a corrupt header: {error}") from error
    except RecursionError:
        raise ValueError(_too_deep(name)) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ValueError(f"{name} is not a fastem model file")
    version = header.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{name} has an invalid format version: {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{name} was written by fastem {header.get('fastem_version', '?')} in "
            f"model format version {version}; this fastem reads versions up to "
            f"{FORMAT_VERSION}: upgrade fastem to load it"
        )
    if not isinstance(header.get("model"), dict):
        raise ValueError(f"{name} has a corrupt header: no model")
    return header


def _too_deep(name):
    return f"{name} has a corrupt header: nested deeper than {MAX_HEADER_DEPTH} levels"


def _declared_arrays(model, name):
    """Every array the header's model names, ``{entry: (dtype, shape)}``, checked.

    Walks the header without recursion, so that the recursive decoder later meets
    no nesting deeper than MAX_HEADER_DEPTH; refuses an entry named twice, a dtype
    a model file may not hold, an invalid shape and arrays that together exceed
    MAX_ARRAY_BYTES.
    """
    declared, total_bytes = {}, 0
    pending = [(model, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_HEADER_DEPTH:
            raise ValueError(_too_deep(name))
        children = node.values() if isinstance(node, dict) else node
        pending.extend(
            (child, depth + 1) for child in children if isinstance(child, dict | list)
        )
        if not (isinstance(node, dict) and node.get("type") == "array"):
            continue
        entry, dtype, shape = _array_description(node, name)
        if entry in declared:
            raise ValueError(f"{name} has a corrupt header: {entry!r} named twice")
        declared[entry] = dtype, shape
        total_bytes += dtype.itemsize * math.prod(shape)
        if total_bytes > MAX_ARRAY_BYTES:
            raise ValueError(
                f"{name} declares arrays of more than the {MAX_ARRAY_BYTES} bytes a "
                "model file may hold (tampered file?)"
            )
    return declared


def _array_description(description, name):
    """The entry, dtype and shape of an array's description, or a ValueError."""
    entry, dtype, shape = (description.get(k) for k in ("entry", "dtype", "shape"))
    if not isinstance(entry, str):
        raise ValueError(f"{name} has a corrupt header: array entry {entry!r}")
    try:
        dtype = np.dtype(dtype) if isinstance(dtype, str) else None
    except (TypeError, ValueError, OverflowError):
        dtype = None
    if dtype is None or dtype.kind not in _ARRAY_KINDS or dtype.itemsize == 0:
        raise ValueError(
            f"{name}: array {entry!r} has dtype {description.get('dtype')!r}, which a "
            "model file does not hold (tampered file?)"
        )
    if not (
        isinstance(shape, list)
        and len(shape) <= _MAX_NDIM
        and all(type(n) is int and n >= 0 for n in shape)
    ):
        raise ValueError(
            f"{name}: array {entry!r} has an invalid shape {shape!r} (tampered file?)"
        )
    return entry, dtype, tuple(shape)


def _check_entries(archive, declared, name):
    """The archive holds the header and the declared arrays, each once, and nothing
    else (read from its directory: no entry is decompressed)."""
    names = archive.namelist()
    expected = {entry + _NPY for entry in (_HEADER_ENTRY, *declared)}
    unexpected = sorted(set(names) - expected)
    if unexpected:
        raise ValueError(f"{name} holds arrays its header does not name: {unexpected}")
    missing = sorted(expected - set(names))
    if missing:
        raise ValueError(f"{name} is missing the arrays {missing} (truncated?)")
    if len(names) != len(set(names)):
        raise ValueError(f"{name} holds an entry twice (tampered file?)")


def _read_array(archive, entry, dtype, shape, name):
    """The array in ``entry``, read once its .npy header says ``dtype``, ``shape``."""
    info = archive.getinfo(entry + _NPY)
    with archive.open(info) as stream:
        stored_dtype, stored_shape, fortran_order = _read_npy_header(
            stream, entry, name
        )
        if stored_dtype.hasobject:
            raise ValueError(
                f"{name}: array {entry!r} holds pickled objects, which are never "
                "loaded (tampered file?)"
            )
        if (stored_dtype, stored_shape) != (dtype, shape):
            raise ValueError(
                f"{name}: array {entry!r} is {stored_dtype} of shape {stored_shape} "
                f"but the header says {dtype} of shape {shape} (tampered file?)"
            )
        return _read_npy_data(stream, info, dtype, shape, fortran_order, name)


def _read_npy_header(stream, entry, name):
    """(dtype, shape, fortran_order) from the .npy header at the start of ``stream``.

    Only version 1.0, which ``np.save`` writes for every array a model holds: its
    header is at most 64 KiB.
    """
    try:
        version = np.lib.format.read_magic(stream)
        if version != (1, 0):
            raise ValueError(f".npy format version {version}, not 1.0")
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
    except ValueError as error:
        raise ValueError(_unreadable(name, f"entry {entry!r}: {error}")) from error
    return dtype, shape, fortran_order


def _read_npy_data(stream, info, dtype, shape, fortran_order, name):
    """The array after the .npy header just read from ``stream``, the entry ``info``.

    Its size is checked against the zip's declared size of the entry before any of
    it is read, and it is read into one buffer a chunk at a time.
    """
    n_bytes = dtype.itemsize * math.prod(shape)
    if info.file_size != stream.tell() + n_bytes:
        raise ValueError(
            f"{name}: entry {info.filename!r} holds {info.file_size} bytes where its "
            f".npy header needs {stream.tell() + n_bytes} (tampered file?)"
        )
    data = np.empty(n_bytes, np.uint8)
    buffer = memoryview(data)
    filled = 0
    while filled < n_bytes:
        count = stream.readinto(buffer[filled : filled + _READ_CHUNK_BYTES])
        if not count:
            raise EOFError(f"entry {info.filename!r} ends early")
        filled += count
    stream.read()  # the end of the entry, where zipfile checks its CRC (empty)
    return data.view(dtype).reshape(shape, order="F" if fortran_order else "C")


# --- encoding ------------------------------------------------------------------
#
# A value becomes a JSON tree whose leaves say what they were, e.g.
# {"type": "float64", "value": 0.5} for a NumPy float, {"type": "array", "entry":
# "model.means_", "dtype": "<f8", "shape": [3, 2]} for an array stored in the archive.


def _encode_estimator(estimator, prefix, arrays):
    from sklearn.base import BaseEstimator

    if not isinstance(estimator, BaseEstimator):
        raise TypeError(f"can only save fastem estimators, not {type(estimator)}")
    # A class may leave out attributes it rebuilds on load (a random stream).
    unsaved = getattr(estimator, "_unsaved_attributes", ())
    attributes = {
        key: value
        for key, value in vars(estimator).items()
        if key.endswith("_") and not key.startswith("_") and key not in unsaved
    }
    # A class may save fitted attributes that are properties over private state
    # (set back through the property on load).
    saved_properties = getattr(estimator, "_saved_properties", None)
    if saved_properties is not None:
        attributes.update(saved_properties())
    return {
        "type": "estimator",
        "class": type(estimator).__name__,
        "params": _encode_fields(estimator.get_params(deep=False), prefix, arrays),
        "attributes": _encode_fields(attributes, prefix, arrays),
    }


def _encode_fields(fields, prefix, arrays):
    return {
        key: _encode(value, f"{prefix}.{key}", arrays) for key, value in fields.items()
    }


def _encode(value, name, arrays):
    """The JSON description of ``value``; its arrays are added to ``arrays``."""
    from sklearn.base import BaseEstimator

    # NumPy scalars first: np.float64 is also a Python float.
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        item = value.item()
        if value.dtype.kind == "f":
            item = _float_to_json(item)
        return {"type": "scalar", "dtype": value.dtype.str, "value": item}
    if value is None or isinstance(value, bool | str | int):
        return {"type": "json", "value": value}
    if isinstance(value, float):
        return {"type": "float", "value": _float_to_json(value)}
    if isinstance(value, np.ndarray):
        return _encode_array(value, name, arrays)
    if isinstance(value, list | tuple):
        return {
            "type": type(value).__name__,
            "items": [
                _encode(item, f"{name}.{index}", arrays)
                for index, item in enumerate(value)
            ],
        }
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {"type": "dict", "items": _encode_fields(value, name, arrays)}
    if isinstance(value, BaseEstimator):
        return _encode_estimator(value, name, arrays)
    for tag, value_class in VALUE_TYPES.items():
        if isinstance(value, value_class):
            items = {field.name: getattr(value, field.name) for field in fields(value)}
            return {"type": tag, "items": _encode_fields(items, name, arrays)}
    if isinstance(value, np.random.RandomState | np.random.Generator):
        raise ValueError(
            f"cannot save {name.split('.')[-1]}: a {type(value).__name__} instance "
            "has no safe saved form; set it to an int or None before saving"
        )
    raise ValueError(
        f"cannot save {name.split('.')[-1]}: values of type {type(value).__name__} "
        "have no saved form"
    )


def _encode_array(array, name, arrays):
    strings = array.dtype == object
    if strings:
        # feature_names_in_: an object array of str, stored as fixed-width unicode.
        if not all(isinstance(item, str) for item in array.flat):
            raise ValueError(
                f"cannot save {name.split('.')[-1]}: an object array that is not all "
                "strings"
            )
        array = array.astype(str)
    if array.dtype.kind not in _ARRAY_KINDS:
        raise ValueError(
            f"cannot save {name.split('.')[-1]}: arrays of dtype {array.dtype} have no "
            "saved form"
        )
    while name in arrays:  # dict keys with dots could repeat a nested name
        name += "'"
    arrays[name] = array
    return {
        "type": "array",
        "entry": name,
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "strings": strings,
    }


def _float_to_json(value):
    # JSON has no inf or nan (lower_bound_ is -inf after max_iter=0): keep them as text.
    return value if np.isfinite(value) else repr(value)


# --- decoding ------------------------------------------------------------------


# The classes a model file may name, each registered by ``register_model``.
MODEL_CLASSES = {}

# Frozen dataclasses a model's parameters may hold (a prior), by the type tag files
# write for them, each registered by ``register_value``.
VALUE_TYPES = {}


def register_value(tag, value_class):
    """Parameters of ``value_class`` (a frozen dataclass: a prior, say) may be saved,
    as their fields under the type ``tag``."""
    VALUE_TYPES[tag] = value_class


def register_model(cls):
    """Class decorator: models of ``cls`` may be loaded from files.

    ``cls`` must check what it is loaded with in ``_check_loaded()`` (called after
    its parameters and fitted attributes are set), raising ValueError.
    """
    if not callable(getattr(cls, "_check_loaded", None)):
        raise TypeError(f"{cls.__name__} has no _check_loaded()")
    MODEL_CLASSES[cls.__name__] = cls
    return cls


def _decode_estimator(description, arrays, name):
    import fastem

    class_name = description.get("class")
    if isinstance(class_name, str) and class_name in fastem.__all__:
        getattr(fastem, class_name)  # imports (so registers) a public model class
    cls = MODEL_CLASSES.get(class_name) if isinstance(class_name, str) else None
    if cls is None:
        raise ValueError(f"{name} holds an unknown model class: {class_name!r}")
    params = _decode_fields(description.get("params"), arrays, name)
    attributes = _decode_fields(description.get("attributes"), arrays, name)
    unknown = sorted(set(params) - set(cls().get_params(deep=False)))
    if unknown:
        raise ValueError(f"{name}: {class_name} has no parameters {unknown}")
    estimator = cls(**params)
    for key, value in attributes.items():
        if not (key.endswith("_") and not key.startswith("_")):
            raise ValueError(f"{name}: {key!r} is not a fitted attribute")
        setattr(estimator, key, value)
    try:
        estimator._check_loaded()
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from error
    return estimator


def _decode_fields(fields, arrays, name):
    if not isinstance(fields, dict):
        raise ValueError(f"{name} has a corrupt header: expected a mapping")
    return {key: _decode(value, arrays, name) for key, value in fields.items()}


def _decode(description, arrays, name):
    kind = description.get("type") if isinstance(description, dict) else None
    try:
        if kind == "json":
            return description["value"]
        if kind == "float":
            return float(description["value"])
        if kind == "scalar":
            dtype = np.dtype(description["dtype"])
            if dtype.kind not in "biuf":
                raise ValueError(f"scalar dtype {dtype}")
            return dtype.type(description["value"])
        if kind == "array":
            return _decode_array(description, arrays)
        if kind in ("list", "tuple"):
            items = [_decode(item, arrays, name) for item in description["items"]]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            return _decode_fields(description["items"], arrays, name)
        if kind == "estimator":
            return _decode_estimator(description, arrays, name)
        if kind in VALUE_TYPES:
            items = _decode_fields(description["items"], arrays, name)
            return VALUE_TYPES[kind](**items)
    except (KeyError, TypeError) as error:
        raise ValueError(f"{name} has a corrupt header entry: {error!r}") from error
    raise ValueError(f"{name} has a corrupt header: unknown value type {kind!r}")


def _decode_array(description, arrays):
    # Every array the header names was read and checked by _read_array.
    array = arrays[description["entry"]]
    if description.get("strings"):
        array = array.astype(object)
    return array
