"""The command line: ``python -m fastem demo``, the README's main job."""

import re
import subprocess
import sys

import numpy as np
import pytest

from fastem._cli import main

MEAN_LINE = re.compile(r"mean\s+\[([^\]]*)\]\s+\(true \[([^\]]*)\]\)")


def test_demo_recovers_the_true_means(capsys):
    assert main(["demo"]) == 0
    output = capsys.readouterr().out
    pairs = [
        (np.array(got.split(), float), np.array(true.split(), float))
        for got, true in MEAN_LINE.findall(output)
    ]
    assert len(pairs) == 4  # two components in each of the two examples
    # 1-D: N(2, 4^2) + N(9, 2^2) overlap, 4000 points; 2-D: 150 points a component.
    for (got, true), tolerance in zip(pairs, (1.0, 1.0, 0.3, 0.3)):
        assert np.all(np.abs(got - true) < tolerance), (got, true)
    assert "fitted in" in output


def test_module_entry_point_runs_the_demo():
    result = subprocess.run(
        [sys.executable, "-m", "fastem", "demo"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "2-D: unit-covariance Gaussians" in result.stdout


def test_unknown_command_exits_2():
    with pytest.raises(SystemExit) as exit_info:
        main(["bogus"])
    assert exit_info.value.code == 2
