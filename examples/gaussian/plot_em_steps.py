"""
==================================
EM, watched iteration by iteration
==================================

EM alternates two steps: the E-step gives every point its probability of belonging
to each component (the responsibilities), the M-step moves each component to the
weighted mean and covariance of its points. Here we start three components from a
deliberately bad place, all huddled in one corner, and stop EM after every
iteration (``warm_start=True, max_iter=1``) to draw where the components are and to
record the lower bound, the mean log-likelihood that EM never lowers.

As a script, with fewer iterations and the figure saved::

    python examples/gaussian/plot_em_steps.py --n-samples 100 --n-iter 12 \\
        --output em_steps.png
"""

import argparse
import copy
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastem import GaussianMixture
from fastem.plot import plot_components_2d

parser = argparse.ArgumentParser(description="EM, iteration by iteration.")
parser.add_argument("--n-samples", type=int, default=300, help="per cluster")
parser.add_argument("--n-iter", type=int, default=40, help="EM iterations")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output", help="save the figure to this file")
args = parser.parse_args()

# %%
# Three clusters, and a bad start
# -------------------------------
rng = np.random.default_rng(args.seed)
centres = np.array([[0.0, 0.0], [6.0, 1.0], [3.0, 6.0]])
X = np.concatenate([rng.normal(c, 1.0, (args.n_samples, 2)) for c in centres])
bad_start = [[-2.0, 7.0], [-1.0, 6.5], [0.0, 7.5]]

# %%
# One EM iteration at a time
# --------------------------
# ``max_iter=0`` only initialises (the components' covariances are estimated from
# the starting means); then each ``fit`` with ``warm_start=True`` and
# ``max_iter=1`` runs one more iteration from where the last stopped. Each such
# fit "did not converge", which is expected here, so that warning is silenced.
model = GaussianMixture(3, max_iter=0, means_init=bad_start, random_state=args.seed)
snapshots, lower_bounds = {}, []
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(X)
    snapshots[0] = copy.deepcopy(model)
    model.set_params(warm_start=True, max_iter=1)
    for iteration in range(1, args.n_iter + 1):
        model.fit(X)
        lower_bounds.append(model.lower_bound_)
        snapshots[iteration] = copy.deepcopy(model)

print(f"lower bound after iteration 1: {lower_bounds[0]:.4f}")
print(f"lower bound after iteration {args.n_iter}: {lower_bounds[-1]:.4f}")
print(f"never decreased: {bool(np.all(np.diff(lower_bounds) >= -1e-12))}")
print("means found:", np.round(model.means_[np.argsort(model.means_[:, 0])], 2))

# %%
# The components moving
# ---------------------
# The first iterations make the big moves: the components spread out from the
# corner and each claims a cluster. Later ones only adjust the shapes.
shown = [i for i in (0, 1, 2, 3, 5, 8, 13, 21, 34) if i <= args.n_iter][:7]
shown.append(args.n_iter)
fig, axes = plt.subplots(2, 4, figsize=(10, 5.2), sharex=True, sharey=True)
for ax, iteration in zip(axes.ravel(), shown):
    plot_components_2d(snapshots[iteration], X, ax=ax)
    plural = "" if iteration == 1 else "s"
    ax.set_title(f"after {iteration} iteration{plural}" if iteration else "start")
    ax.label_outer()  # axis labels on the outer panels only
fig.tight_layout()

# %%
# The lower bound
# ---------------
# The mean log-likelihood after each iteration: it rises steeply, then flattens
# as EM nears a maximum. ``lower_bounds_`` of a fitted model holds the same
# history for one whole fit, and :func:`fastem.plot.plot_lower_bound` draws it.
fig_bound, ax = plt.subplots(figsize=(6, 3.6))
ax.plot(range(1, args.n_iter + 1), lower_bounds, marker="o", markersize=3)
ax.set_xlabel("EM iteration")
ax.set_ylabel("lower bound (mean log-likelihood)")
fig_bound.tight_layout()

if args.output:
    fig.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")
