"""Segment a photograph by colour: scikit-learn's sample image 'china.jpg' with an
8-component Gaussian mixture on its RGB pixels.

The mixture is fitted on a random subset of the pixels (float32, as images usually
are; fastem accumulates in float64), then every pixel is labelled with its most
probable component and painted in that component's mean colour. Writes the segmented
image and prints each segment's colour and share of the picture.

    python examples/segment_china.py [--step 1] [--n-fit 20000] \
        [--output china_segmented.png]

``--step 4`` keeps every 4th row and column (a quick run).
"""

import argparse
import time

import numpy as np
from matplotlib.image import imsave
from sklearn.datasets import load_sample_image

from fastem import GaussianMixture


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-components", type=int, default=8)
    parser.add_argument("--step", type=int, default=1, help="keep every step-th pixel")
    parser.add_argument("--n-fit", type=int, default=20_000, help="pixels to fit on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="china_segmented.png")
    args = parser.parse_args(argv)

    china = load_sample_image("china.jpg")[:: args.step, :: args.step]
    pixels = (china.reshape(-1, 3) / np.float32(255)).astype(np.float32)
    rng = np.random.default_rng(args.seed)
    fit_on = rng.choice(len(pixels), min(args.n_fit, len(pixels)), replace=False)

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

    segmented = np.clip(model.means_[labels], 0.0, 1.0).reshape(china.shape)
    imsave(args.output, segmented)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
