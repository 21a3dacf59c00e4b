"""Kernels: compiled (``_gaussian`` and its x86-64-v3 build) and their NumPy twin.

Backends, by name:

- ``"cython"``: the fastest compiled variant this CPU runs (the default);
- ``"cython-baseline"``: the build for the baseline ISA that any CPU of the
  architecture runs; ``"cython-x86-64-v3"``: the AVX2 + FMA build, where present;
- ``"numpy"``: the pure-NumPy twin (``_reference``), the executable specification.

The environment variable ``FASTEM_KERNEL`` (``baseline`` or ``x86-64-v3``) pins the
compiled variant, for benchmarks comparing them.
"""

import os
from contextlib import contextmanager
from importlib import import_module

from . import _gaussian, _reference
from ._platform import x86_64_v3_supported

COMPILED = {"baseline": _gaussian}
if x86_64_v3_supported():
    try:
        COMPILED["x86-64-v3"] = import_module("._gaussian_x86_64_v3", __name__)
    except ImportError:  # a build without the variant (not x86-64, old compiler)
        pass

_pinned = os.environ.get("FASTEM_KERNEL")
if _pinned is not None and _pinned not in COMPILED:
    raise ImportError(
        f"FASTEM_KERNEL={_pinned!r} is not available here; "
        f"choose one of {list(COMPILED)}"
    )
COMPILED_VARIANT = _pinned or list(COMPILED)[-1]

BACKENDS = {
    "cython": COMPILED[COMPILED_VARIANT],
    **{f"cython-{name}": module for name, module in COMPILED.items()},
    "numpy": _reference,
}
_active = "cython"


def get_backend():
    """The kernel module in use."""
    return BACKENDS[_active]


@contextmanager
def use_backend(name):
    """Run the kernels of backend ``name`` inside the block.

    Parameters
    ----------
    name : str
        One of ``BACKENDS``: 'cython' (default), 'numpy' (the twin: slow, but the
        specification), or a specific compiled variant such as 'cython-baseline'.
    """
    global _active
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {name!r}")
    previous, _active = _active, name
    try:
        yield
    finally:
        _active = previous
