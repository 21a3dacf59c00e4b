"""Kernels: compiled (each kernel module, and its x86-64-v3 and v4 builds) and their
NumPy twin.

The kernel modules are ``_gaussian`` (EM of Gaussian mixtures: ``accumulate``,
``score``), ``_kmeans_plusplus`` (seeding: ``kmeanspp_potentials``,
``kmeanspp_searchsorted``), ``_discrete`` (EM of Bernoulli and multinomial
mixtures: ``accumulate``, ``score``) and ``_markov`` (hidden Markov chains over many
sequences: ``forward_backward``, ``viterbi``).

A backend is one namespace with a namespace per kernel module (``gaussian``,
``kmeans_plusplus``, ``discrete``, ``markov``), each its own, so that one switch
moves all the kernels and a family's functions never collide with another's.

Backends, by name:

- ``"cython"``: the fastest compiled variant this CPU runs (the default);
- ``"cython-baseline"``: the build for the baseline ISA that any CPU of the
  architecture runs; ``"cython-x86-64-v3"``: the AVX2 + FMA build and
  ``"cython-x86-64-v4"``: the AVX-512 build, where present and the CPU runs them;
- ``"numpy"``: the pure-NumPy twin (``_reference``: a module per kernel module), the
  executable specification.

The environment variable ``FASTEM_KERNEL`` (``baseline``, ``x86-64-v3`` or
``x86-64-v4``) pins the compiled variant, for benchmarks comparing them.
"""

import os
from contextvars import ContextVar
from importlib import import_module
from types import SimpleNamespace

from ._platform import x86_64_v3_supported, x86_64_v4_supported

# The kernel modules, by the name of their namespace in a backend; each is compiled
# as ``_<name>`` and twinned by ``_reference.<name>``.
KERNEL_MODULES = ("gaussian", "kmeans_plusplus", "discrete", "markov")


def _compiled_variant(suffix):
    """The kernel modules built with ``suffix``, one attribute each."""
    return SimpleNamespace(
        **{
            name: import_module(f"._{name}{suffix}", __name__)
            for name in KERNEL_MODULES
        }
    )


# Variants from the slowest to the fastest; the last one the CPU runs is the default.
COMPILED = {"baseline": _compiled_variant("")}
for _name, _supported in (
    ("x86-64-v3", x86_64_v3_supported),
    ("x86-64-v4", x86_64_v4_supported),
):
    if _supported():
        try:
            COMPILED[_name] = _compiled_variant("_" + _name.replace("-", "_"))
        except ImportError:  # a build without the variant (not x86-64, old compiler)
            pass

_pinned = os.environ.get("FASTEM_KERNEL")
if _pinned is not None and _pinned not in COMPILED:
    raise ImportError(
        f"FASTEM_KERNEL={_pinned!r} is not available here; "
        f"choose one of {list(COMPILED)}"
    )
COMPILED_VARIANT = _pinned or list(COMPILED)[-1]


class _Twin:
    """The twin's namespace: ``_reference.<name>`` for each kernel module, imported on
    first use (the twin reuses the families' NumPy maths, which import the engine,
    which imports this package). Production code never names it: it is a backend."""

    def __getattr__(self, name):
        if name not in KERNEL_MODULES:
            raise AttributeError(f"the twin has no kernel module {name!r}")
        module = import_module(f"._reference.{name}", __name__)
        setattr(self, name, module)
        return module


TWIN = _Twin()

BACKENDS = {
    "cython": COMPILED[COMPILED_VARIANT],
    **{f"cython-{name}": kernels for name, kernels in COMPILED.items()},
    "numpy": TWIN,
}
# The backend of the current context: a thread (a joblib or Dask worker's too) starts
# with the default, whatever another thread chose; an asyncio task with its creator's.
_active = ContextVar("fastem_backend", default="cython")


def get_backend():
    """The kernels in use: a namespace of the kernel modules (``gaussian``,
    ``kmeans_plusplus``, ``discrete``, ``markov``), compiled or their twins."""
    return BACKENDS[_active.get()]


def use_backend(name):
    """Run the kernels of backend ``name`` in the current context.

    Called alone, it switches until the next call; in a ``with`` statement, the
    previous backend returns at the end of the block::

        fastem.use_backend("numpy")        # from now on, in this context
        with fastem.use_backend("numpy"):  # inside the block only
            ...

    The choice belongs to the current thread (more exactly, its ``contextvars``
    context): other threads, such as joblib's or Dask's workers, keep theirs.

    Parameters
    ----------
    name : str
        One of ``BACKENDS``: 'cython' (default), 'numpy' (the twin: slow, but the
        specification), or a specific compiled variant such as 'cython-baseline'.

    Returns
    -------
    context manager
        Already switched; on exit from a ``with`` block, restores the backend
        that was active before the call.

    Raises
    ------
    ValueError
        At the call, for a name not in ``BACKENDS``.

    Examples
    --------
    >>> import numpy as np
    >>> import fastem
    >>> X = np.random.default_rng(0).normal(size=(500, 2))
    >>> compiled = fastem.GaussianMixture(2, random_state=0).fit(X)
    >>> with fastem.use_backend("numpy"):
    ...     twin = fastem.GaussianMixture(2, random_state=0).fit(X)
    >>> bool(np.allclose(twin.means_, compiled.means_))
    True
    """
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {name!r}")
    return _BackendSwitch(_active.set(name))


class _BackendSwitch:
    """What :func:`use_backend` returns: the switch is made; exit undoes it."""

    def __init__(self, token):
        self._token = token

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        _active.reset(self._token)
