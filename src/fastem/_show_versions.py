"""fastem.show_versions(): what was built and what runs."""

import platform
import sys
from importlib.metadata import PackageNotFoundError, version

from . import _build_info
from ._kernels import COMPILED_VARIANT
from ._threads import effective_n_threads


def _versions():
    info = {
        "fastem": _package_version("fastem"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "openmp": "enabled" if _build_info.OPENMP else "DISABLED (serial build)",
        "threads": str(effective_n_threads()),
        "kernel": COMPILED_VARIANT,
        "compiler": _build_info.C_COMPILER,
        "cython": _build_info.CYTHON_VERSION,
        "buildtype": _build_info.BUILDTYPE,
        "kernel_checks": str(_build_info.KERNEL_CHECKS),
    }
    for name in ("numpy", "scipy", "scikit-learn", "threadpoolctl"):
        info[name] = _package_version(name)
    return info


def _package_version(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def show_versions():
    """Print versions, the build's OpenMP state, thread count and BLAS libraries."""
    from threadpoolctl import threadpool_info

    for key, value in _versions().items():
        print(f"{key:>14}: {value}")
    for pool in threadpool_info():
        print(
            f"{pool['user_api']:>14}: {pool['internal_api']} {pool.get('version')} "
            f"({pool['num_threads']} threads) {pool['filepath']}"
        )
