"""
=========================================================
Imputing the Palmer penguins: fastem against scikit-learn
=========================================================

The Palmer penguins (the ``palmerpenguins`` package ships them) are 344 penguins of
three species, measured four ways: bill length and depth, flipper length and body
mass. Two penguins were never measured, and real tables have more holes than that.
To score imputers, we hide a quarter of the measured values at random, fill them
in, and compare with the truth (in standard deviations, after standardising each
column):

- the column mean (:class:`~sklearn.impute.SimpleImputer`), the baseline;
- the mean of the 5 nearest penguins (:class:`~sklearn.impute.KNNImputer`);
- a chain of regressions of each column on the others
  (:class:`~sklearn.impute.IterativeImputer`);
- :class:`~fastem.mixture.GaussianMixtureImputer` with one component (one
  Gaussian: a linear regression on whatever was observed in the row) and with
  three: the conditional expectation under a mixture, which regresses differently
  for each kind of penguin, without being told the species.

As a script, with fewer repeats and the figure saved::

    python examples/missing/plot_impute_penguins.py --repeats 1 --output penguins.png
"""

import argparse
import warnings

import matplotlib.pyplot as plt
import numpy as np
from palmerpenguins import load_penguins
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.preprocessing import StandardScaler

from fastem import GaussianMixtureImputer

parser = argparse.ArgumentParser(description="Imputing the Palmer penguins.")
parser.add_argument("--hidden", type=float, default=0.25, help="share of values hidden")
parser.add_argument("--repeats", type=int, default=5, help="random holes, each time")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output", help="save the figure to this file")
args = parser.parse_args()

# %%
# The data, and its own missing values
# ------------------------------------
penguins = load_penguins()
columns = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
X = penguins[columns].to_numpy(dtype=float)
never_measured = np.isnan(X).all(axis=1)
print(f"{len(X)} penguins, {int(never_measured.sum())} never measured (left out)")
X = StandardScaler().fit_transform(X[~never_measured])
species = penguins["species"][~never_measured].to_numpy()

# %%
# Hide values, fill them in, measure the error
# --------------------------------------------
# Each repeat hides a fresh random quarter of the values (keeping at least one
# value in every row) and asks every imputer to fill them in.
imputers = {
    "column mean": lambda: SimpleImputer(),
    "KNNImputer": lambda: KNNImputer(n_neighbors=5),
    "IterativeImputer": lambda: IterativeImputer(max_iter=30, random_state=0),
    "fastem, 1 component": lambda: GaussianMixtureImputer(1, random_state=0),
    "fastem, 3 components": lambda: GaussianMixtureImputer(3, n_init=3, random_state=0),
}
rng = np.random.default_rng(args.seed)
errors = {name: [] for name in imputers}
for repeat in range(args.repeats):
    hide = rng.random(X.shape) < args.hidden
    hide[hide.all(axis=1), 0] = False
    holes = np.where(hide, np.nan, X)
    for name, make in imputers.items():
        with warnings.catch_warnings():  # IterativeImputer may stop early
            warnings.simplefilter("ignore")
            filled = make().fit_transform(holes)
        errors[name].append(np.sqrt(np.mean((filled[hide] - X[hide]) ** 2)))
    if repeat == 0:
        first_holes, first_hide = holes, hide

for name, values in errors.items():
    print(f"{name:>22}: RMSE {np.mean(values):.3f} (sd {np.std(values):.3f})")

# %%
# The errors, and what the mixture filled in
# ------------------------------------------
# Top: the root-mean-square error of each imputer, lower is better. Bottom: bill
# length against bill depth, and for the penguins of the first repeat whose bill
# depth was hidden, the truth (circles) and the two best imputers' guesses.
# One regression line across all penguins cannot follow the three species'
# different shapes; the mixture's components can.
mixture = GaussianMixtureImputer(3, n_init=3, random_state=0).fit(first_holes)
iterative = IterativeImputer(max_iter=30, random_state=0).fit(first_holes)
rows = first_hide[:, 1] & ~first_hide[:, 0]
fig, (bars, scatter) = plt.subplots(
    2, 1, figsize=(9, 8.5), gridspec_kw={"height_ratios": [2, 3]}
)
names = list(errors)
bars.barh(
    names,
    [np.mean(errors[name]) for name in names],
    xerr=[np.std(errors[name]) for name in names],
    color=["#bbb", "#bbb", "#bbb", "#8ab", "#37a"],
)
bars.invert_yaxis()
bars.set_xlabel("RMSE of the hidden values (standard deviations)")
for kind in np.unique(species):
    mine = species == kind
    scatter.scatter(X[mine, 0], X[mine, 1], s=8, alpha=0.3, label=kind)
scatter.scatter(
    X[rows, 0],
    X[rows, 1],
    s=40,
    facecolors="none",
    edgecolors="#555",
    label="the hidden truth",
)
scatter.scatter(
    X[rows, 0],
    iterative.transform(first_holes)[rows, 1],
    marker="x",
    color="k",
    label="IterativeImputer's guess",
)
scatter.scatter(
    X[rows, 0],
    mixture.transform(first_holes)[rows, 1],
    marker="+",
    s=60,
    color="#c22",
    label="fastem's guess (3 components)",
)
scatter.set_xlabel("bill length (standardised)")
scatter.set_ylabel("bill depth (standardised)")
scatter.legend(fontsize=8)
fig.tight_layout()

if args.output:
    fig.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")
