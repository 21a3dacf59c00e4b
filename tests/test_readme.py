"""The README's Python examples run as written, one after the other in one namespace
(as a reader would paste them), in a scratch directory."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    if not README.exists():  # the suite run from an installed wheel has no README
        pytest.skip("README.md is not beside the tests")
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), re.S | re.M)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_every_python_block_of_the_readme_runs(tmp_path, monkeypatch):
    pytest.importorskip("dask.array")
    pytest.importorskip("distributed")
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks()
    assert blocks  # the long examples live in the user guide (tests/test_docs.py)
    namespace = {}
    for number, block in enumerate(blocks):
        try:
            exec(compile(block, f"README block {number}", "exec"), namespace)
        except Exception as error:  # which block, with the block's own traceback
            raise AssertionError(f"README Python block {number} fails") from error
