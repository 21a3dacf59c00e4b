"""Regenerate tests/data/mclust_reference.json: R's mclust fits of iris and wine.

Needs R with mclust (Debian: ``apt-get install r-base-core r-cran-mclust``). Exports
scikit-learn's copies of the data sets (so both programs read the same numbers), runs
``mclust_reference.R`` on them and stores its rows with the versions used:

    python benchmarks/mclust_reference.py
"""

import csv
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from sklearn import datasets

HERE = Path(__file__).parent
OUTPUT = HERE.parent / "tests" / "data" / "mclust_reference.json"
DATASETS = {"iris": datasets.load_iris, "wine": datasets.load_wine}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        specs = []
        for name, load in DATASETS.items():
            path = Path(tmp) / f"{name}.csv"
            np.savetxt(path, load().data, delimiter=",", fmt="%.17g")
            specs.append(f"{name}={path}")
        table = Path(tmp) / "mclust.csv"
        run = subprocess.run(
            ["Rscript", str(HERE / "mclust_reference.R"), str(table), *specs],
            check=True,
            capture_output=True,
            text=True,
        )
        with open(table, newline="") as file:
            rows = list(csv.DictReader(file))
    models = [
        {
            "dataset": row["dataset"],
            "model": row["model"],
            "G": int(row["G"]),
            "npar": int(row["npar"]),
            **{
                f"{name}{suffix}": float(row[f"{name}{suffix}"])
                for name in ("loglik", "bic", "icl")
                for suffix in ("", "_at_parameters")
            },
            **{key: [float(v) for v in row[key].split()] for key in ("pro", "mean")},
            "sigma": [float(v) for v in row["sigma"].split()],
        }
        for row in rows
    ]
    # One model a line: a diff shows which models changed.
    header = json.dumps(run.stdout.strip())
    lines = ",\n".join(json.dumps(model) for model in models)
    OUTPUT.write_text(f'{{"generated_by": {header},\n"models": [\n{lines}\n]}}\n')
    print(f"{run.stdout.strip()} -> {OUTPUT}")


if __name__ == "__main__":
    main()
