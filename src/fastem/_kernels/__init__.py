"""Kernels: compiled (``_gaussian``) and their pure-NumPy twin (``_reference``).

The backend switch lets the whole estimator run on the twin, which is how a new
feature is first written and checked.
"""

from contextlib import contextmanager

from . import _gaussian, _reference

BACKENDS = {"cython": _gaussian, "numpy": _reference}
_active = "cython"


def get_backend():
    """The kernel module in use."""
    return BACKENDS[_active]


@contextmanager
def use_backend(name):
    """Run the kernels of ``name`` ('cython' or 'numpy') inside the block.

    Parameters
    ----------
    name : {'cython', 'numpy'}
        'numpy' is the pure-NumPy twin, slow but the specification.
    """
    global _active
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {name!r}")
    previous, _active = _active, name
    try:
        yield
    finally:
        _active = previous
