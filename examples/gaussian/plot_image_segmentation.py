"""
==============================
Colour segmentation of a photo
==============================

Each pixel of scikit-learn's sample photograph ``china.jpg`` is a point in RGB
space. An 8-component Gaussian mixture fitted to a random subset of the pixels finds
the image's main colours; every pixel is then labelled with its most probable
component (``predict``) and painted in that component's mean colour.

The pixels are float32, as images usually are: fastem reads them as they are and
accumulates in float64.

As a script, on every 8th pixel, with the segmented image saved::

    python examples/gaussian/plot_image_segmentation.py --step 8 --n-fit 500 \\
        --output china_segmented.png
"""

import argparse
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_sample_image

from fastem import GaussianMixture

parser = argparse.ArgumentParser(description="Colour segmentation of a photo.")
parser.add_argument("--n-components", type=int, default=8)
parser.add_argument("--step", type=int, default=1, help="keep every step-th pixel")
parser.add_argument("--n-fit", type=int, default=20_000, help="pixels to fit on")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output", help="save the segmented image to this file")
args = parser.parse_args()

# %%
# The pixels
# ----------
china = load_sample_image("china.jpg")[:: args.step, :: args.step]
pixels = (china.reshape(-1, 3) / np.float32(255)).astype(np.float32)
rng = np.random.default_rng(args.seed)
fit_on = rng.choice(len(pixels), min(args.n_fit, len(pixels)), replace=False)

# %%
# Fit on a sample, label every pixel
# ----------------------------------
start = time.perf_counter()
model = GaussianMixture(args.n_components, random_state=args.seed)
model.fit(pixels[fit_on])
labels = model.predict(pixels)
elapsed = time.perf_counter() - start
print(
    f"{china.shape[1]} x {china.shape[0]} pixels, {args.n_components} components "
    f"fitted on {len(fit_on)} pixels and all labelled in {elapsed:.2f} s"
)
shares = np.bincount(labels, minlength=args.n_components) / len(labels)
for k in np.argsort(-shares):
    red, green, blue = np.round(255 * model.means_[k]).astype(int)
    print(f"  segment {k}: RGB ({red:3d}, {green:3d}, {blue:3d}), {shares[k]:6.1%}")

# %%
# The photograph and its segments
# -------------------------------
segmented = np.clip(model.means_[labels], 0.0, 1.0).reshape(china.shape)
fig, (original, painted) = plt.subplots(1, 2, figsize=(10, 3.9))
original.imshow(china)
original.set_title("china.jpg")
painted.imshow(segmented)
painted.set_title(f"{args.n_components} colours: each pixel's component's mean")
for ax in (original, painted):
    ax.set_axis_off()
fig.tight_layout()

if args.output:
    plt.imsave(args.output, segmented)
    print(f"wrote {args.output}")
