"""fastem.show_versions(): the build, the thread counts and the loaded libraries."""

import re

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import fastem
from fastem import _build_info
from fastem._kernels import COMPILED_VARIANT, _platform


def _printed(capsys):
    fastem.show_versions()
    return capsys.readouterr().out


def _entry(output, name):
    """The value printed for ``name``."""
    found = re.findall(rf"^\s*{re.escape(name)}: (.*)$", output, re.MULTILINE)
    assert len(found) == 1, f"{name!r} printed {len(found)} times:\n{output}"
    return found[0]


def test_prints_versions_and_the_build(capsys):
    output = _printed(capsys)
    assert _entry(output, "fastem") == fastem.__version__
    assert _entry(output, "numpy") == np.__version__
    assert _entry(output, "openmp") == (
        "enabled" if _platform.openmp_enabled() else "DISABLED (serial build)"
    )
    assert _build_info.OPENMP == _platform.openmp_enabled()
    assert _entry(output, "kernel").startswith(COMPILED_VARIANT + " ")
    for name in ("python", "platform", "compiler", "cython", "scikit-learn"):
        assert _entry(output, name)


@pytest.mark.parametrize("limit", [1, 2])
def test_prints_the_kernel_threads_under_a_limit(limit, capsys):
    if not _platform.openmp_enabled():
        pytest.skip("a serial build runs one thread whatever the limit")
    with threadpool_limits(limits=limit, user_api="openmp"):
        output = _printed(capsys)
    assert _entry(output, "kernel threads") == str(limit)


def test_prints_every_blas_and_openmp_library(capsys):
    output = _printed(capsys)
    for pool in threadpool_info():
        assert pool["filepath"] in output
    assert re.search(r"^\s*blas 1: .*\d+ threads, ", output, re.MULTILINE)
