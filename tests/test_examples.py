"""Every script of the gallery (examples/, one folder per section) runs as a
command-line script with small sizes, in a temporary directory, prints what it found
and saves its figure."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
if not EXAMPLES.is_dir():  # tests run from an installed package, without the sources
    pytest.skip("no examples/ directory beside the tests", allow_module_level=True)

# Script, small-size arguments, the picture it saves, a line its output must have.
RUNS = [
    ("gaussian/plot_classic_1d.py", ["--n-samples", "300", "--max-components", "3"],
     "classic_1d.png", "lowest BIC with 2 components"),
    ("gaussian/plot_classic_2d.py", ["--n-samples", "100"], "classic_2d.png",
     "converged: True"),
    ("gaussian/plot_em_steps.py", ["--n-samples", "100", "--n-iter", "12"],
     "em_steps.png", "never decreased: True"),
    ("gaussian/plot_select_components.py",
     ["--n-samples", "100", "--max-components", "5"], "select_components.png",
     "chosen: {'n_components': 4, 'covariance_type': 'full'"),
    ("gaussian/plot_image_segmentation.py", ["--step", "8", "--n-fit", "500"],
     "china_segmented.png", "80 x 54 pixels, 8 components"),
    ("gaussian/plot_digits_density.py", ["--n-pca", "8", "--n-components", "1", "4"],
     "digits_sampled.png", "lowest BIC: 4 components"),
    ("missing/plot_impute_penguins.py", ["--repeats", "1"], "penguins.png",
     "fastem, 3 components: RMSE"),
    ("discrete/plot_binary_digits.py", ["--n-init", "1"], "digits_bernoulli.png",
     "converged: True"),
    ("discrete/plot_reuters_clusters.py", [], "reuters.png", "pope, vatican"),
    ("large_data/plot_out_of_core.py", ["--n-samples", "20000"], "out_of_core.png",
     "same EM: 3 and 3 iterations"),
    ("hmm/plot_seattle_weather.py", ["--n-states", "3"], "seattle_weather.png",
     "3 states on 4 years (1461 days), converged: True"),
]  # fmt: skip
NEEDS = {  # the packages (test dependencies) that ship an example's data
    "missing/plot_impute_penguins.py": "palmerpenguins",
    "discrete/plot_reuters_clusters.py": "lda.datasets",
    "hmm/plot_seattle_weather.py": "vega_datasets",
}


def test_every_example_is_tested():
    scripts = {path.relative_to(EXAMPLES).as_posix() for path in EXAMPLES.rglob("*.py")}
    assert scripts == {run[0] for run in RUNS}


def test_every_gallery_section_has_a_header():
    """sphinx-gallery needs a README.txt in the gallery and in each section."""
    for folder in [EXAMPLES, *{path.parent for path in EXAMPLES.rglob("*.py")}]:
        assert (folder / "README.txt").is_file(), folder


@pytest.mark.parametrize("script, args, picture, expected", RUNS)
def test_example_runs_and_writes_its_picture(script, args, picture, expected, tmp_path):
    if script in NEEDS:
        pytest.importorskip(NEEDS[script])
    result = subprocess.run(
        [sys.executable, EXAMPLES / script, *args, "--output", picture],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    assert f"wrote {picture}" in result.stdout
    data = (tmp_path / picture).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
