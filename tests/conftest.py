"""Fixtures shared by the kernel tests (``test_kernels.py``, ``test_seeding.py``)."""

import pytest

from fastem._kernels import COMPILED


@pytest.fixture(scope="module", params=sorted(COMPILED))
def compiled(request):
    """Each compiled variant of the kernels that this CPU runs."""
    return COMPILED[request.param]


@pytest.fixture(scope="module")
def memmap_dir(tmp_path_factory):
    """Where the 'memmap' layout writes its files."""
    return tmp_path_factory.mktemp("memmaps")
