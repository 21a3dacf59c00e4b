"""
==========================================
Density estimation: drawing new digits
==========================================

scikit-learn's 1,797 handwritten digits are 8 x 8 images, points in 64 dimensions.
We project them on their leading principal components, fit Gaussian mixtures of
several sizes on a training split, keep the one with the lowest BIC, and measure on
held-out images what the mixture buys over a single Gaussian. A density can also be
sampled: we draw new digits from it and map them back to images.

As a script, with smaller sizes and the figure saved::

    python examples/gaussian/plot_digits_density.py --n-pca 8 --n-components 1 4 \\
        --output digits_sampled.png
"""

import argparse

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from fastem import GaussianMixture

parser = argparse.ArgumentParser(description="Density estimation of digits.")
parser.add_argument("--n-pca", type=int, default=20, help="principal components")
parser.add_argument(
    "--n-components", type=int, nargs="+", default=[2, 4, 6, 8, 10, 14, 20]
)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output", help="save the figure to this file")
args = parser.parse_args()

# %%
# Project the images
# ------------------
digits = load_digits()
train, test = train_test_split(digits.data, test_size=0.25, random_state=args.seed)
pca = PCA(n_components=args.n_pca, random_state=args.seed).fit(train)
Z_train, Z_test = pca.transform(train), pca.transform(test)

# %%
# Fit mixtures, choose by BIC, score held-out images
# --------------------------------------------------
# ``score`` is the mean log-likelihood per image: higher is better, and on images
# the model never saw it measures how well it generalises.
models = [
    GaussianMixture(k, n_init=2, random_state=args.seed).fit(Z_train)
    for k in args.n_components
]
bics = [model.bic(Z_train) for model in models]
best = models[int(np.argmin(bics))]
single = GaussianMixture(1).fit(Z_train)
for model, bic in zip(models, bics):
    print(
        f"{model.n_components:3d} components: BIC {bic:10.1f}, held-out "
        f"log-likelihood {model.score(Z_test):8.3f} per image"
    )
print(
    f"lowest BIC: {best.n_components} components; one Gaussian scores "
    f"{single.score(Z_test):.3f} per held-out image, the mixture "
    f"{best.score(Z_test):.3f}"
)

# %%
# Real digits and digits drawn from the mixture
# ---------------------------------------------
# ``sample`` draws points in the projected space; the PCA maps them back to images.
best.random_state = args.seed
drawn = pca.inverse_transform(best.sample(20)[0])
real = test[:20]
fig, axes = plt.subplots(
    2, 20, figsize=(10, 1.3), gridspec_kw={"wspace": 0.05, "hspace": 0.05}
)
fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.84)
for row, images in zip(axes, (real, drawn)):
    for ax, image in zip(row, images):
        ax.imshow(image.reshape(8, 8), cmap="binary", vmin=0, vmax=16)
        ax.set_axis_off()
fig.suptitle("real digits (top) and digits drawn from the mixture (bottom)")

if args.output:
    fig.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")
