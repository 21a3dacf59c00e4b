"""The classic 2-D example (scikit-learn's "density estimation for a Gaussian
mixture"): a spherical Gaussian centred at (20, 20) and a stretched one at the origin.

Fits a two-component full-covariance mixture, prints the parameters and draws the
data with each component's 1 and 2 standard-deviation ellipses beside the contours of
the mixture's log-density.

    python examples/plot_classic_2d.py [--n-samples 300] [--output classic_2d.png]
"""

import argparse

import numpy as np
from matplotlib.figure import Figure

from fastem import GaussianMixture
from fastem.plot import plot_components_2d


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=300, help="per component")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="classic_2d.png")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    shifted = rng.standard_normal((args.n_samples, 2)) + np.array([20.0, 20.0])
    stretch = np.array([[0.0, -0.7], [3.5, 0.7]])
    stretched = rng.standard_normal((args.n_samples, 2)) @ stretch
    X = np.vstack([shifted, stretched])

    model = GaussianMixture(2, random_state=args.seed).fit(X)
    print(f"converged: {model.converged_} after {model.n_iter_} iterations")
    for k in np.argsort(model.means_[:, 0]):
        print(f"  weight {model.weights_[k]:.3f}  mean {np.round(model.means_[k], 3)}")
        print(f"    covariance {np.round(model.covariances_[k], 3).tolist()}")
    print("  truth: means (0, 0) and (20, 20); covariances")
    print(f"    {np.round(stretch.T @ stretch, 3).tolist()} and the identity")

    figure = Figure(figsize=(11, 4.8))
    ellipses, contours = figure.subplots(1, 2)
    plot_components_2d(model, X, ax=ellipses).set_title("components (1 and 2 sd)")
    plot_components_2d(model, X, kind="contours", ax=contours).set_title(
        "log-density of the mixture"
    )
    figure.tight_layout()
    figure.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
