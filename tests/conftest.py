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


@pytest.fixture(autouse=True)
def _threads_whatever_the_load(monkeypatch):
    """The suite runs beside other work, where the kernels would take fewer threads
    than a test asks for (``threads_for`` follows the machine's load): every test gets
    the threads it asks for; ``test_threads.py`` tests the load's part with the real
    ``idle_cpus``."""
    monkeypatch.setattr("fastem._engine.threads.idle_cpus", lambda: None)
