"""
=================================
The classic 2-D two-component fit
=================================

scikit-learn's "density estimation for a Gaussian mixture": a spherical Gaussian
centred at (20, 20) and a stretched one at the origin. We fit a two-component,
full-covariance mixture and draw each component's 1 and 2 standard-deviation
ellipses beside the contours of the mixture's log-density.

As a script, with smaller sizes and the figure saved::

    python examples/gaussian/plot_classic_2d.py --n-samples 100 --output classic_2d.png
"""

import argparse

import matplotlib.pyplot as plt
import numpy as np

from fastem import GaussianMixture
from fastem.plot import plot_components_2d

parser = argparse.ArgumentParser(description="The classic 2-D example.")
parser.add_argument("--n-samples", type=int, default=300, help="per component")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output", help="save the figure to this file")
args = parser.parse_args()

# %%
# The data: a round cloud and a stretched one
# -------------------------------------------
rng = np.random.default_rng(args.seed)
shifted = rng.standard_normal((args.n_samples, 2)) + np.array([20.0, 20.0])
stretch = np.array([[0.0, -0.7], [3.5, 0.7]])
stretched = rng.standard_normal((args.n_samples, 2)) @ stretch
X = np.vstack([shifted, stretched])

# %%
# The fit, against the truth
# --------------------------
model = GaussianMixture(2, random_state=args.seed).fit(X)
print(f"converged: {model.converged_} after {model.n_iter_} iterations")
for k in np.argsort(model.means_[:, 0]):
    print(f"  weight {model.weights_[k]:.3f}  mean {np.round(model.means_[k], 3)}")
    print(f"    covariance {np.round(model.covariances_[k], 3).tolist()}")
print("  truth: means (0, 0) and (20, 20); covariances")
print(f"    {np.round(stretch.T @ stretch, 3).tolist()} and the identity")

# %%
# Components and contours
# -----------------------
# Left: each point coloured by its most probable component (``predict``), with the
# components' ellipses. Right: the contours of the log-density
# (``score_samples``) of the whole mixture.
fig, (ellipses, contours) = plt.subplots(1, 2, figsize=(9.5, 4.2))
plot_components_2d(model, X, ax=ellipses).set_title("components (1 and 2 sd)")
plot_components_2d(model, X, kind="contours", ax=contours).set_title(
    "log-density of the mixture"
)
fig.tight_layout()

if args.output:
    fig.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")
