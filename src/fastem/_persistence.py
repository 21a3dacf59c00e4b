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
Loading reads with ``allow_pickle=False`` and checks the header against the arrays, so
a file from a newer format, a truncated or corrupt file, a tampered shape or dtype and
an unknown class are refused with a ``ValueError`` that says which.
"""

import errno
import json
import os
import secrets
import zipfile
from dataclasses import fields
from numbers import Integral

import numpy as np

from ._priors import GaussianPrior

FORMAT_NAME = "fastem-model"
FORMAT_VERSION = 1
_HEADER_ENTRY = "header"
_ZIP_MAGIC = b"PK\x03\x04"
# Array dtypes a model file may hold: booleans, numbers and fixed-width strings.
_ARRAY_KINDS = "biufcU"


def save_model(model, path):
    """Write ``model`` to ``path`` (see :meth:`fastem.GaussianMixture.save`)."""
    from . import __version__

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

    Reads no pickle: arrays are read with ``allow_pickle=False`` and checked
    against the header's dtypes and shapes.

    Parameters
    ----------
    path : str, path-like or binary file object

    Returns
    -------
    model : estimator
        The saved estimator with every fitted attribute as it was saved.

    Raises
    ------
    ValueError
        The file is not a fastem model, was written by a newer format version, is
        truncated or corrupt, or its header and arrays disagree.
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
    try:
        with np.load(file, allow_pickle=False) as archive:
            entries = {key: archive[key] for key in archive.files}
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as error:
        raise ValueError(
            f"{name} is not a readable fastem model file (truncated or corrupt?): "
            f"{error}"
        ) from error
    header = _read_header(entries, name)
    arrays = {key: value for key, value in entries.items() if key != _HEADER_ENTRY}
    used = set()
    model = _decode_estimator(header["model"], arrays, used, name)
    unexpected = sorted(set(arrays) - used)
    if unexpected:
        raise ValueError(f"{name} holds arrays its header does not name: {unexpected}")
    return model


def _read_header(entries, name):
    header_bytes = entries.get(_HEADER_ENTRY)
    if header_bytes is None or header_bytes.dtype != np.uint8 or header_bytes.ndim != 1:
        raise ValueError(f"{name} is not a fastem model file (no header)")
    try:
        header = json.loads(header_bytes.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{name} has a corrupt header: {error}") from error
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


# --- encoding ------------------------------------------------------------------
#
# A value becomes a JSON tree whose leaves say what they were, e.g.
# {"type": "float64", "value": 0.5} for a NumPy float, {"type": "array", "entry":
# "model.means_", "dtype": "<f8", "shape": [3, 2]} for an array stored in the archive.


def _encode_estimator(estimator, prefix, arrays):
    from sklearn.base import BaseEstimator

    if not isinstance(estimator, BaseEstimator):
        raise TypeError(f"can only save fastem estimators, not {type(estimator)}")
    attributes = {
        key: value
        for key, value in vars(estimator).items()
        if key.endswith("_") and not key.startswith("_")
    }
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
    if isinstance(value, GaussianPrior):
        hyperparameters = {
            field.name: getattr(value, field.name) for field in fields(value)
        }
        return {
            "type": "prior",
            "items": _encode_fields(hyperparameters, name, arrays),
        }
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


def _decode_estimator(description, arrays, used, name):
    from sklearn.base import BaseEstimator

    import fastem

    class_name = description.get("class")
    cls = getattr(fastem, class_name, None) if isinstance(class_name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
        raise ValueError(f"{name} holds an unknown model class: {class_name!r}")
    params = _decode_fields(description.get("params"), arrays, used, name)
    attributes = _decode_fields(description.get("attributes"), arrays, used, name)
    unknown = sorted(set(params) - set(cls().get_params(deep=False)))
    if unknown:
        raise ValueError(f"{name}: {class_name} has no parameters {unknown}")
    estimator = cls(**params)
    for key, value in attributes.items():
        if not (key.endswith("_") and not key.startswith("_")):
            raise ValueError(f"{name}: {key!r} is not a fitted attribute")
        setattr(estimator, key, value)
    _check_mixture_shapes(estimator, name)
    return estimator


def _decode_fields(fields, arrays, used, name):
    if not isinstance(fields, dict):
        raise ValueError(f"{name} has a corrupt header: expected a mapping")
    return {key: _decode(value, arrays, used, name) for key, value in fields.items()}


def _decode(description, arrays, used, name):
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
            return _decode_array(description, arrays, used, name)
        if kind in ("list", "tuple"):
            items = [_decode(item, arrays, used, name) for item in description["items"]]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            return _decode_fields(description["items"], arrays, used, name)
        if kind == "estimator":
            return _decode_estimator(description, arrays, used, name)
        if kind == "prior":
            return GaussianPrior(
                **_decode_fields(description["items"], arrays, used, name)
            )
    except (KeyError, TypeError) as error:
        raise ValueError(f"{name} has a corrupt header entry: {error!r}") from error
    raise ValueError(f"{name} has a corrupt header: unknown value type {kind!r}")


def _decode_array(description, arrays, used, name):
    entry = description["entry"]
    if entry not in arrays:
        raise ValueError(f"{name} is missing the array {entry!r} (truncated?)")
    array = arrays[entry]
    used.add(entry)
    dtype, shape = np.dtype(description["dtype"]), tuple(description["shape"])
    if array.dtype != dtype or array.shape != shape:
        raise ValueError(
            f"{name}: array {entry!r} is {array.dtype} of shape {array.shape} but the "
            f"header says {dtype} of shape {shape} (tampered file?)"
        )
    if description.get("strings"):
        array = array.astype(object)
    return array


def _check_mixture_shapes(model, name):
    """A Gaussian mixture's fitted arrays must agree with each other and its params."""
    from ._gaussian_math import COVARIANCE_TYPES, second_moment_shape

    if not hasattr(model, "means_"):
        return
    K, covariance_type = model.n_components, model.covariance_type
    if not isinstance(K, Integral) or covariance_type not in COVARIANCE_TYPES:
        raise ValueError(f"{name}: invalid n_components or covariance_type")
    d = getattr(model, "n_features_in_", None)
    expected = {"means_": (K, d), "weights_": (K,)}
    moment_shape = second_moment_shape(K, d, covariance_type)
    for key in ("covariances_", "precisions_", "precisions_cholesky_"):
        expected[key] = moment_shape
    for key, shape in expected.items():
        actual = np.shape(getattr(model, key, None))
        if actual != shape:
            raise ValueError(
                f"{name}: {key} has shape {actual} where n_components={K}, "
                f"n_features_in_={d} and covariance_type={covariance_type!r} need "
                f"{shape} (tampered file?)"
            )
