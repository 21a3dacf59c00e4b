"""
============================================
The classic 1-D mixture: N(2, 4²) + N(9, 2²)
============================================

Half the numbers are drawn from a normal distribution of mean 2 and standard
deviation 4, half from one of mean 9 and standard deviation 2. The two overlap, so
the histogram shows one lopsided hump, not two. We fit mixtures of 1 to 5 components,
let BIC choose among them, and compare what was recovered with the truth.

As a script, with smaller sizes and the figure saved::

    python examples/gaussian/plot_classic_1d.py --n-samples 300 --output classic_1d.png
"""

import argparse

import matplotlib.pyplot as plt
import numpy as np

from fastem import GaussianMixture
from fastem.plot import plot_criterion, plot_density_1d, plot_lower_bound

parser = argparse.ArgumentParser(description="The classic 1-D mixture.")
parser.add_argument("--n-samples", type=int, default=2000, help="per component")
parser.add_argument("--max-components", type=int, default=5)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output", help="save the figure to this file")
args = parser.parse_args()

# %%
# The data
# --------
rng = np.random.default_rng(args.seed)
X = np.concatenate(
    [rng.normal(2.0, 4.0, args.n_samples), rng.normal(9.0, 2.0, args.n_samples)]
)[:, np.newaxis]  # one feature: a column

# %%
# Fit mixtures of 1 to 5 components
# ---------------------------------
# Overlapping components converge slowly, and the default ``tol`` would stop EM a
# little short of the maximum: a small ``tol`` gives the maximum likelihood
# estimate itself.
models = [
    GaussianMixture(k, tol=1e-8, max_iter=5000, random_state=args.seed).fit(X)
    for k in range(1, args.max_components + 1)
]
best = min(models, key=lambda model: model.bic(X))
print(f"lowest BIC with {best.n_components} components")
for k in np.argsort(best.means_[:, 0]):
    print(
        f"  weight {best.weights_[k]:.3f}  mean {best.means_[k, 0]:6.3f}  "
        f"sd {np.sqrt(best.covariances_[k, 0, 0]):.3f}"
    )
print("  truth: weights 0.5, 0.5; means 2, 9; sd 4, 2")

# %%
# The fitted density, EM's progress and the criteria
# --------------------------------------------------
# Top: the histogram, each weighted component and their sum, the mixture density.
# Bottom left: the lower bound (mean log-likelihood) at each EM iteration of the
# chosen model, which never decreases. Bottom right: BIC and AIC against the number
# of components; BIC is lowest at two.
fig, panels = plt.subplot_mosaic(
    [["density", "density"], ["lower_bound", "criterion"]], figsize=(9, 7.5)
)
density, lower_bound, criterion = (panels[name] for name in panels)
plot_density_1d(best, X, ax=density).set_title("data, components and mixture")
plot_lower_bound(best, ax=lower_bound)
plot_criterion(models, X, criterion=("bic", "aic"), ax=criterion)
fig.tight_layout()

if args.output:
    fig.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")
