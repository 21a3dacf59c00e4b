"""fastem.show_versions(): what was built and what runs."""

import os
import platform
import sys
from collections import Counter
from importlib.metadata import PackageNotFoundError, version

from joblib import cpu_count

from . import _build_info
from ._engine.threads import FORK_MESSAGE, forked_after_threads, max_kernel_threads
from ._kernels import COMPILED, COMPILED_VARIANT

DEPENDENCIES = ("numpy", "scipy", "scikit-learn", "threadpoolctl", "joblib")


def _sections():
    """Section title -> {name: value}, every value a string."""
    return {
        "System": {
            "python": sys.version.replace("\n", " "),
            "executable": sys.executable,
            "platform": platform.platform(),
        },
        "Build": {
            "fastem": _package_version("fastem"),
            "openmp": "enabled" if _build_info.OPENMP else "DISABLED (serial build)",
            "kernel": f"{COMPILED_VARIANT} (built: {', '.join(COMPILED)})",
            "compiler": _build_info.C_COMPILER,
            "cython": _build_info.CYTHON_VERSION,
            "buildtype": _build_info.BUILDTYPE,
            "kernel_checks": str(_build_info.KERNEL_CHECKS),
        },
        "Threads": {
            "kernel threads": (
                f"1 ({FORK_MESSAGE})"
                if forked_after_threads()
                else str(max_kernel_threads())
            ),
            "cpus": str(cpu_count()),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"),
        },
        "Dependencies": {name: _package_version(name) for name in DEPENDENCIES},
        "Thread pools (threadpoolctl)": _thread_pools(),
    }


def _package_version(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _thread_pools():
    """Each OpenMP and BLAS library loaded in this process, with its thread count."""
    from threadpoolctl import threadpool_info

    pools, seen = {}, Counter()
    for pool in threadpool_info():
        seen[pool["user_api"]] += 1
        details = [pool["internal_api"], pool.get("version")]
        if pool.get("threading_layer"):
            details.append(f"({pool['threading_layer']} threading layer)")
        pools[f"{pool['user_api']} {seen[pool['user_api']]}"] = (
            f"{' '.join(filter(None, details))}, {pool['num_threads']} threads, "
            f"{pool['filepath']}"
        )
    return pools


def show_versions():
    """Print versions, the build's OpenMP state, thread counts and BLAS libraries.

    The thread pools are the OpenMP runtimes and BLAS libraries loaded in this
    process (threadpoolctl): fastem's kernels, NumPy's and SciPy's BLAS, and
    scikit-learn's own OpenMP runtime where its wheel vendors one.

    Examples
    --------
    >>> import fastem
    >>> fastem.show_versions()  # doctest: +ELLIPSIS
    <BLANKLINE>
    System:
    ...
    Build:
              fastem: ...
              openmp: ...
    """
    for title, entries in _sections().items():
        print(f"\n{title}:")
        for name, value in entries.items():
            print(f"{name:>16}: {value}")
