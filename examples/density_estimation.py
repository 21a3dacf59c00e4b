"""Density estimation on real data: scikit-learn's handwritten digits (8 x 8 images).

Projects the 1797 images on their leading principal components, fits Gaussian
mixtures of several sizes on a training split, keeps the one with the lowest BIC,
reports the held-out log-likelihood against a single Gaussian (what the mixture
buys), and draws new digits from the mixture next to real ones.

    python examples/density_estimation.py [--n-pca 20] \
        [--n-components 2 4 8] [--output digits_sampled.png]
"""

import argparse

import numpy as np
from matplotlib.figure import Figure
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from fastem import GaussianMixture


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pca", type=int, default=20, help="principal components")
    parser.add_argument(
        "--n-components", type=int, nargs="+", default=[2, 4, 6, 8, 10, 14, 20]
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="digits_sampled.png")
    args = parser.parse_args(argv)

    digits = load_digits()
    train, test = train_test_split(digits.data, test_size=0.25, random_state=args.seed)
    pca = PCA(n_components=args.n_pca, random_state=args.seed).fit(train)
    Z_train, Z_test = pca.transform(train), pca.transform(test)

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

    best.random_state = args.seed
    drawn = pca.inverse_transform(best.sample(20)[0])
    real = test[:20]
    figure = Figure(figsize=(10, 2.4))
    axes = figure.subplots(2, 20, gridspec_kw={"wspace": 0.05, "hspace": 0.05})
    for row, images in zip(axes, (real, drawn)):
        for ax, image in zip(row, images):
            ax.imshow(image.reshape(8, 8), cmap="binary", vmin=0, vmax=16)
            ax.set_axis_off()
    figure.suptitle("real digits (top) and digits drawn from the mixture (bottom)")
    figure.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
