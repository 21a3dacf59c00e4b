"""
=============================================
Clustering binary images: a Bernoulli mixture
=============================================

scikit-learn's handwritten digits, each pixel thresholded to ink or no ink: rows of
64 binary features. A :class:`~fastem.mixture.BernoulliMixture` with 10 components
gives each cluster its own probability of ink at every pixel. We measure how well
the clusters match the digits (which the model never saw), fit again with a fifth
of the pixels hidden (NaN: a hidden pixel drops out of its image's likelihood, no
guessing needed), and draw each cluster's probabilities as an image.

As a script, with one start and the figure saved::

    python examples/discrete/plot_binary_digits.py --n-init 1 \\
        --output digits_bernoulli.png
"""

import argparse

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score

from fastem import BernoulliMixture

parser = argparse.ArgumentParser(description="A Bernoulli mixture of digits.")
parser.add_argument("--n-components", type=int, default=10)
parser.add_argument("--n-init", type=int, default=3)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output", help="save the figure to this file")
args = parser.parse_args()

# %%
# Fit and compare the clusters with the digits
# --------------------------------------------
# The adjusted Rand index is 1 for clusters that are exactly the digits, and 0 for
# clusters no better than chance.
digits = load_digits()
X = (digits.data > 7).astype(float)  # ink or no ink
model = BernoulliMixture(
    args.n_components, n_init=args.n_init, random_state=args.seed
).fit(X)
labels = model.predict(X)
print(
    f"{args.n_components} components, converged: {model.converged_} after "
    f"{model.n_iter_} iterations; adjusted Rand index with the digits "
    f"{adjusted_rand_score(digits.target, labels):.3f}"
)
for k in np.argsort(-model.weights_):
    shown = np.bincount(digits.target[labels == k], minlength=10)
    print(
        f"  cluster {k}: weight {model.weights_[k]:.3f}, mostly digit "
        f"{np.argmax(shown)} ({shown.max()} of {shown.sum()} images)"
    )

# %%
# A fifth of the pixels hidden
# ----------------------------
# Features are independent given the component, so a missing pixel simply drops out
# of its image's likelihood. ``impute`` then gives each hidden pixel its
# probability of ink given the rest of the image.
rng = np.random.default_rng(args.seed)
hidden = X.copy()
hidden[rng.random(X.shape) < 0.2] = np.nan
holes = BernoulliMixture(
    args.n_components, n_init=args.n_init, random_state=args.seed
).fit(hidden)
is_hidden = np.isnan(hidden)
right = np.mean(np.round(holes.impute(hidden)[is_hidden]) == X[is_hidden])
print(
    "a fifth of the pixels hidden: adjusted Rand index "
    f"{adjusted_rand_score(digits.target, holes.predict(hidden)):.3f}; the "
    f"hidden pixels imputed right {right:.1%} of the time"
)

# %%
# Each cluster's probability of ink
# ---------------------------------
# ``feature_log_prob_`` holds log P(pixel j inked | cluster k): as images, the
# clusters' average digits, heaviest cluster first.
fig, axes = plt.subplots(1, args.n_components, figsize=(args.n_components, 1.9))
for ax, k in zip(np.atleast_1d(axes), np.argsort(-model.weights_)):
    ax.imshow(np.exp(model.feature_log_prob_[k]).reshape(8, 8), cmap="binary")
    ax.set_title(f"{model.weights_[k]:.2f}", fontsize=9)
    ax.set_axis_off()
fig.suptitle("each cluster's probability of ink per pixel (and its weight)")

if args.output:
    fig.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")
