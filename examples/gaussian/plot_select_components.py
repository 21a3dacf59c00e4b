r"""
===============================================
Choosing the number of components with BIC
===============================================

More components always fit the training data better, so the likelihood alone
cannot choose how many to use. BIC (:math:`-2 \log L + p \log n`) charges each
model for its :math:`p` parameters. We draw data from four Gaussians of different
shapes, let :func:`fastem.select` fit 1 to 8 components with each covariance type,
and plot the BIC curves: the lowest point picks both the number of components and
the shape.

As a script, with smaller sizes and the figure saved::

    python examples/gaussian/plot_select_components.py --n-samples 100 \\
        --max-components 5 --output select_components.png
"""

import argparse

import matplotlib.pyplot as plt
import numpy as np

import fastem
from fastem.plot import plot_components_2d, plot_criterion

parser = argparse.ArgumentParser(description="Choosing K with BIC.")
parser.add_argument("--n-samples", type=int, default=400, help="per component")
parser.add_argument("--max-components", type=int, default=8)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output", help="save the figure to this file")
args = parser.parse_args()

# %%
# Four clusters of different shapes
# ---------------------------------
rng = np.random.default_rng(args.seed)
shapes = [
    ([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]]),
    ([7.0, 0.0], [[3.0, 1.8], [1.8, 1.5]]),
    ([0.0, 8.0], [[0.3, 0.0], [0.0, 3.0]]),
    ([8.0, 8.0], [[2.0, -1.2], [-1.2, 1.2]]),
]
X = np.concatenate(
    [rng.multivariate_normal(mean, cov, args.n_samples) for mean, cov in shapes]
)

# %%
# Fit the grid
# ------------
# Every number of components times every covariance type, each from a k-means
# start and from the previous K's solution with one component split in two.
result = fastem.select(
    X, n_components=range(1, args.max_components + 1), random_state=args.seed
)
print("chosen:", result.best_params_)
table = result.table
for covariance_type in ("full", "tied", "diag", "spherical"):
    rows = table[table["covariance_type"] == covariance_type]
    best_row = rows.loc[rows["bic"].idxmin()]
    print(
        f"  {covariance_type:>9}: lowest BIC {best_row['bic']:9.1f} at "
        f"{best_row['n_components']} components"
    )

# %%
# The BIC curves and the chosen model
# -----------------------------------
# Left: BIC against the number of components, one line per covariance type. The
# simpler types need more components to follow the tilted clusters, and still do
# worse than four full ones. Right: the chosen model.
fig, (curves, chosen) = plt.subplots(1, 2, figsize=(10, 4.4))
plot_criterion(result, criterion="bic", ax=curves)
plot_components_2d(result.best_estimator_, X, ax=chosen)
best = result.best_params_
chosen.set_title(
    f"chosen: {best['n_components']} components, {best['covariance_type']}"
)
fig.tight_layout()

if args.output:
    fig.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")
